"""``[directory.new_mailbox]``: what a mailbox applied for in chat on a directory is, and
what a profile may not say about it."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from pydantic import ValidationError

from core.profiles import MAILBOX_FACTS, Profile
from core.resources import profiles_dir


def _example(name: str) -> dict[str, Any]:
    path = profiles_dir() / "examples" / f"{name}.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _with_mailbox(name: str, **changes: Any) -> dict[str, Any]:
    raw = _example(name)
    raw["directory"]["new_mailbox"] = {**raw["directory"]["new_mailbox"], **changes}
    return raw


def test_the_examples_describe_their_mailboxes() -> None:
    ldap = Profile.model_validate(_example("ldap")).directory.new_mailbox
    assert ldap is not None and ldap.add_to == "new_entry"
    assert ldap.parent == "ou=mail,dc=demo,dc=edu,dc=tw"
    ad = Profile.model_validate(_example("ad")).directory.new_mailbox
    assert ad is not None and ad.add_to == "owner" and ad.parent is None


@pytest.mark.parametrize("fact", ["id_number", "birthday", "id_number_hash"])
def test_a_template_never_names_the_id_number_or_birthday(fact: str) -> None:
    assert fact not in MAILBOX_FACTS
    raw = _example("ldap")
    raw["directory"]["new_mailbox"]["attributes"]["campusIdNumber"] = "{" + fact + "}"
    with pytest.raises(ValidationError, match=f"names {fact}; a mailbox template may name"):
        Profile.model_validate(raw)


def test_a_new_entry_names_the_mailbox_in_its_first_part_only() -> None:
    for dn in ("ou=mail,dc=demo,dc=edu,dc=tw", "uid={mailbox},ou={account},dc=demo"):
        with pytest.raises(ValidationError, match="names the mailbox in its first part"):
            Profile.model_validate(_with_mailbox("ldap", dn=dn))


def test_applicants_is_an_ldap_filter() -> None:
    with pytest.raises(ValidationError, match="an LDAP filter"):
        Profile.model_validate(_with_mailbox("ldap", applicants="campusRole=staff"))


def test_active_directory_writes_a_mailbox_only_into_the_owners_user() -> None:
    raw = _with_mailbox(
        "ad", add_to="new_entry", dn="CN={mailbox},OU=Mail,DC=demo", object_classes=["user"]
    )
    raw["directory"]["applications"] = "write"
    raw["directory"]["new_entry"] = {
        "dn": "CN={account},OU=Alumni,DC=demo",
        "object_classes": ["user"],
    }
    with pytest.raises(ValidationError, match='add_to = "owner"'):
        Profile.model_validate(raw)
    raw["directory"]["new_mailbox"] = _example("ad")["directory"]["new_mailbox"]
    assert Profile.model_validate(raw).directory.new_mailbox is not None
