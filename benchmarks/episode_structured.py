"""The example episode end to end, before vs after constrained decoding (embedded model, CPU).

Runs ``dsr write examples/harbor-lights.yaml`` (the ``make demo`` episode, with its output budgets and
``--max-retries 1``), rubric critic on, once per mode, each into its own run directory:
- ``before``: the old mechanism, prompt + repair-turn JSON (``DSR_<ROLE>__STRUCTURED=prompt`` for every JSON
  role) and no Fountain grammar for the screenwriter (``DSR_SCREENWRITER__FOUNTAIN_GRAMMAR=false``);
- ``after``: the defaults (the schema's grammar and the scene's Fountain grammar on the embedded model).

Every figure is read from the runs' own files: report.json (scenes, statuses, per-role structured tallies)
and calls.jsonl (model calls, and each structured call: mechanism, attempts, validity, truncations). Only
the process wall time is the script's own clock. The critic runs its rubric only on drafts that pass the
deterministic checks, so the number of rubric calls is itself a result. With ``--judge-accepted``, each
mode then also asks its critic for the rubric verdict on every committed scene of its run (the critic's
call: ``dsr.judging.rubric.judge_scene`` on the scene's inputs.json, prose.md and screenplay.fountain, in a
process with that mode's settings), counted by the product's own tally (``dsr.models.structured.counting``);
those figures go to ``OUT/<mode>-rubric.json``.

Usage: ``.venv/bin/python benchmarks/episode_structured.py [--scenes N] [--judge-accepted] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dsr.common.fsutil import write_json  # noqa: E402

console = Console()

EPISODE = ROOT / "examples" / "harbor-lights.yaml"
JSON_ROLES = ("planner", "critic", "judge", "teacher", "memory")  # every role that asks for a JSON object
DEMO_ENV = {  # the Makefile's DEMO_ENV: short outputs so the CPU model writes the episode in minutes
    "DSR_PLANNER__MAX_NEW_TOKENS": "256",
    "DSR_NOVELIST__MAX_NEW_TOKENS": "256",
    "DSR_SCREENWRITER__MAX_NEW_TOKENS": "256",
    "DSR_CRITIC__MAX_NEW_TOKENS": "192",
}
MODES: dict[str, dict[str, str]] = {
    "before": {
        **{f"DSR_{role.upper()}__STRUCTURED": "prompt" for role in JSON_ROLES},
        "DSR_SCREENWRITER__FOUNTAIN_GRAMMAR": "false",
    },
    "after": {},
}
RUBRIC_ROLE = "critic"  # the critic's rubric is the run's only critic-role structured call


def mode_env(mode: str, demo_budgets: bool) -> dict[str, str]:
    """The environment of one mode's run: no inherited mechanism settings, then the mode's own."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("__STRUCTURED", "__FOUNTAIN_GRAMMAR"))}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env | (DEMO_ENV if demo_budgets else {}) | MODES[mode]


def write(mode: str, run_dir: Path, args: argparse.Namespace) -> float:
    """``dsr write`` in a fresh run directory; returns the process wall time in seconds."""
    if run_dir.exists():
        if not (run_dir / "run.json").exists():
            raise SystemExit(f"{run_dir} exists and is not a dsr run; pick another --out")
        shutil.rmtree(run_dir)
    cmd = [str(ROOT / ".venv" / "bin" / "dsr"), "write", str(args.episode), "-o", str(run_dir)]
    cmd += ["--max-retries", str(args.max_retries)] + (["--scenes", str(args.scenes)] if args.scenes else [])
    overrides = " ".join(f"{k}={v}" for k, v in MODES[mode].items()) or "(defaults)"
    console.print(f"[bold]{mode}[/]: {overrides}\n  {' '.join(cmd)}")
    started = time.perf_counter()
    with (run_dir.parent / f"{mode}.log").open("w") as log:
        done = subprocess.run(
            cmd, env=mode_env(mode, args.demo_budgets), stdout=log, stderr=subprocess.STDOUT
        )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        console.print(
            f"[red]{mode}: dsr write exited {done.returncode}; see {run_dir.parent / f'{mode}.log'}[/]"
        )
    return seconds


def judge_accepted(run_dir: Path) -> dict[str, Any]:
    """The critic's rubric on every committed scene of ``run_dir``, as the critic node calls it, under this
    process's settings; the structured tally is the product's own."""
    from dsr.judging.rubric import judge_scene
    from dsr.models.factory import get_chat_model
    from dsr.models.settings import load_settings
    from dsr.models.structured import counting, tally
    from dsr.story.schemas import TaskInput

    model = get_chat_model(RUBRIC_ROLE, load_settings())
    rows = []
    with counting() as events:
        for scene in sorted(p for p in (run_dir / "scenes").iterdir() if p.is_dir()):
            x = TaskInput.model_validate_json((scene / "inputs.json").read_text())
            prose = scene / "prose.md"
            started = time.perf_counter()
            result = judge_scene(
                model,
                x,
                (scene / "screenplay.fountain").read_text(),
                prose=prose.read_text() if prose.exists() else None,
            )
            rows.append(
                {
                    "scene": scene.name,
                    "seconds": round(time.perf_counter() - started, 1),
                    "score": result.score,
                    "attempts": result.attempts,
                    "failure": result.failure_reason,
                    "verdicts": [v.model_dump(mode="json") for v in result.verdicts],
                }
            )
    return {"scenes": rows, "structured": tally(events)}


def run_judge(mode: str, run_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """:func:`judge_accepted` in a child process with ``mode``'s environment."""
    out = run_dir.parent / f"{mode}-rubric.json"
    cmd = [sys.executable, __file__, "--judge-run", str(run_dir), "--json", str(out)]
    console.print(f"[bold]{mode}[/]: rubric on the committed scenes of {run_dir}")
    with (run_dir.parent / f"{mode}-rubric.log").open("w") as log:
        subprocess.run(
            cmd, env=mode_env(mode, args.demo_budgets), stdout=log, stderr=subprocess.STDOUT, check=True
        )
    return json.loads(out.read_text())


def show_judged(mode: str, judged: dict[str, Any]) -> None:
    table = Table(title=f"{mode}: the critic's rubric on each committed scene (--judge-accepted)")
    for col in ("scene", "score", "model calls", "seconds", "failure"):
        table.add_column(col, justify="left" if col == "failure" else "right")
    for row in judged["scenes"]:
        score = "-" if row["score"] is None else f"{row['score']:g}"
        table.add_row(
            row["scene"], score, str(row["attempts"]), f"{row['seconds']:.0f}", row["failure"] or ""
        )
    console.print(table)
    for role, t in judged["structured"].items():
        console.print(
            f"{role}: {t['calls']} rubric calls ({', '.join(f'{k} {v}' for k, v in t['mechanisms'].items())}), "
            f"valid {t['calls'] - t['failures']}/{t['calls']}, first-try valid {t['first_try_valid']}/{t['calls']}, "
            f"repair turns {t['repair_turns']}, truncations {t['truncations']}"
        )


def figures(mode: str, run_dir: Path, wall: float | None) -> dict[str, Any]:
    """One run's figures, all from its report.json and calls.jsonl."""
    from dsr.contract.call_log import CALL_LOG, read_run_log

    report_path = run_dir / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {"scenes": [], "total": {}}
    total = report["total"]
    calls, structured, _ = read_run_log(run_dir / CALL_LOG)
    rubric = [e for e in structured if e["role"] == RUBRIC_ROLE]
    scenes = report["scenes"]
    per_role_calls: dict[str, int] = {}
    for call in calls:
        per_role_calls[call.get("role") or "unknown"] = (
            per_role_calls.get(call.get("role") or "unknown", 0) + 1
        )
    return {
        "mode": mode,
        "run_dir": str(run_dir),
        "finished": report_path.exists(),
        "scenes": len(scenes),
        "statuses": [s["status"] for s in scenes],
        "passed": total.get("passed", 0),
        "judged": total.get("judged", 0),
        "rubric_scores": [(s.get("rubric") or {}).get("score") for s in scenes],
        "rubric_calls": len(rubric),
        "rubric_valid": sum(e["valid"] for e in rubric),
        "rubric_first_try": sum(e["valid"] and e["attempts"] == 1 for e in rubric),
        "structured": total.get("structured", {}),
        "model_calls": len(calls),
        "model_calls_by_role": dict(sorted(per_role_calls.items())),
        "failed_model_calls": sum(not c["ok"] for c in calls),
        "output_tokens": sum(c["output_tokens"] for c in calls),
        "model_seconds": round(sum(c["seconds"] for c in calls), 1),
        "node_seconds": total.get("wall_seconds"),
        "process_seconds": None if wall is None else round(wall, 1),
        "retries": total.get("retries"),
    }


def share(n: int, d: int) -> str:
    return f"{n}/{d} ({n / d:.0%})" if d else f"{n}/0 (n/a)"


def show(result: dict[str, Any]) -> None:
    s = result["structured"]
    per_scene = result["model_calls"] / result["scenes"] if result["scenes"] else None
    per_passed = result["model_calls"] / result["passed"] if result["passed"] else None
    table = Table(
        title=f"{result['mode']}: {result['run_dir']}" + ("" if result["finished"] else " (NOT FINISHED)")
    )
    table.add_column("measure", justify="left")
    table.add_column("value", justify="right")
    rows = [
        ("scenes accepted (committed)", f"{result['scenes']}  {', '.join(result['statuses'])}"),
        ("scenes passed the critic", str(result["passed"])),
        ("critic reruns (retries)", str(result["retries"])),
        ("rubric calls", str(result["rubric_calls"])),
        ("rubric calls with a valid verdict", share(result["rubric_valid"], result["rubric_calls"])),
        (
            "rubric scores of accepted drafts",
            ", ".join("-" if v is None else f"{v:g}" for v in result["rubric_scores"]),
        ),
    ]
    for role, t in s.items():
        mech = ", ".join(f"{k} {v}" for k, v in t["mechanisms"].items())
        rows += [
            (f"{role}: structured calls ({mech})", str(t["calls"])),
            (f"{role}: first-try valid", share(t["first_try_valid"], t["calls"])),
            (f"{role}: repair turns", str(t["repair_turns"])),
            (f"{role}: truncations", str(t["truncations"])),
            (f"{role}: failures (no valid object)", str(t["failures"])),
        ]
    rows += [
        ("repair turns, all roles", str(sum(t["repair_turns"] for t in s.values()))),
        ("truncations, all roles", str(sum(t["truncations"] for t in s.values()))),
        (
            "model calls",
            f"{result['model_calls']}  "
            + ", ".join(f"{k} {v}" for k, v in result["model_calls_by_role"].items()),
        ),
        ("model calls per accepted scene", "-" if per_scene is None else f"{per_scene:.1f}"),
        ("model calls per passed scene", "-" if per_passed is None else f"{per_passed:.1f}"),
        ("output tokens", str(result["output_tokens"])),
        ("model seconds (calls.jsonl)", f"{result['model_seconds']:.0f}"),
        (
            "node seconds (report.json)",
            "-" if result["node_seconds"] is None else f"{result['node_seconds']:.0f}",
        ),
        (
            "process wall seconds",
            "-" if result["process_seconds"] is None else f"{result['process_seconds']:.0f}",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenes", type=int, help="write only the first N scenes (default: the whole episode)"
    )
    parser.add_argument("--episode", type=Path, default=EPISODE, help="episode YAML")
    parser.add_argument(
        "--out", type=Path, default=Path("/tmp/dsr-episode-structured"), help="run dirs go here"
    )
    parser.add_argument("--order", default="before,after", help="modes in the order they run")
    parser.add_argument("--max-retries", type=int, default=1, help="dsr write --max-retries (make demo: 1)")
    parser.add_argument(
        "--no-demo-budgets",
        dest="demo_budgets",
        action="store_false",
        help="role defaults, not make demo's budgets",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="read existing runs under --out, run nothing"
    )
    parser.add_argument(
        "--judge-accepted",
        action="store_true",
        help="then also run each mode's rubric on its committed scenes",
    )
    parser.add_argument("--judge-run", type=Path, help=argparse.SUPPRESS)  # the child of --judge-accepted
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.judge_run:
        write_json(args.json, judge_accepted(args.judge_run))
        return
    modes = [m.strip() for m in args.order.split(",") if m.strip()]
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown mode(s) {', '.join(sorted(unknown))}; modes are {', '.join(MODES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for mode in modes:
        run_dir = args.out / mode
        wall = None if args.report_only else write(mode, run_dir, args)
        results[mode] = figures(mode, run_dir, wall)
        show(results[mode])
    if args.judge_accepted:
        for mode in modes:
            results[mode]["judge_accepted"] = run_judge(mode, args.out / mode, args)
            show_judged(mode, results[mode]["judge_accepted"])
    if args.json:
        write_json(args.json, {"load_average": os.getloadavg(), "modes": results})
        console.print(f"written: {args.json}")


if __name__ == "__main__":
    main()
