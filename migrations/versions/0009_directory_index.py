"""directory index: an LDAP directory's lookup keys, synced

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "directory_index",
        sa.Column("dn", sa.String(length=512), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=False),
        sa.Column("birthday_hash", sa.String(length=64), nullable=False),
        sa.Column("student_id", sa.String(length=32), nullable=True),
        sa.Column("degree_level", sa.String(length=32), nullable=True),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dn", name=op.f("pk_directory_index")),
    )
    op.create_index(
        op.f("ix_directory_index_id_number_hash"),
        "directory_index",
        ["id_number_hash"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_directory_index_id_number_hash"), table_name="directory_index")
    op.drop_table("directory_index")
