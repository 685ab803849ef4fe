"""Work saved by re-running downstream only (issue 18): an edit to scene 2's prose of a three-scene episode
vs writing the episode again, with the real embedded model.

Phases, each a real ``dsr`` command in its own process (so each pays the model load, as a writer would):
1. ``dsr write tests/data/room/three-scenes.yaml -o RUN --no-rubric --max-retries 0`` (or ``--reuse DIR``: a
   finished run written with the same settings, copied; its numbers are read from its files);
2. ``dsr edit RUN --scene 2 --stage prose FILE`` (a rewritten prose paragraph);
3. ``dsr resume RUN`` (and ``dsr resume RUN --approve`` while the critic sends the edit to review).
Reported per phase: model calls by (scene, role) from ``calls.jsonl``, node seconds (the graph's own timings:
model calls, checks, checkpoints, memory, files; no process start) and process wall seconds.

Usage: ``.venv/bin/python benchmarks/edit.py [--tokens 64] [--mode dsr] [--reuse DIR] [--json OUT]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dsr.common.fsutil import write_json  # noqa: E402

EPISODE = ROOT / "tests" / "data" / "room" / "three-scenes.yaml"
DSR = Path(sys.executable).parent / "dsr"
PROSE = (
    "Brennan stands in the kitchen doorway, soaked, his cap dripping on the flagstones. Mara sets the kettle on "
    "and pours him tea without a word. He mentions a sailor who stole a letter from the wreck and watches her "
    'face. A floorboard creaks upstairs. Mara does not look up. "The cat," she says, and pushes the sugar '
    "across the table to him. Brennan drinks slowly and says nothing more about the sailor."
)


def env(tokens: int) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DSR_")}
    small = {f"DSR_{role}__MAX_NEW_TOKENS": str(tokens) for role in ("PLANNER", "NOVELIST", "SCREENWRITER")}
    return {**clean, **small, "DSR_NOVELIST__SEED": "7", "DSR_SCREENWRITER__SEED": "7", "HF_HUB_OFFLINE": "1"}


def run(args: list[str], environ: dict[str, str]) -> tuple[int, float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(DSR), *args], env=environ, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    return done.returncode, time.perf_counter() - started, done.stdout + done.stderr


def node_seconds(run_dir: Path) -> float:
    from dsr.run.runner import run_state

    _, _, values = run_state(run_dir)
    return sum(t["seconds"] for t in values.get("timings", []))


def calls(run_dir: Path, since: int = 0) -> Counter:
    from dsr.contract.call_log import read_call_log

    logged = [c for c in read_call_log(run_dir / "calls.jsonl") if c.get("kind") is None][since:]
    return Counter(f"scene {c['scene']} {c['role']}" for c in logged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--mode", default="dsr")
    parser.add_argument(
        "--reuse", type=Path, help="a finished run of this episode written with the same settings"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    environ = env(args.tokens)
    work = Path(tempfile.mkdtemp(prefix="dsr-edit-bench-"))
    run_dir = work / "run"
    result: dict = {"tokens": args.tokens, "mode": args.mode, "episode": str(EPISODE.relative_to(ROOT))}
    if args.reuse:
        shutil.copytree(args.reuse, run_dir, ignore=shutil.ignore_patterns(".lock"))
        record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))  # the copy writes into itself
        old = record["context"]["run_dir"]
        for key in ("run_dir", "memory_dir"):
            if record["context"].get(key):
                record["context"][key] = record["context"][key].replace(old, str(run_dir), 1)
        write_json(run_dir / "run.json", record)
        write_wall = None
    else:
        code, write_wall, out = run(
            [
                "write",
                str(EPISODE),
                "-o",
                str(run_dir),
                "--mode",
                args.mode,
                "--no-rubric",
                "--max-retries",
                "0",
            ],
            environ,
        )
        assert code == 0, out
    write_calls = calls(run_dir)
    result["write"] = {
        "calls": sum(write_calls.values()),
        "by_scene_role": dict(write_calls),
        "node_seconds": round(node_seconds(run_dir), 1),
        "process_seconds": round(write_wall, 1) if write_wall else None,
    }
    before_calls, before_nodes = sum(write_calls.values()), node_seconds(run_dir)
    prose = work / "scene2.md"
    prose.write_text(PROSE + "\n", encoding="utf-8")
    code, edit_wall, out = run(
        ["edit", str(run_dir), str(prose), "--scene", "2", "--stage", "prose"], environ
    )
    assert code == 0, out
    from dsr.run.runner import run_state

    _, _, forked = run_state(run_dir)
    fork_nodes = sum(t["seconds"] for t in forked.get("timings", []))
    resume_wall, approvals = 0.0, 0
    code, wall, out = run(["resume", str(run_dir)], environ)
    resume_wall += wall
    while code == 3:  # the critic sent the writer's edit (or a later scene) to review
        approvals += 1
        code, wall, out = run(["resume", str(run_dir), "--approve"], environ)
        resume_wall += wall
    assert code == 0, out
    rerun = calls(run_dir, before_calls)
    result["edit"] = {
        "calls": sum(rerun.values()),
        "by_scene_role": dict(rerun),
        "approvals": approvals,
        "node_seconds": round(node_seconds(run_dir) - fork_nodes, 1),
        "edit_process_seconds": round(edit_wall, 1),
        "resume_process_seconds": round(resume_wall, 1),
    }
    result["calls_ratio"] = round(result["edit"]["calls"] / result["write"]["calls"], 2)
    result["node_seconds_ratio"] = round(result["edit"]["node_seconds"] / max(before_nodes, 1e-9), 2)
    print(json.dumps(result, indent=2))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
