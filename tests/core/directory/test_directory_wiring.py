"""The profile chooses the backend: SQL in the step's session, LDAP shared."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import FakeClock
from core.db import create_engine, session_factory
from core.directory.ad import AdDirectory
from core.directory.ldap import LdapDirectory
from core.directory.sql import SqlDirectory
from core.directory.wiring import Directories
from core.passwords import PasswordHasher
from core.pii import PiiHasher
from core.profiles import Profile, load_profile, load_profile_file
from core.resources import profiles_dir
from core.settings import Settings


def _directories(profile: Profile, tmp_path: Path) -> Directories:
    settings = Settings(home=tmp_path, secret_key="x" * 32, directory_bind_password="s3cret")
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    return Directories(
        profile,
        settings,
        pii=PiiHasher(b"0" * 32),
        hasher=PasswordHasher(2, 19456, 1),
        clock=FakeClock(),
        sessions=session_factory(engine),
    )


def test_the_demo_profile_gets_the_sql_directory_in_the_given_session(tmp_path: Path) -> None:
    directories = _directories(load_profile("demo"), tmp_path)
    session = AsyncSession()
    assert isinstance(directories(session), SqlDirectory)
    assert directories.remote is None


def test_ldap_and_ad_profiles_share_one_remote_directory(tmp_path: Path) -> None:
    for name, kind in (("ldap", LdapDirectory), ("ad", AdDirectory)):
        profile = load_profile_file(profiles_dir() / "examples" / f"{name}.toml")
        directories = _directories(profile, tmp_path)
        first, second = directories(AsyncSession()), directories(AsyncSession())
        # Each step has its view (its student-ID lookups read in its session), all over
        # the one remote directory's servers and connection pool.
        assert type(first) is kind and type(second) is kind
        remote = directories.remote
        assert remote is not None
        assert first._pool is second._pool is remote._pool
        assert first._preferred is second._preferred is remote._preferred
