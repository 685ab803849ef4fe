"""The DSR graph's own cost and the critic's measurable value, side by side in one run.

For the demo episode with the real embedded model:
- orchestration overhead: wall time minus time inside model calls (from ``calls.jsonl``), as a share
  of wall time (target <= 2%); the rest is graph steps, checkpoints, memory, checks, files;
- model calls per accepted scene;
- share of scenes whose final screenplay passes the linter with the critic loop (retries on) and
  without it (first drafts accepted as they are): what the critic buys.
Retrieval latency at 10,000 stored scenes is measured by ``benchmarks/memory.py`` (same store code).

Usage: ``.venv/bin/python benchmarks/graph.py [--scenes 2] [--tokens 128]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
# This file is named like the project's `graph` package; the project root must come first on the path.
sys.path.insert(0, str(ROOT))
console = Console()


def run_episode(run_dir: Path, scenes: int, retries: int) -> dict:
    from dsr.contract.call_log import read_call_log
    from dsr.contract.context import RunContext
    from dsr.run.runner import drive, initial_input, start_run
    from dsr.story.episode_spec import load_episode

    spec = load_episode(ROOT / "examples" / "harbor-lights.yaml")
    spec.scenes = spec.scenes[:scenes]
    context = RunContext(
        run_dir=str(run_dir),
        memory_dir=str(run_dir / "memory"),
        max_retries_per_stage=retries,
        max_retries_per_scene=2 * retries,
    )
    context = start_run(spec, run_dir, context)
    started = time.perf_counter()
    result = drive(
        run_dir, context, initial_input(spec), on_update=lambda node, update: None, reviewer=lambda p: None
    )
    wall = time.perf_counter() - started
    calls = read_call_log(run_dir / "calls.jsonl")
    model_seconds = sum(c["seconds"] for c in calls)
    import json

    report = json.loads((run_dir / "report.json").read_text())
    accepted = len(result.state.get("scenes", []))
    return {
        "wall": wall,
        "model": model_seconds,
        "overhead_share": (wall - model_seconds) / wall,
        "calls_per_scene": len(calls) / max(accepted, 1),
        "lint_clean_share": report["total"]["scenes_lint_clean"] / max(accepted, 1),
        "passed": report["total"]["passed"],
        "accepted": accepted,
        "node_seconds": report["total"]["node_seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128, help="max_new_tokens of every role")
    args = parser.parse_args()
    for role in ("PLANNER", "NOVELIST", "SCREENWRITER", "CRITIC"):
        os.environ[f"DSR_{role}__MAX_NEW_TOKENS"] = str(args.tokens)

    from dsr.models.factory import get_chat_model

    get_chat_model("novelist")  # load (and convert) once, outside both measurements
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, retries in (("with critic loop", 2), ("without (first drafts)", 0)):
            rows[label] = run_episode(Path(tmp) / label.split()[0], args.scenes, retries)

    table = Table(title=f"Demo episode, {args.scenes} scenes, embedded model, {args.tokens} tokens per call")
    for column in ("run", "wall s", "in model calls s", "overhead share", "calls/scene", "lint-clean scenes"):
        table.add_column(column, justify="right")
    for label, row in rows.items():
        table.add_row(
            label,
            f"{row['wall']:.1f}",
            f"{row['model']:.1f}",
            f"{row['overhead_share']:.1%}",
            f"{row['calls_per_scene']:.1f}",
            f"{row['lint_clean_share']:.0%}",
        )
    console.print(table)
    with_loop, without = rows["with critic loop"], rows["without (first drafts)"]
    console.print(
        f"orchestration overhead (target <= 2%): {with_loop['overhead_share']:.1%} with the loop, "
        f"{without['overhead_share']:.1%} without; lint-clean share with/without the critic: "
        f"{with_loop['lint_clean_share']:.0%} / {without['lint_clean_share']:.0%}"
    )
    slowest = sorted(with_loop["node_seconds"].items(), key=lambda kv: -kv[1])[:6]
    console.print("time per node (with loop): " + ", ".join(f"{n} {s:.1f}s" for n, s in slowest))


if __name__ == "__main__":
    main()
