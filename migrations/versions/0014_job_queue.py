"""procrastinate: the job queue's tables and functions, in a schema of their own (PostgreSQL)

The queue (core/jobs.py) lives in the schema ``procrastinate``, apart from the app's
tables: its connections put that schema first on their search path. procrastinate's
schema SQL is that of the version pyproject.toml pins; a later version brings its own
migrations, applied by a revision of their own. SQLite keeps its queue in memory: nothing
to do there.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "procrastinate"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    # The schema SQL is many statements with functions' bodies in it: it goes to the driver
    # as one simple query, inside this migration's transaction, with the search path set
    # for it alone (later revisions of the same run create their tables where they did).
    # Its functions and triggers name their tables unqualified: each is pinned to the
    # schema, so a session without it on the search path (psql, a cleanup) can still
    # change a job.
    script = (
        f"SET LOCAL search_path TO {SCHEMA};\n"
        f"{SchemaManager.get_schema()}\n"
        "DO $$\nDECLARE f regprocedure;\nBEGIN\n"
        f"  FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE pronamespace = '{SCHEMA}'::regnamespace\n"
        "  LOOP\n"
        f"    EXECUTE format('ALTER FUNCTION %s SET search_path = {SCHEMA}', f);\n"
        "  END LOOP;\nEND $$;\n"
        "SET LOCAL search_path TO DEFAULT;"
    )

    async def run(connection: Any) -> None:
        await connection.execute(script)

    bind.connection.dbapi_connection.run_async(run)  # type: ignore[union-attr]


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
