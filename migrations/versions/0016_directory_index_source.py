"""directory_index: where a row's hashes come from (the entry, or an approved application)

An alumni entry the bot writes cannot carry the ID number (an application keeps it only
as a keyed hash), so approving one indexes it from the application: ``source`` tells the
sync to keep that row while the entry exists.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("directory_index", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="sync")
        )


def downgrade() -> None:
    # Rows from approvals name no ID number the entry holds: the sync would drop them.
    op.execute(sa.text("DELETE FROM directory_index WHERE source <> 'sync'"))
    with op.batch_alter_table("directory_index", schema=None) as batch_op:
        batch_op.drop_column("source")
