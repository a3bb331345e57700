"""The profile's [directory] section: examples load, unsafe limits are refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.directory.sync import status_values
from core.profiles import Profile, load_profile, load_profile_file
from core.resources import profiles_dir


@pytest.mark.parametrize("name", ["ldap", "ad"])
def test_the_example_profiles_load(name: str) -> None:
    profile = load_profile_file(profiles_dir() / "examples" / f"{name}.toml")
    assert profile.directory.backend == name
    assert profile.directory.bind_dn
    assert profile.limits.failures_per_user < (profile.directory.max_failures or 0)


def test_the_embedded_default_keeps_its_directory_in_sql() -> None:
    assert load_profile("demo").directory.backend == "sql"


def _with(**directory: object) -> dict[str, object]:
    raw = load_profile("demo").model_dump(mode="json")
    raw["directory"] = {"backend": "ldap", "uris": ["ldap://x"], "base_dn": "dc=x"} | directory
    return raw


def test_a_wrong_password_limit_at_the_directorys_lockout_is_refused() -> None:
    with pytest.raises(ValidationError, match="must stay below"):
        Profile.model_validate(_with(max_failures=5))  # the demo allows 5 failures


def test_a_limit_below_the_lockout_is_accepted() -> None:
    assert Profile.model_validate(_with(max_failures=6)).directory.max_failures == 6


def test_an_ldap_directory_without_servers_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs uris and base_dn"):
        Profile.model_validate(_with(uris=[]))


def test_writing_applications_to_a_directory_needs_a_new_entry_template() -> None:
    with pytest.raises(ValidationError, match=r"needs \[directory.new_entry\]"):
        Profile.model_validate(_with(max_failures=6, applications="write"))
    entry = {"dn": "uid={account},ou=people,dc=x", "object_classes": ["inetOrgPerson"]}
    written = Profile.model_validate(_with(max_failures=6, applications="write", new_entry=entry))
    assert written.directory.new_entry is not None


@pytest.mark.parametrize("name", ["ldap", "ad"])
def test_the_example_profiles_answer_and_refer_people_as_the_demo_does(name: str) -> None:
    """A graduate's lookup names the alumni account, site and centre; the status
    attribute's words are mapped, so the index knows who graduated."""
    profile = load_profile_file(profiles_dir() / "examples" / f"{name}.toml")
    demo = load_profile("demo")
    assert profile.lookup == demo.lookup
    assert profile.lookup.alumnus is not None and profile.lookup.alumnus.ask == "alumni_centre"
    assert profile.contacts == demo.contacts and profile.handoff == demo.handoff
    assert status_values(profile)["畢業"] == "graduated"
    assert status_values(profile)["在學"] == "enrolled"
