"""Synthesis orchestration throughput against a real OpenAI-compatible server on 127.0.0.1.

The server is ``dsr.models.server.create_app`` (the app behind ``dsr serve``) in a uvicorn thread, adding a
fixed latency per request; the model behind it is the scripted teacher from the tests, which answers
every prompt validly in microseconds, so the whole pipeline runs (all steps, filters, files) and what
is measured is orchestration: how well bounded async concurrency hides request latency. Reports:
- wall time and teacher calls at concurrency 1 and N (default 16), each on a fresh cache; speed-up
  (target >= 10x);
- the share of wall time with no teacher request in flight (time spent outside model calls).

Usage: ``.venv/bin/python benchmarks/synthesis.py [--delay-ms 100] [--concurrency 16]``
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
# This file is named like the project's `synthesis` package; the project root must come first on the path.
sys.path.insert(0, str(ROOT))
console = Console()


def make_corpus(source: Path, copies: int, target: Path) -> Path:
    """``copies`` variants of each Fountain script, distinct enough to pass the near-duplicate filter.

    Every lower-case word gets a per-copy suffix, so the word shingles of two copies do not overlap while
    headings, cues and the Fountain structure stay as they are. The corpus has 11 usable scenes; with
    ~7 sequential teacher rounds per scene that is too few to keep 16 requests in flight.
    """
    for path in sorted(source.glob("*.fountain")):
        text = path.read_text(encoding="utf-8")
        for k in range(copies):
            suffix = "q" + chr(ord("a") + k % 26) + chr(ord("a") + k // 26)
            variant = re.sub(r"\b([a-z]{3,})\b", lambda m, s=suffix: m.group(1) + s, text)
            (target / f"{path.stem}_v{k:02d}.fountain").write_text(variant, encoding="utf-8")
    return target


def run(corpus: Path, base_url: str, concurrency: int) -> dict:
    from dsr.models.settings import load_settings
    from dsr.synthesis.pipeline import synthesize
    from dsr.synthesis.teacher import build_teacher

    settings = load_settings(teacher={"provider": "openai", "model": "scripted", "base_url": base_url})
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        sheet = synthesize(
            corpus,
            Path(tmp),
            lambda cache: build_teacher(
                "teacher", cache, concurrency=concurrency, seed=0, max_repairs=1, settings=settings
            ),
        )
        wall = time.perf_counter() - started
    usage = sheet["teacher_usage"]
    return {
        "wall": wall,
        "calls": usage["calls"],
        "examples": sheet["counts"]["after_forward_synthesis"],
        "outside": 1 - usage["model_seconds"] / wall,
    }


def main() -> None:
    from tests.test_synthesis_scripted import scripted_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=int, default=100, help="fixed server latency per request")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--copies", type=int, default=4, help="variants of each corpus script")
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "corpus")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scripted_server(args.delay_ms / 1000) as base_url:
        corpus = make_corpus(args.corpus, args.copies, Path(tmp))
        run(corpus, base_url, 4)  # warm-up: imports, HTTP client, prompt templates
        serial = run(corpus, base_url, 1)
        parallel = run(corpus, base_url, args.concurrency)
    title = f"synthesis on {args.copies} variants of {args.corpus.name}: server latency {args.delay_ms} ms per request"
    table = Table(title=title)
    for column in (
        "concurrency",
        "wall s",
        "teacher calls",
        "examples",
        "calls/s",
        "time outside model calls",
    ):
        table.add_column(column, justify="right")
    for label, r in (("1", serial), (str(args.concurrency), parallel)):
        table.add_row(
            label,
            f"{r['wall']:.2f}",
            str(r["calls"]),
            str(r["examples"]),
            f"{r['calls'] / r['wall']:.1f}",
            f"{r['outside']:.1%}",
        )
    console.print(table)
    speedup = serial["wall"] / parallel["wall"]
    verdict = "meets" if speedup >= 10 else "misses"
    console.print(
        f"speed-up at concurrency {args.concurrency} vs 1: {speedup:.1f}x ({verdict} the 10x target)"
    )
    if serial["calls"] != parallel["calls"] or serial["examples"] != parallel["examples"]:
        console.print("[red]the two runs differ in calls or examples: outputs depend on timing[/]")
        sys.exit(1)


if __name__ == "__main__":
    main()
