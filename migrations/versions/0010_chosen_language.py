"""chat_identities: whether the language was chosen, so the platform's hint is remembered

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 13:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('chat_identities', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('locale_chosen', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # Until now only /language set a locale: every one stored was chosen.
    op.execute(
        sa.text('UPDATE chat_identities SET locale_chosen = :yes WHERE locale IS NOT NULL')
        .bindparams(yes=True)
    )


def downgrade() -> None:
    # The remembered hints go with the column: only chosen languages stay.
    op.execute(
        sa.text('UPDATE chat_identities SET locale = NULL WHERE locale_chosen = :no')
        .bindparams(no=False)
    )
    with op.batch_alter_table('chat_identities', schema=None) as batch_op:
        batch_op.drop_column('locale_chosen')
