"""A chat's link to a person of the directory (DESIGN.md, "Identity in chat").

In the bot's own tables the person is a ``people`` row, and a linked chat keeps its id
(``ChatIdentity.person_id``; the alumni card needs it, as a card row names a person).
A person of an LDAP or AD directory has no row there: the chat keeps the directory's
own name for them instead (``ChatIdentity.directory_owner``, the entry's DN, exactly as
``DirectoryAccount.owner`` gave it). Either way the flows reach the person's accounts
through the port with ``owner_of``: ``Directory.accounts_of(owner)``.
"""

from __future__ import annotations

import datetime as dt

from core.directory.sql import owner_of_person, person_of_owner
from core.models import ChatIdentity


def owner_of(identity: ChatIdentity) -> str | None:
    """The linked person as ``DirectoryAccount.owner`` names them; None when not linked."""
    if identity.directory_owner is not None:
        return identity.directory_owner
    return None if identity.person_id is None else owner_of_person(identity.person_id)


def link(identity: ChatIdentity, owner: str, *, own_tables: bool, now: dt.datetime) -> None:
    """Link the chat to the person ``owner`` names (``own_tables``: the SQL backend's)."""
    if own_tables:
        identity.person_id, identity.directory_owner = person_of_owner(owner), None
    else:
        identity.person_id, identity.directory_owner = None, owner
    identity.linked_at = now


def link_person(identity: ChatIdentity, person_id: int, *, now: dt.datetime) -> None:
    """Link the chat to a ``people`` row (an enrolment code staff issued for it)."""
    identity.person_id, identity.directory_owner = person_id, None
    identity.linked_at = now


def unlink(identity: ChatIdentity) -> None:
    identity.person_id = identity.directory_owner = None
    identity.linked_at = None
