"""One engine step in its own process, for test_crash.py (not a test module).

    python -m tests.reliability.crash_step '<incoming as JSON>' <clock ISO> [--pause]

Settings come from the environment (DATABASE_URL, HELPDESK_SECRET_KEY, ...), as for
``helpdesk``. With ``--pause`` a SQLAlchemy ``before_commit`` listener flushes the
step's writes, prints ``IN-TRANSACTION`` and sleeps, so the test can SIGKILL the
process while the transaction is open and written to but not committed. Without it,
the step runs normally and its replies' texts are printed as one JSON line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from bot import conversations  # noqa: F401  (registers the flows)
from bot.engine import Engine
from bot.services import build_services
from bot.types import Choices, Incoming, Text
from core.clock import FakeClock
from core.settings import Settings

PAUSED = "IN-TRANSACTION"


def _pause_before_commit(session: Session) -> None:
    session.flush()  # the step's own writes reach the database, uncommitted
    print(PAUSED, flush=True)
    time.sleep(60)  # blocks the whole process: nothing can commit meanwhile


async def main(incoming: dict[str, Any], now: str, pause: bool) -> None:
    if pause:
        event.listen(Session, "before_commit", _pause_before_commit)
    services = build_services(Settings(), clock=FakeClock(dt.datetime.fromisoformat(now)))
    try:
        replies = await Engine(services).handle(Incoming(**incoming))
    finally:
        await services.close()
    texts = [r.text for r in replies if isinstance(r, Text | Choices)]
    print(json.dumps(texts, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1]), sys.argv[2], "--pause" in sys.argv[3:]))
