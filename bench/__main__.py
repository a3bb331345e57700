"""``python -m bench [SECTION ...]`` (``make bench``): run, print the tables, write JSON.

Sections: telegram, slack, hashing, directory, cards, memory, faq, ldap, workers (all when
none is named; ldap needs Debian's slapd).
``BENCH_QUICK=1`` makes every count small, to try the bench itself in seconds.
Progress goes to stderr; the markdown tables to stdout and ``bench/results/latest.md``;
every figure with its runs to ``bench/results/<time>.json`` and ``latest.json``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg

from bench import (
    cards,
    directory,
    faq,
    hashing,
    ldap,
    memory,
    scaling,
    slack_ack,
    telegram_turn,
)
from bench.common import (
    BENCH_DIR,
    Databases,
    Figure,
    asyncpg_dsn,
    drop_pg_database,
    load_average,
    ratio,
    stand_in,
    workdir,
    write_json,
)
from tests.ldap_server import SLAPD

SECTIONS = (
    "telegram",
    "slack",
    "hashing",
    "directory",
    "cards",
    "memory",
    "faq",
    "ldap",
    "workers",
)
QUICK = os.environ.get("BENCH_QUICK") == "1"
HAVE_SLAPD = Path(SLAPD).exists()
SIZES: dict[str, Any] = {
    "runs": 2 if QUICK else 3,
    "telegram_sequential_chats": 10 if QUICK else 30,
    "telegram_concurrent_chats": 40 if QUICK else 96,
    "telegram_open_rate": 200.0,
    "telegram_open_seconds": 1.0 if QUICK else 1.5,
    "telegram_shipped_chats": 32 if QUICK else 64,
    "slack_events": 100 if QUICK else 500,
    "slack_rate": 500.0,
    "hashing_seconds": 2.0 if QUICK else 4.0,
    "hashing_lookup_rate": 30.0,
    "directory_small": 10_000,
    "directory_large": 20_000 if QUICK else 1_000_000,
    "directory_lookups": 50 if QUICK else 200,
    "cards": 40 if QUICK else 200,
    "memory_conversations": 400 if QUICK else 10_000,
    "faq_entries": 1000,
    "faq_rounds": 2 if QUICK else 5,
    "ldap_rounds": 20 if QUICK else 200,
    "ldap_change_rounds": 5 if QUICK else 20,
    "workers_chats": 64 if QUICK else 192,
}
# Two web workers' Telegram turns a second (32 chats) over one worker's, at least.
WORKERS_SCALING_TARGET = 1.5


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cell(figure: Figure, digits: int = 1) -> str:
    return figure.show(digits)


def times(figure: Figure) -> str:
    return f"{figure.median:.2f}× ({min(figure.runs):.2f}–{max(figure.runs):.2f})"


# -- the tables ----------------------------------------------------------------------------


def telegram_table(results: telegram_turn.Results, shipped: dict[str, Any] | None) -> str:
    f = results.figures
    lines = [
        "### 1. Telegram turn (3-step flow, webhook path; peers in memory)",
        "",
        "| mode | measure | ours SQLite | ours PostgreSQL | python-telegram-bot | aiogram "
        "| aiogram + Redis | ours/PTB SQLite | ours/PTB PG | ours/aiogram PG "
        "| ours/aiogram+Redis PG |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    offered = f"{SIZES['telegram_open_rate']:.0f}/s offered"
    rows = [
        (mode, measure, label)
        for mode in ("sequential", "32 chats")
        for measure, label in (
            ("updates_per_s", "updates/s"),
            ("p50_ms", "p50 ms"),
            ("p99_ms", "p99 ms"),
        )
    ]
    rows += [(offered, "p50_ms", "p50 ms"), (offered, "p99_ms", "p99 ms")]
    for mode, measure, label in rows:
        lite = f[("ours", "sqlite", mode)][measure]
        pg = f[("ours", "postgresql", mode)][measure]
        ptb = f[("ptb", "memory", mode)][measure]
        aio = f[("aiogram", "memory", mode)][measure]
        red = f[("aiogram", "redis", mode)][measure]
        lines.append(
            f"| {mode} | {label} | {cell(lite)} | {cell(pg)} | {cell(ptb)} | {cell(aio)} "
            f"| {cell(red)} | {times(ratio(lite, ptb))} | {times(ratio(pg, ptb))} "
            f"| {times(ratio(pg, aio))} | {times(ratio(pg, red))} |"
        )
    if shipped:
        lines += [
            "",
            f"As shipped (a turn's replies unpaced: only a 429's retry_after is waited out; "
            f"background messages are paced on a client of their own), PostgreSQL, 32 chats, one "
            f"run: {shipped['updates_per_s']:.1f} updates/s, p50 {shipped['p50_ms']:.0f} ms, "
            f"p99 {shipped['p99_ms']:.0f} ms.",
        ]
    return "\n".join(lines)


def slack_table(result: dict[str, Any]) -> str:
    f = result["figures"]
    lines = [
        "### 2. Slack ack (signed events over HTTP to a uvicorn worker; the work after the ack "
        "in `helpdesk worker` processes)",
        "",
        "| app | offered | events/s sent | ack p50 ms | ack p99 ms | events fully handled/s |",
        "|---|---|---|---|---|---|",
    ]
    for load in result["loads"]:
        ours, bolt = f[f"ours {load}"], f[f"bolt {load}"]
        handled = cell(result["handled_per_s"], 0) if load == result["loads"][0] else "–"
        if load == result["loads"][0]:
            alone, two = f[f"ours queued only {load}"], f[f"ours 2 workers {load}"]
            lines += [
                f"| ours (PostgreSQL), job workers stopped | {load} | {cell(alone['rate'], 0)} "
                f"| {cell(alone['p50_ms'], 2)} | {cell(alone['p99_ms'], 2)} | – |",
                f"| ours (PostgreSQL), 2 job workers beside | {load} | {cell(two['rate'], 0)} "
                f"| {cell(two['p50_ms'], 2)} | {cell(two['p99_ms'], 2)} "
                f"| {cell(result['handled_per_s_2_workers'], 0)} |",
            ]
        lines += [
            f"| ours (PostgreSQL), 1 job worker beside | {load} | {cell(ours['rate'], 0)} "
            f"| {cell(ours['p50_ms'], 2)} | {cell(ours['p99_ms'], 2)} | {handled} |",
            f"| bare slack-bolt AsyncApp | {load} | {cell(bolt['rate'], 0)} "
            f"| {cell(bolt['p50_ms'], 2)} | {cell(bolt['p99_ms'], 2)} | – |",
            f"| ours/bolt | {load} | | {times(ratio(ours['p50_ms'], bolt['p50_ms']))} "
            f"| {times(ratio(ours['p99_ms'], bolt['p99_ms']))} | |",
        ]
    scaling = times(result["scaling"])
    lines += ["", f"2 job workers over 1 (events fully handled/s, run by run): {scaling}."]
    return "\n".join(lines)


def hashing_table(result: dict[str, Any]) -> str:
    f = result["figures"]
    base = f["none"]["p99_ms"]
    lines = [
        "### 3. Hashing isolation (ID-lookup turns at "
        f"{SIZES['hashing_lookup_rate']:.0f}/s, PostgreSQL)",
        "",
        "| password changes alongside | argon2id | changes/s done | changes not started "
        "| lookup p50 ms | lookup p99 ms | p99 added ms |",
        "|---|---|---|---|---|---|---|",
        f"| none | – | – | – | {cell(f['none']['p50_ms'])} | {cell(base)} | – |",
    ]
    for name, label in (("configured", "10/s, configured"), ("owasp", "10/s, OWASP minimum")):
        lines.append(
            f"| {label} | {result['params'][name]} | {cell(f[name]['changes_per_s'])} "
            f"| {cell(f[name]['dropped'], 0)} | {cell(f[name]['p50_ms'])} "
            f"| {cell(f[name]['p99_ms'])} | {cell(hashing.added_p99(result, name))} |"
        )
    return "\n".join(lines)


def directory_table(result: dict[str, Any]) -> str:
    lines = [
        "### 4. Directory scale (ID lookup, PostgreSQL)",
        "",
        "| people | bulk load s | lookup turn p50 ms | lookup turn p99 ms "
        "| directory query p50 ms | directory query p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for size in result["sizes"]:
        row = result[str(size)]
        lines.append(
            f"| {size:,} | {row['load_s']:.1f} | {cell(row['turn_p50'], 2)} "
            f"| {cell(row['turn_p99'], 2)} | {cell(row['query_p50'], 2)} "
            f"| {cell(row['query_p99'], 2)} |"
        )
    return "\n".join(lines)


def cards_table(result: dict[str, Figure]) -> str:
    return "\n".join(
        [
            "### 5. Card refresh (CardRefresher.run_once, PostgreSQL)",
            "",
            "| workers | cards refreshed/s |",
            "|---|---|",
            *(f"| {name} | {cell(figure)} |" for name, figure in result.items()),
        ]
    )


def memory_table(result: dict[str, Any]) -> str:
    by_table = ", ".join(
        f"{name} {size:.0f}" for name, size in sorted(result["db_bytes_by_table"].items())
    )
    return "\n".join(
        [
            "### 6. Memory (one worker, PostgreSQL)",
            "",
            "| RSS idle MiB | RSS warm MiB | RSS after "
            f"{result['conversations']:,} conversations MiB | RSS growth bytes/conversation "
            "| bytes stored/conversation |",
            "|---|---|---|---|---|",
            f"| {result['rss_idle_kib'] / 1024:.0f} | {result['rss_warm_kib'] / 1024:.0f} "
            f"| {result['rss_after_kib'] / 1024:.0f} "
            f"| {cell(result['rss_growth'], 0)} | {cell(result['db_bytes'], 0)} |",
            "",
            f"Stored per conversation, by table (bytes): {by_table}.",
        ]
    )


def ldap_table(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            "### 8. Directory backends: SQL beside LDAP (slapd on loopback, ppolicy; "
            f"{SIZES['ldap_rounds']} lookups, {SIZES['ldap_change_rounds']} changes)",
            "",
            ldap.table(result),
        ]
    )


def workers_table(result: dict[str, Any]) -> str:
    f = result["figures"]
    lines = [
        "### 9. Several workers (Telegram turn, 32 chats, `helpdesk serve` processes on one "
        "PostgreSQL)",
        "",
        "| web workers | updates/s | p50 ms | p99 ms | server CPU ms/update "
        "| machine busy (all cores) |",
        "|---|---|---|---|---|---|",
        *(
            f"| {n} | {cell(f[n]['updates_per_s'])} | {cell(f[n]['p50_ms'])} "
            f"| {cell(f[n]['p99_ms'])} | {cell(f[n]['server_cpu_ms'], 2)} "
            f"| {f[n]['machine_busy'].median:.0%} ({min(f[n]['machine_busy'].runs):.0%}–"
            f"{max(f[n]['machine_busy'].runs):.0%}) |"
            for n in (1, 2)
        ),
        "",
        f"2 workers over 1 (updates/s, run by run): {times(result['scaling'])}.",
    ]
    return "\n".join(lines)


def targets_table(measured: dict[str, Any]) -> str:
    """Every target of issue 19 that this run measured: met or not, and by how much.

    *measured / target* is the median of the run-by-run figures over the target: at
    least 1 meets an "at least" target, at most 1 an "at most" one.
    """
    rows: list[tuple[str, str, float | None, bool | None]] = []

    def at_least(name: str, figure: Figure, target: float, shown: str) -> None:
        rows.append((name, shown, figure.median / target, figure.median >= target))

    def at_most(name: str, figure: Figure, limit: float, shown: str) -> None:
        rows.append((name, shown, figure.median / limit, figure.median <= limit))

    if "telegram" in measured:
        f = measured["telegram"].figures
        offered = f"{SIZES['telegram_open_rate']:.0f}/s offered"

        def pg_over(peer: tuple[str, str, str]) -> Figure:
            return ratio(
                f[("ours", "postgresql", peer[2])]["updates_per_s"], f[peer]["updates_per_s"]
            )

        sequential = pg_over(("ptb", "memory", "sequential"))
        at_least(
            "Telegram turn, sequential, ≥ 1× python-telegram-bot (PostgreSQL)",
            sequential,
            1.0,
            f"{times(sequential)}",
        )
        chats = pg_over(("ptb", "memory", "32 chats"))
        at_least("… 32 chats, ≥ 1.5× python-telegram-bot", chats, 1.5, times(chats))
        durable = pg_over(("aiogram", "redis", "32 chats"))
        at_least("… 32 chats, ≥ 1× aiogram + RedisStorage", durable, 1.0, times(durable))
        p99 = f[("ours", "postgresql", offered)]["p99_ms"]
        at_most(f"… p99 ≤ 15 ms at {offered}", p99, 15.0, f"{cell(p99)} ms")
    if "slack" in measured:
        load = measured["slack"]["loads"][0]
        p99 = measured["slack"]["figures"][f"ours {load}"]["p99_ms"]
        at_most(f"Slack ack p99 ≤ 5 ms at {load}", p99, 5.0, f"{cell(p99, 2)} ms")
        alone = measured["slack"]["figures"][f"ours queued only {load}"]["p99_ms"]
        at_most("… with the job workers stopped (the ack path alone)", alone, 5.0,
                f"{cell(alone, 2)} ms")  # fmt: skip
        scaling = measured["slack"]["scaling"]
        at_least("… events fully handled/s, 2 job workers ≥ 1.5× one", scaling, 1.5, times(scaling))
    if "hashing" in measured:
        h = measured["hashing"]["figures"]
        rate, dropped = h["owasp"]["changes_per_s"], h["owasp"]["dropped"]
        all_done = max(dropped.runs, default=1) == 0 and rate.median >= 0.95 * hashing.CHANGE_RATE
        rows.append(
            (
                f"{hashing.CHANGE_RATE:.0f} password changes/s at OWASP's minimum all complete",
                f"{cell(rate)} done/s, {max(dropped.runs, default=0):.0f} not started",
                rate.median / hashing.CHANGE_RATE,
                all_done,
            )
        )
        added = hashing.added_p99(measured["hashing"], "owasp")
        at_most("… other chats' lookup p99 grows by ≤ 10 ms", added, 10.0, f"{cell(added)} ms")
        configured = h["configured"]
        rows.append(
            (
                f"Configured argon2id ({measured['hashing']['params']['configured']}): "
                "the rate this machine sustains, lookup p99 at it",
                f"{cell(configured['changes_per_s'])} changes/s, "
                f"p99 {cell(configured['p99_ms'])} ms",
                None,
                None,
            )
        )
    if "workers" in measured:
        scaling_ratio = measured["workers"]["scaling"]
        at_least(
            f"Several workers: Telegram 32 chats, 2 workers ≥ {WORKERS_SCALING_TARGET}× one "
            "(updates/s)",
            scaling_ratio,
            WORKERS_SCALING_TARGET,
            times(scaling_ratio),
        )
    else:
        rows.append(("Several workers: Telegram 32 chats, 1 → 2 workers", "not measured",
                     None, None))  # fmt: skip
    lines = [
        "### Issue 19's targets",
        "",
        "| target | measured (median, min–max) | measured / target | verdict |",
        "|---|---|---|---|",
    ]
    for name, shown, share, met in rows:
        verdict = "–" if met is None else ("**met**" if met else "**not met**")
        share_text = "–" if share is None else f"{share:.2f}"
        lines.append(f"| {name} | {shown} | {share_text} | {verdict} |")
    return "\n".join(lines)


# -- the run ----------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    packages = (
        "python-telegram-bot",
        "aiogram",
        "slack-bolt",
        "slack-sdk",
        "httpx",
        "aiohttp",
        "SQLAlchemy",
        "asyncpg",
        "uvicorn",
        "argon2-cffi",
    )
    versions = {}
    for name in packages:
        try:
            versions[name] = version(name)
        except Exception:  # a peer that is not installed
            versions[name] = None
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "packages": versions,
        "quick": QUICK,
        "sizes": SIZES,
    }


async def postgres_version() -> str:
    connection = await asyncpg.connect(asyncpg_dsn("postgres"))
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


async def main(sections: list[str]) -> int:
    started = time.perf_counter()
    runs = SIZES["runs"]
    data: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": environment(),
        "load_average_start": load_average(),
    }
    data["environment"]["postgresql"] = await postgres_version()
    tables: list[str] = []
    measured: dict[str, Any] = {}
    async with workdir() as home:
        dbs = Databases(home)
        await dbs.setup()
        try:
            with stand_in() as api:
                if "telegram" in sections:
                    log("1. Telegram turn: conformance against the spec-checking stub")
                    data["telegram_conformance"] = await telegram_turn.conformance(dbs, home)
                    log("1. Telegram turn")
                    results = await telegram_turn.measure(
                        dbs,
                        api,
                        home,
                        runs=runs,
                        sequential_chats=SIZES["telegram_sequential_chats"],
                        concurrent_chats=SIZES["telegram_concurrent_chats"],
                        open_rate=SIZES["telegram_open_rate"],
                        open_seconds=SIZES["telegram_open_seconds"],
                        log=log,
                    )
                    shipped = await telegram_turn.measure_shipped(
                        dbs, api, home, chats=SIZES["telegram_shipped_chats"], log=log
                    )
                    data["telegram"] = {
                        "/".join(key): {k: v.as_json() for k, v in figs.items()}
                        for key, figs in results.figures.items()
                    }
                    data["telegram_shipped"] = shipped
                    measured["telegram"] = results
                    tables.append(telegram_table(results, shipped))
                if "slack" in sections:
                    log("2. Slack ack")
                    result = await slack_ack.measure(
                        dbs, api, runs=runs, count=SIZES["slack_events"], rate=SIZES["slack_rate"],
                        log=log,
                    )  # fmt: skip
                    data["slack"] = {
                        name: {k: v.as_json() for k, v in figs.items()}
                        for name, figs in result["figures"].items()
                    }
                    data["slack"]["handled_per_s"] = result["handled_per_s"].as_json()
                    for key in ("handled_per_s_2_workers", "scaling"):
                        data["slack"][key] = result[key].as_json()
                    measured["slack"] = result
                    tables.append(slack_table(result))
                if "workers" in sections:
                    log("9. Several workers")
                    result = await scaling.measure(
                        dbs, api, runs=runs, chats=SIZES["workers_chats"], log=log
                    )
                    data["workers"] = {
                        "scaling": result["scaling"].as_json(),
                        **{
                            str(n): {k: v.as_json() for k, v in figs.items()}
                            for n, figs in result["figures"].items()
                        },
                    }
                    measured["workers"] = result
                    tables.append(workers_table(result))
            if "hashing" in sections:
                log("3. Hashing isolation")
                result = await hashing.measure(
                    dbs,
                    home,
                    runs=runs,
                    seconds=SIZES["hashing_seconds"],
                    rate=SIZES["hashing_lookup_rate"],
                    log=log,
                )
                data["hashing"] = {
                    "params": result["params"],
                    **{
                        name: {k: v.as_json() for k, v in figs.items()}
                        for name, figs in result["figures"].items()
                    },
                }
                tables.append(hashing_table(result))
                measured["hashing"] = result
            if "cards" in sections:
                log("5. Card refresh")
                figures = await cards.measure(dbs, home, runs=runs, count=SIZES["cards"], log=log)
                data["cards"] = {k: v.as_json() for k, v in figures.items()}
                tables.append(cards_table(figures))
            if "memory" in sections:
                log("6. Memory")
                with stand_in() as api:
                    result = await memory.measure(
                        dbs, api, count=SIZES["memory_conversations"], log=log
                    )
                data["memory"] = {
                    k: v.as_json() if isinstance(v, Figure) else v for k, v in result.items()
                }
                tables.append(memory_table(result))
            if "faq" in sections:
                log("7. Free-text match")
                result = faq.measure(
                    runs=runs, entries=SIZES["faq_entries"], rounds=SIZES["faq_rounds"]
                )
                data["faq"] = {
                    **{k: v for k, v in result.items() if k != "figures"},
                    **{k: v.as_json() for k, v in result["figures"].items()},
                }
                tables.append(faq.table(result))
            if "ldap" in sections:
                if HAVE_SLAPD:
                    log("8. Directory backends: SQL and LDAP")
                    result = await ldap.measure(SIZES["ldap_rounds"], SIZES["ldap_change_rounds"])
                    data["ldap"] = result
                    tables.append(ldap_table(result))
                else:
                    log("8. skipped: slapd is not installed (apt-get install slapd ldap-utils)")
            if "directory" in sections:
                log("4. Directory scale")
                result = await directory.measure(
                    dbs,
                    home,
                    runs=runs,
                    sizes=(SIZES["directory_small"], SIZES["directory_large"]),
                    lookups=SIZES["directory_lookups"],
                    log=log,
                )
                data["directory"] = {
                    str(k): ({n: f.as_json() if isinstance(f, Figure) else f for n, f in v.items()}
                             if isinstance(v, dict) else v)
                    for k, v in result.items()
                }  # fmt: skip
                tables.insert(min(3, len(tables)), directory_table(result))
        finally:
            await drop_pg_database()
    data["load_average_end"] = load_average()
    data["seconds"] = round(time.perf_counter() - started, 1)
    header = (
        f"`make bench` at {data['started']} on {data['environment']['cpus']} CPUs, "
        f"PostgreSQL {data['environment']['postgresql']}, {data['seconds']:.0f} s; "
        f"load average {data['load_average_start'][0]} at the start, "
        f"{data['load_average_end'][0]} at the end. Each cell: median (min–max) of "
        f"{runs} runs."
    )
    if measured:
        tables.append(targets_table(measured))
    report = "\n\n".join([header, *tables]) + "\n"
    print(report)
    stamp = data["started"].replace(":", "").replace("-", "")
    results_dir = BENCH_DIR / "results"
    write_json(results_dir / f"{stamp}.json", data)
    write_json(results_dir / "latest.json", data)
    (results_dir / "latest.md").write_text(report)
    log(f"wrote {results_dir / 'latest.json'} and latest.md")
    return 0


if __name__ == "__main__":
    named = sys.argv[1:] or list(SECTIONS)
    unknown = set(named) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    sys.exit(asyncio.run(main(named)))
