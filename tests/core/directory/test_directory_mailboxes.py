"""``Directory.mailboxes_of``: a linked person's mailboxes, on the bot's tables and on
OpenLDAP alike (the entry's mail attribute there)."""

from __future__ import annotations

from core.directory import TargetKind
from tests.core.directory.conftest import Backend


async def test_an_owners_mailboxes_are_found_as_their_addresses_find_them(
    backend: Backend,
) -> None:
    account = await backend.directory.find_target(backend.account, id_number_hash=None)
    assert account is not None
    (mailbox,) = await backend.directory.mailboxes_of(account.owner)
    assert mailbox.kind is TargetKind.MAILBOX
    assert mailbox.name.lower() == backend.mailbox.lower()
    assert mailbox == await backend.directory.find_target(backend.mailbox, id_number_hash=None)
    assert not mailbox.suspended and not mailbox.locked
    assert await backend.directory.mailboxes_of(account.owner + "0") == []
