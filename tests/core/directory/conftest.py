"""One port, two backends: the same tests run on the bot's tables and on a real slapd."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from core.clock import FakeClock
from core.db import create_engine, session_factory
from core.demo_data import DEMO_PEOPLE
from core.directory import Directory
from core.directory.ldap import LdapDirectory
from core.directory.sql import SqlDirectory
from core.directory_import import DirectoryKeys, ImportRow, add_person
from core.idnumbers import parse_id_number
from core.passwords import PasswordHasher
from core.pii import PiiHasher
from core.profiles import Profile, load_profile
from tests.conftest import TEST_SECRET
from tests.ldap_server import (
    DEMO_PASSWORD,
    SERVICE_PASSWORD,
    SPARE_ACCOUNTS,
    SlapdServer,
    ldap_profile,
    own_slapd,
    slapd_server,
)

__all__ = ["own_slapd", "slapd_server"]

# The last spare lives under the minimum-age policy; each test takes a fresh one of the rest.
_spares = iter(range(SPARE_ACCOUNTS - 1))


def pointed_at(profile: Profile, *uris: str) -> Profile:
    """The LDAP example profile aimed at these servers, in plain LDAP on loopback."""
    directory = profile.directory.model_copy(
        update={"uris": list(uris), "start_tls": False, "ca_file": None, "timeout_seconds": 2}
    )
    return profile.model_copy(update={"directory": directory})


def writing(profile: Profile, new_entry: dict[str, object], mode: str = "write") -> Profile:
    """``profile`` approving alumni applications into the directory: ``mode`` "write"
    adds ``new_entry`` (a ``[directory.new_entry]`` template), "queue" leaves it to staff."""
    directory = profile.directory.model_validate(
        profile.directory.model_dump() | {"applications": mode, "new_entry": new_entry}
    )
    return profile.model_copy(update={"directory": directory})


def ldap_directory(pii: PiiHasher, *uris: str, profile: Profile | None = None) -> LdapDirectory:
    """``profile`` (the LDAP example's by default) on these servers, bound as the help
    desk's service account."""
    return LdapDirectory(
        pointed_at(profile or ldap_profile(), *uris), pii=pii, bind_password=SERVICE_PASSWORD
    )


@dataclass
class Backend:
    """A directory under test and an account in it nobody else changes."""

    name: str
    directory: Directory
    account: str  # an account name whose password is DEMO_PASSWORD
    id_number: str  # its owner's national ID number
    mailbox: str  # a mailbox address of the same kind
    pii: PiiHasher


@pytest.fixture
def pii() -> PiiHasher:
    return PiiHasher(TEST_SECRET.encode())


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(2, 19456, 1)


@pytest.fixture
async def sql_backend(
    database_url: str, pii: PiiHasher, hasher: PasswordHasher
) -> AsyncIterator[Backend]:
    profile = load_profile("demo")
    clock = FakeClock()
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            lin = DEMO_PEOPLE[0]  # 林明志: student 211303001, her campus mailbox
            row = ImportRow(
                line=0,
                id_number=parse_id_number(lin.id_number),
                birthday=lin.birthday,
                name_zh=lin.name_zh,
                name_en=lin.name_en,
                role=lin.role,
                email=lin.email,
                student_id=lin.student_id,
                degree_level=lin.degree_level,
                department="資訊工程學系",
                entry_year=2024,
                status=lin.status,
            )
            add_person(
                session,
                row,
                DirectoryKeys(),
                profile=profile,
                pii=pii,
                password_hash=hasher.hash_sync(DEMO_PASSWORD),
                now=clock.now(),
            )
            await session.commit()
            directory = SqlDirectory(session, profile=profile, hasher=hasher, clock=clock)
            yield Backend(
                "sql", directory, "211303001", "A128573490", "a211303001@grad.demo.edu.tw", pii
            )
    finally:
        await engine.dispose()


@pytest.fixture
async def ldap_backend(slapd_server: SlapdServer, pii: PiiHasher) -> AsyncIterator[Backend]:
    spare = slapd_server.spare(next(_spares))
    directory = ldap_directory(pii, slapd_server.uri)
    yield Backend("ldap", directory, spare.uid, spare.id_number, spare.mail or "", pii)
    await directory.close()


@pytest.fixture(params=["sql", "ldap"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")  # type: ignore[no-any-return]
