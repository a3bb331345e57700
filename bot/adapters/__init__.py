"""Adapters: each translates one platform's events into ``Incoming`` and back."""
