"""chat_identities: a chat linked to a person of an LDAP or AD directory (the entry's DN)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("directory_owner", sa.String(length=512), nullable=True))


def downgrade() -> None:
    # Chats linked to a directory entry are no longer linked.
    op.execute(
        sa.text(
            "UPDATE chat_identities SET linked_at = NULL "
            "WHERE directory_owner IS NOT NULL AND person_id IS NULL"
        )
    )
    with op.batch_alter_table("chat_identities", schema=None) as batch_op:
        batch_op.drop_column("directory_owner")
