"""The LDAP backend against a real slapd: binds, ppolicy answers, failover, outages."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from pathlib import Path

import pytest

from core.directory import (
    AccountExists,
    AccountLocked,
    DirectoryAccount,
    DirectoryUnavailable,
    PasswordRefused,
    Refusal,
)
from core.directory.ldap import PPOLICY_ERRORS, LdapDirectory, ppolicy_error
from core.password_policy import Violation
from core.pii import PiiHasher
from tests.core.directory.conftest import Backend, ldap_directory, pointed_at, writing
from tests.ldap_server import (
    DEMO_PASSWORD,
    SERVICE_PASSWORD,
    SPARE_ACCOUNTS,
    SlapdServer,
    SlowProxy,
    alumni_entry,
    free_port,
    ldap_profile,
    write_certificates,
)

NEW = "Cobalt-Harbour-71!"


async def _account(backend: Backend) -> DirectoryAccount:
    found = await backend.directory.find_target(backend.account, id_number_hash=None)
    assert found is not None
    return found


async def test_a_reset_binds_with_the_new_password_and_not_the_old(
    ldap_backend: Backend, slapd_server: SlapdServer
) -> None:
    account = await _account(ldap_backend)
    await ldap_backend.directory.reset_password(account, NEW)
    assert slapd_server.binds(account.ref, NEW)
    assert not slapd_server.binds(account.ref, DEMO_PASSWORD)
    # A password the user chose through the link is not one the directory makes them change.
    assert not (await ldap_backend.directory.password_state(account)).must_change


async def test_a_change_binds_as_the_user_and_the_new_password_works(
    ldap_backend: Backend, slapd_server: SlapdServer
) -> None:
    account = await _account(ldap_backend)
    await ldap_backend.directory.change_password(account, DEMO_PASSWORD, NEW)
    assert slapd_server.binds(account.ref, NEW)
    assert not slapd_server.binds(account.ref, DEMO_PASSWORD)


async def test_a_too_short_password_is_the_pages_too_short(ldap_backend: Backend) -> None:
    account = await _account(ldap_backend)
    with pytest.raises(PasswordRefused) as refused:
        await ldap_backend.directory.change_password(account, DEMO_PASSWORD, "Ab1!")
    assert refused.value.refusal is Refusal.TOO_SHORT
    assert refused.value.violation is Violation.TOO_SHORT
    assert refused.value.params == {"min": 8}


async def test_a_reset_to_a_recent_password_is_refused_by_the_history(
    ldap_backend: Backend, slapd_server: SlapdServer
) -> None:
    account = await _account(ldap_backend)
    await ldap_backend.directory.reset_password(account, NEW)
    with pytest.raises(PasswordRefused) as refused:
        await ldap_backend.directory.reset_password(account, DEMO_PASSWORD)
    assert refused.value.refusal is Refusal.IN_HISTORY
    assert slapd_server.binds(account.ref, NEW)


async def test_a_change_too_soon_is_refused_as_too_young(
    slapd_server: SlapdServer, pii: PiiHasher
) -> None:
    young = slapd_server.spare(SPARE_ACCOUNTS - 1)  # under the policy with pwdMinAge 3600
    directory = ldap_directory(pii, slapd_server.uri)
    try:
        account = await directory.find_target(young.uid, id_number_hash=None)
        assert account is not None
        slapd_server.as_root(young.dn, {"pwdChangedTime": [("MODIFY_REPLACE", [_now_ldap()])]})
        with pytest.raises(PasswordRefused) as refused:
            await directory.change_password(account, DEMO_PASSWORD, NEW)
        assert refused.value.refusal is Refusal.TOO_YOUNG
        assert slapd_server.binds(young.dn, DEMO_PASSWORD)
    finally:
        await directory.close()


async def test_an_administrators_reset_shows_as_must_change(
    ldap_backend: Backend, slapd_server: SlapdServer
) -> None:
    account = await _account(ldap_backend)
    slapd_server.as_root(account.ref, {"pwdReset": [("MODIFY_REPLACE", ["TRUE"])]})
    state = await ldap_backend.directory.password_state(account)
    assert state.must_change
    assert state.reason(ldap_profile().password_policy, now=dt.datetime.now(dt.UTC)) is (
        Violation.MUST_CHANGE
    )
    # changeAfterReset lets the user do one thing: change the password, which clears it.
    await ldap_backend.directory.change_password(account, DEMO_PASSWORD, NEW)
    assert not (await ldap_backend.directory.password_state(account)).must_change


async def test_five_wrong_passwords_lock_the_account_and_it_shows_as_locked(
    ldap_backend: Backend,
) -> None:
    account = await _account(ldap_backend)
    for _ in range(5):
        assert not await ldap_backend.directory.verify_password(account, "Wrong-Passw0rd!")
    with pytest.raises(AccountLocked):
        await ldap_backend.directory.verify_password(account, DEMO_PASSWORD)
    assert (await ldap_backend.directory.password_state(account)).locked
    again = await _account(ldap_backend)
    assert again.locked and again.suspended  # the profile's suspension: pwdAccountLockedTime


async def test_the_second_server_answers_when_the_first_is_down(
    slapd_server: SlapdServer, pii: PiiHasher
) -> None:
    dead = f"ldap://127.0.0.1:{free_port()}"
    directory = ldap_directory(pii, dead, slapd_server.uri)
    try:
        found = await directory.find_target("211303001", id_number_hash=pii.id_number("A128573490"))
        assert found is not None and found.name == "211303001"
    finally:
        await directory.close()


async def test_a_stopped_directory_is_unavailable_changes_nothing_and_recovers(
    own_slapd: SlapdServer, pii: PiiHasher
) -> None:
    directory = ldap_directory(pii, own_slapd.uri)
    try:
        account = await directory.find_target("spare00", id_number_hash=None)
        assert account is not None
        own_slapd.stop()
        for attempt in (
            directory.find_target("spare00", id_number_hash=None),
            directory.change_password(account, DEMO_PASSWORD, NEW),
            directory.reset_password(account, NEW),
            directory.verify_password(account, DEMO_PASSWORD),
            directory.password_state(account),
        ):
            with pytest.raises(DirectoryUnavailable):
                await attempt
        own_slapd.start()
        assert own_slapd.binds(account.ref, DEMO_PASSWORD)  # nothing was half-written
        assert await directory.verify_password(account, DEMO_PASSWORD)
    finally:
        await directory.close()


@pytest.mark.parametrize(
    ("code", "refusal"),
    [
        (5, Refusal.QUALITY),  # insufficientPasswordQuality
        (6, Refusal.TOO_SHORT),  # passwordTooShort
        (7, Refusal.TOO_YOUNG),  # passwordTooYoung
        (8, Refusal.IN_HISTORY),  # passwordInHistory
        (2, Refusal.CHANGE_AFTER_RESET),  # changeAfterReset
    ],
)
def test_ppolicy_response_codes_read_from_the_control(code: int, refusal: Refusal) -> None:
    # PasswordPolicyResponseValue ::= SEQUENCE { error [1] ENUMERATED }
    assert ppolicy_error(bytes([0x30, 0x03, 0x81, 0x01, code])) == code
    assert PPOLICY_ERRORS[code] is refusal


def test_a_ppolicy_warning_alone_is_no_error() -> None:
    # warning [0] { timeBeforeExpiration [0] 3600 }
    assert ppolicy_error(bytes([0x30, 0x06, 0xA0, 0x04, 0x80, 0x02, 0x0E, 0x10])) is None


def test_the_quality_refusal_reads_in_both_languages() -> None:
    from core.i18n import Translator

    refused = PasswordRefused(Refusal.QUALITY, ldap_profile().password_policy)
    english = Translator("en")._(refused.msgid)
    chinese = Translator("zh_TW")._(refused.msgid)
    assert "strong enough" in english
    assert chinese != english


def _now_ldap() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%SZ")


async def test_check_shows_what_each_mapped_attribute_yields_with_the_id_masked(
    ldap_backend: Backend,
) -> None:
    assert isinstance(ldap_backend.directory, LdapDirectory)
    rows = {fact: value for fact, _, value in await ldap_backend.directory.check("211303001")}
    assert rows["student_id"] == "211303001"
    assert rows["mail"] == "a211303001@grad.demo.edu.tw"
    assert rows["id_number"] == "A1******90"
    assert rows["suspended"] == "False"
    # cn holds "Lin Ming-Zhi" first, then 林明志: the names the bot uses, not the first value.
    assert rows["name"] == "林明志"
    assert rows["name_en"] == "Lin Ming-Zhi"


async def test_check_names_the_reason_when_the_account_is_not_found(
    ldap_backend: Backend,
) -> None:
    assert isinstance(ldap_backend.directory, LdapDirectory)
    with pytest.raises(DirectoryUnavailable, match="0 entries match"):
        await ldap_backend.directory.check("nobody-here")


def _tls(profile_uri: str, ca_file: str, *, start_tls: bool, pii: PiiHasher) -> LdapDirectory:
    profile = pointed_at(ldap_profile(), profile_uri)
    directory = profile.directory.model_copy(update={"start_tls": start_tls, "ca_file": ca_file})
    return LdapDirectory(
        profile.model_copy(update={"directory": directory}),
        pii=pii,
        bind_password=SERVICE_PASSWORD,
    )


@pytest.mark.parametrize("start_tls", [True, False], ids=["starttls", "ldaps"])
async def test_an_encrypted_connection_verified_with_the_ca_file_works(
    slapd_server: SlapdServer, pii: PiiHasher, start_tls: bool
) -> None:
    uri = slapd_server.uri if start_tls else slapd_server.ldaps_uri
    directory = _tls(uri, str(slapd_server.ca_file), start_tls=start_tls, pii=pii)
    try:
        found = await directory.find_target("211303001", id_number_hash=None)
        assert found is not None
        assert await directory.verify_password(found, DEMO_PASSWORD)
    finally:
        await directory.close()


@pytest.mark.parametrize("start_tls", [True, False], ids=["starttls", "ldaps"])
async def test_a_server_certificate_from_another_ca_is_refused_saying_so(
    slapd_server: SlapdServer,
    pii: PiiHasher,
    tmp_path: Path,
    start_tls: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server answers: what failed is the certificate check, and the reason says so
    (not that no server answered), naming the ca_file to look at."""
    write_certificates(tmp_path)  # a CA of its own that signed nothing slapd holds
    uri = slapd_server.uri if start_tls else slapd_server.ldaps_uri
    directory = _tls(uri, str(tmp_path / "ca.pem"), start_tls=start_tls, pii=pii)
    try:
        with pytest.raises(DirectoryUnavailable) as raised:
            await directory.find_target("211303001", id_number_hash=None)
    finally:
        await directory.close()
    reason = str(raised.value)
    assert "TLS handshake or certificate check failed" in reason
    assert "certificate verify failed" in reason
    assert uri in reason and str(tmp_path / "ca.pem") in reason
    assert "no directory server answered" not in reason
    assert "TLS handshake or certificate check failed" in caplog.text


async def test_a_missing_bind_password_is_unavailable_naming_the_setting(
    slapd_server: SlapdServer, pii: PiiHasher, caplog: pytest.LogCaptureFixture
) -> None:
    """HELPDESK_DIRECTORY_BIND_PASSWORD unset: every use of the service bind is the one
    ``DirectoryUnavailable`` the flows answer as unavailable, not an ldap3 error."""
    profile = pointed_at(ldap_profile(), slapd_server.uri)
    directory = LdapDirectory(profile, pii=pii, bind_password=None)
    try:
        for _ in range(2):  # a second try does not crash either
            with pytest.raises(DirectoryUnavailable, match="HELPDESK_DIRECTORY_BIND_PASSWORD"):
                await directory.find_target("211303001", id_number_hash=None)
        with pytest.raises(DirectoryUnavailable, match="HELPDESK_DIRECTORY_BIND_PASSWORD"):
            await directory.check("211303001")
    finally:
        await directory.close()
    logged = [r.getMessage() for r in caplog.records if r.name == "core.directory.ldap"]
    assert any("HELPDESK_DIRECTORY_BIND_PASSWORD" in line for line in logged), logged
    assert profile.directory.bind_dn and profile.directory.bind_dn in caplog.text


async def test_a_wrong_bind_password_names_the_result(
    slapd_server: SlapdServer, pii: PiiHasher
) -> None:
    profile = pointed_at(ldap_profile(), slapd_server.uri)
    directory = LdapDirectory(profile, pii=pii, bind_password="not-the-password")
    try:
        with pytest.raises(DirectoryUnavailable) as raised:
            await directory.find_target("211303001", id_number_hash=None)
    finally:
        await directory.close()
    assert "the service bind failed: invalidCredentials (49)" in str(raised.value)
    assert "not-the-password" not in str(raised.value)


async def test_over_a_slow_directory_a_match_costs_what_a_miss_costs(
    slapd_server: SlapdServer, pii: PiiHasher
) -> None:
    proxy = SlowProxy(slapd_server.port, delay=0.02)
    directory = ldap_directory(pii, proxy.uri)
    owner, stranger = pii.id_number("A128573490"), pii.id_number("B226034180")
    cases = {
        "match": ("211303001", owner),
        "wrong ID number": ("211303001", stranger),
        "no such account": ("999999999", owner),
    }
    try:
        await directory.find_target("211303001", id_number_hash=owner)  # open and bind once
        times: dict[str, list[float]] = {case: [] for case in cases}
        for _ in range(15):
            for case, (name, hashed) in cases.items():
                start = time.perf_counter()
                await directory.find_target(name, id_number_hash=hashed)
                times[case].append(time.perf_counter() - start)
        medians = {case: statistics.median(values) for case, values in times.items()}
        assert min(medians.values()) >= 0.04  # the delay was really in the path
        assert max(medians.values()) - min(medians.values()) < 0.005, medians
    finally:
        await directory.close()
        proxy.close()


ALUMNI_ENTRY = alumni_entry(campusIdNumber="{id_number}", campusBirthday="{birthday}")


def _writing(uri: str, pii: PiiHasher) -> LdapDirectory:
    return ldap_directory(pii, uri, profile=writing(ldap_profile(), ALUMNI_ENTRY))


async def test_an_approved_alumni_account_is_written_and_must_change_its_first_password(
    slapd_server: SlapdServer, pii: PiiHasher
) -> None:
    directory = _writing(slapd_server.uri, pii)
    facts = {
        "account": "B10930700100",
        "student_id": "109307001",
        "name_zh": "許志明",
        "name_en": "Hsu Chih-Ming",
        "surname": "Hsu",
        "id_number": "A123456789",
        "birthday": "1990-01-02",
        "notification_address": "chihming.hsu@example.com",
    }
    try:
        dn = await directory.create_account(facts, "A123456789")
        assert slapd_server.binds(dn, "A123456789")
        account = await directory.find_target(
            "B10930700100", id_number_hash=pii.id_number("A123456789")
        )
        assert account is not None and account.send_to == "chihming.hsu@example.com"
        assert (await directory.password_state(account)).must_change
        with pytest.raises(AccountExists):
            await directory.create_account(facts, "A123456789")
    finally:
        await directory.close()
