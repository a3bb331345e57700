"""Prometheus metrics: what operators watch, counted in every worker process.

With several workers (``helpdesk serve --workers N``) each process writes its counts
to files under ``PROMETHEUS_MULTIPROC_DIR`` and a scrape of any worker adds them up
(prometheus-client's multi-process mode). That variable must be set before
``prometheus_client`` is imported, which ``helpdesk serve`` does before it starts the
workers.

Counts only: no label ever holds a chat user, an account, an ID number or an address.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterable
from typing import Any

import aiohttp
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool

from core.models import AuditEvent

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

TURNS = Counter(
    "helpdesk_turns",
    "Chat turns handled, by channel, flow and outcome.",
    ["channel", "flow", "outcome"],
)
TURN_SECONDS = Histogram(
    "helpdesk_turn_seconds",
    "Time to handle one chat turn, from the message to the replies.",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
AUDITED = Counter(
    "helpdesk_audit_events",
    "Audited actions, by flow, action and outcome.",
    ["flow", "action", "outcome"],
)
LOOKUPS = Counter(
    "helpdesk_lookups", "Student ID lookups that got past the limits, by result.", ["result"]
)
RATE_LIMITED = Counter(
    "helpdesk_rate_limit_refusals", "Requests refused or held back by a limit.", ["limit"]
)
PLATFORM_CALLS = Counter(
    "helpdesk_platform_api_calls",
    "Calls to a chat platform's API, by result (ok, error, rate_limited).",
    ["platform", "result"],
)
DB_CONNECTIONS_IN_USE = Gauge(
    "helpdesk_db_connections_in_use",
    "Database connections checked out of the pools of the live workers.",
    multiprocess_mode="livesum",
)

# Audit outcomes that mean a limit said no (core.ratelimit, through the flows), by limit.
LIMIT_OUTCOMES = {
    "rate_limited": "per_user",
    "rate_limited_global": "global_per_minute",
    "rate_limited_id": "per_id_per_day",
    "locked": "per_user_failures",
    "too_many": "per_user_failures",
    "held": "per_address",
    "held_back": "per_address",
}
LOOKUP_RESULTS = {"match": "matched", "no_match": "not_matched"}


def observe_turn(channel: str, flow: str, outcome: str, seconds: float) -> None:
    """Count one chat turn and its duration."""
    TURNS.labels(channel=channel, flow=flow or "none", outcome=outcome).inc()
    TURN_SECONDS.labels(channel=channel).observe(seconds)


def count_platform_call(platform: str, result: str) -> None:
    """Count one call to a platform's API (``ok``, ``error`` or ``rate_limited``)."""
    PLATFORM_CALLS.labels(platform=platform, result=result).inc()


def platform_trace(platform: str) -> aiohttp.TraceConfig:
    """Counts every request of an aiohttp session to ``platform``'s API by its result.

    Give it to the adapter's session: ``ClientSession(trace_configs=[platform_trace("telegram")])``.
    Only the status is read, never the URL (Telegram's holds the bot token).
    """

    async def on_end(_session: Any, _context: Any, params: aiohttp.TraceRequestEndParams) -> None:
        status = params.response.status
        result = "rate_limited" if status == 429 else "error" if status >= 400 else "ok"
        count_platform_call(platform, result)

    async def on_exception(_session: Any, _context: Any, _params: Any) -> None:
        count_platform_call(platform, "error")

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    trace.on_request_exception.append(on_exception)
    return trace


def _audit_written(_mapper: Any, _connection: Any, target: AuditEvent) -> None:
    AUDITED.labels(flow=target.flow, action=target.action, outcome=target.outcome).inc()
    limit = LIMIT_OUTCOMES.get(target.outcome)
    if limit is not None:
        RATE_LIMITED.labels(limit=limit).inc()
    if target.action == "lookup" and target.outcome in LOOKUP_RESULTS:
        LOOKUPS.labels(result=LOOKUP_RESULTS[target.outcome]).inc()


# Every audit row counts as it is written, whoever writes it: one listener, no call sites.
event.listen(AuditEvent, "after_insert", _audit_written)


_INSTRUMENTED: weakref.WeakSet[Pool] = weakref.WeakSet()


def instrument_pool(engine: AsyncEngine) -> None:
    """Keep ``helpdesk_db_connections_in_use`` up to date for this engine's pool (once)."""
    pool = engine.sync_engine.pool
    if pool in _INSTRUMENTED:
        return
    _INSTRUMENTED.add(pool)

    @event.listens_for(pool, "checkout")
    def _checkout(*_args: Any) -> None:
        DB_CONNECTIONS_IN_USE.inc()

    @event.listens_for(pool, "checkin")
    def _checkin(*_args: Any) -> None:
        DB_CONNECTIONS_IN_USE.dec()


class Snapshot(Collector):
    """Gauges read at scrape time (the mail queue, open cards), given as numbers."""

    def __init__(self, values: Iterable[tuple[str, str, float]]) -> None:
        self.values = list(values)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, documentation, value in self.values:
            yield GaugeMetricFamily(name, documentation, value=value)


def exposition(snapshot: Iterable[tuple[str, str, float]] = ()) -> bytes:
    """Every metric in Prometheus' text format: this process's, or all workers' together."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    extra = CollectorRegistry()
    extra.register(Snapshot(snapshot))
    return text + generate_latest(extra)


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (multi-process mode)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
