"""The project's exception tree.

User-facing errors carry a catalog msgid (English) and its placeholders; the chat
layer translates them for the user. Internal errors are logged, never shown.
"""

from __future__ import annotations

from typing import Any


class HelpdeskError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigurationError(HelpdeskError):
    """Settings or an institution profile are wrong; raised at start-up."""


class ProfileError(ConfigurationError):
    """An institution profile file has a bad or missing field."""

    def __init__(self, path: str, field: str, message: str) -> None:
        super().__init__(f"{path}: field '{field}': {message}")
        self.path = path
        self.field = field


class UserFacingError(HelpdeskError):
    """An error whose explanation the user should read, in their language."""

    def __init__(self, msgid: str, **params: Any) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.params = params


class ImportRowError(HelpdeskError):
    """One row of a directory import is invalid."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class ServiceUnavailable(HelpdeskError):
    """A backing service (database, mail server) cannot be reached right now."""
