"""directory_index: each entry's enrolment status, so a graduate gets the alumni answer

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("directory_index", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=True))
    # The rows synced so far carry no status: dating them back makes the next (incremental)
    # sync read every entry again, while lookups keep working from the rows meanwhile.
    op.execute(
        sa.text("UPDATE directory_index SET modified_at = :long_ago").bindparams(
            long_ago=dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("directory_index", schema=None) as batch_op:
        batch_op.drop_column("status")
