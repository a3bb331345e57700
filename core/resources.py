"""Locate data shipped with the project: catalogs, migrations, profiles.

In a source checkout (and an editable install) they sit beside the packages at the
repository root; a built wheel carries them under ``core/_data``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the directory ``name`` (``locales`` or ``migrations``)."""
    for candidate in (_PACKAGE_DIR.parent / name, _PACKAGE_DIR / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the '{name}' directory of the project")


def profiles_dir() -> Path:
    return _PACKAGE_DIR / "profiles"
