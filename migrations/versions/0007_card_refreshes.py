"""alumni cards: the refresh accepted last within a step ("Refresh now" after a scan)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('alumni_cards', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('last_accepted_refresh', sa.Integer(), nullable=False, server_default='0')
        )


def downgrade() -> None:
    with op.batch_alter_table('alumni_cards', schema=None) as batch_op:
        batch_op.drop_column('last_accepted_refresh')
