"""media files (images a platform fetches by URL)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('media_files',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_media_files'))
    )
    op.create_index('ix_media_files_expires_at', 'media_files', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_media_files_expires_at', table_name='media_files')
    op.drop_table('media_files')
