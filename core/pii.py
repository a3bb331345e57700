"""Keyed hashes for personal data kept only for lookup.

ID numbers and birthdays are never stored in clear (DESIGN.md, security rules): the
directory keeps an HMAC-SHA256 under a server secret, so a stolen database alone
does not reveal them, and a lookup hashes the user's answer the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac


class PiiHasher:
    """HMAC-SHA256 under the server's secret, with a label per kind of value."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the personal-data key must be at least 16 bytes")
        self._key = key

    def _digest(self, label: str, value: str) -> str:
        return hmac.new(self._key, f"{label}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def id_number(self, normalised: str) -> str:
        return self._digest("id_number", normalised.upper())

    def birthday(self, day: dt.date) -> str:
        return self._digest("birthday", day.isoformat())

    def chat_user(self, channel: str, platform_user_id: str) -> str:
        """A stable pseudonym for a chat user, for audit rows and logs."""
        return self._digest("chat_user", f"{channel}:{platform_user_id}")[:32]

    def subject(self, label: str, value: str) -> str:
        """A keyed pseudonym of an account name or address (case ignored), for counters."""
        return self._digest(label, value.strip().casefold())[:32]
