"""Section 7: free-text match latency with 1,000 FAQ answers (target p99 <= 5 ms).

The demo profile's answers are multiplied into ``entries`` generated variants (each
example and keyword given a numbered topic word, so every variant is its own entry in
the index), added to every flow's examples, and the labelled questions of
``tests/data/questions/`` are matched one at a time, ``rounds`` times over.

``python -m bench.faq`` runs it alone and prints the figures.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, ms, percentile
from core.faq import Intent, Matcher, faq_folder, load_faq
from core.faq.flows import flow_intents

QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "data" / "questions"


def generated(entries: int) -> list[Intent]:
    """``entries`` FAQ intents made from the demo answers, each with its own topic word."""
    demo = load_faq(faq_folder("demo"))
    base = [
        (entry_id, [e for entry in by_locale.values() for e in entry.examples],
         [k for entry in by_locale.values() for k in entry.keywords])
        for entry_id, by_locale in demo.entries.items()
    ]  # fmt: skip
    intents = []
    for i in range(entries):
        entry_id, examples, keywords = base[i % len(base)]
        topic = f"topic{i}"
        intents.append(
            Intent(
                "faq",
                f"{entry_id}-{i}",
                tuple(f"{example} {topic}" for example in examples),
                (*keywords, topic),
            )
        )
    return intents


def questions() -> list[str]:
    lines = []
    for locale in ("zh_TW", "en"):
        for line in (QUESTIONS / f"{locale}.tsv").read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                lines.append(line.split("\t", 1)[1])
    return lines


def measure(*, runs: int, entries: int = 1000, rounds: int = 5) -> dict[str, Any]:
    """Index build time and per-match latency (p50, p99, max) over ``runs`` runs."""
    intents = [*flow_intents(), *generated(entries)]
    asked = questions()
    figures = {name: Figure() for name in ("build_ms", "p50_ms", "p99_ms", "max_ms")}
    for _ in range(runs):
        started = time.perf_counter()
        matcher = Matcher(intents)
        figures["build_ms"].add((time.perf_counter() - started) * 1000)
        samples = []
        for _ in range(rounds):
            for question in asked:
                started = time.perf_counter()
                matcher.match(question)
                samples.append(time.perf_counter() - started)
        latencies = ms(samples)
        figures["p50_ms"].add(percentile(latencies, 50))
        figures["p99_ms"].add(percentile(latencies, 99))
        figures["max_ms"].add(max(latencies))
    return {"entries": entries, "questions": len(asked) * rounds, "figures": figures}


def table(result: dict[str, Any]) -> str:
    f = result["figures"]
    return "\n".join(
        [
            f"### 7. Free-text match ({result['entries']:,} FAQ answers and every flow, "
            f"{result['questions']:,} questions a run, target p99 <= 5 ms)",
            "",
            "| index build ms | match p50 ms | match p99 ms | match max ms |",
            "|---|---|---|---|",
            f"| {f['build_ms'].show(0)} | {f['p50_ms'].show(3)} | {f['p99_ms'].show(3)} "
            f"| {f['max_ms'].show(2)} |",
        ]
    )


if __name__ == "__main__":
    outcome = measure(runs=3)
    print(table(outcome))
    sys.exit(0 if outcome["figures"]["p99_ms"].median <= 5 else 1)
