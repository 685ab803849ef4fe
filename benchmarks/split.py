"""Split decoding vs the two-call path for a Stage 1 novelist, same embedded model, measured side by side.

Both paths run the novelist with ``prompt = "stage1"`` on the embedded SmolLM2:

- **split**: planner and novelist are the same model, so they decode one answer in halves
  (nodes/stage1_split.py): the planner's half on the SFT prompt, the novel half continuing it with the KV
  cache of the planner's call;
- **two-call** (the path before split decoding): the planner on its own prompt (schema instructions,
  grammar, repair turn) and the novelist's own whole Stage 1 answer (its own directives, then the prose).
  The planner is made "another model" by a setting the embedded provider ignores (``device = "cpu"``).

1. Per scene (the planner and novelist nodes on each scene of the episode file, greedy, the two paths
   alternating so machine load drifts hit both): model calls, tokens prefilled (input tokens minus those a
   kept cache served), output tokens, wall seconds.
2. With ``--runs``: ``dsr write`` of the episode's first scenes on each path (``--max-retries 1``,
   ``--no-rubric``): model calls per accepted scene from calls.jsonl, per role.

Usage: ``.venv/bin/python benchmarks/split.py [--scenes 3] [--planner-tokens 256] [--novelist-tokens 128]
[--runs 2] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EPISODE = ROOT / "examples" / "harbor-lights.yaml"


def role_env(path: str, planner_tokens: int, novelist_tokens: int) -> dict[str, str]:
    env = {
        "DSR_NOVELIST__PROMPT": "stage1",
        "DSR_NOVELIST__TEMPERATURE": "0",
        "DSR_PLANNER__TEMPERATURE": "0",
        "DSR_PLANNER__MAX_NEW_TOKENS": str(planner_tokens),
        "DSR_NOVELIST__MAX_NEW_TOKENS": str(novelist_tokens),
    }
    if path == "two-call":
        env["DSR_PLANNER__DEVICE"] = "cpu"  # another model by configuration, the same weights in fact
    return env


def one_scene(path: str, x: dict[str, Any], run_dir: Path, tokens: tuple[int, int]) -> dict[str, Any]:
    from langchain_core.runnables import RunnableConfig
    from langchain_core.runnables.config import set_config_context

    from dsr.contract.call_log import CALL_LOG, CallLog, read_call_log
    from dsr.contract.context import RunContext, resolve_roles
    from dsr.nodes.novelist import novelist_node
    from dsr.nodes.planner import planner_node
    from dsr.nodes.stage1_split import split_decoding

    saved = dict(os.environ)
    os.environ.update(role_env(path, *tokens))
    try:
        context = RunContext(run_dir=str(run_dir), roles=resolve_roles(["planner", "novelist"]))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert split_decoding(context) is (path == "split")
    log = run_dir / CALL_LOG
    run_dir.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    state: dict[str, Any] = {"x": x, "critique": {}}
    started = time.perf_counter()
    with set_config_context(RunnableConfig(callbacks=[CallLog(log)])) as scoped:
        state |= scoped.run(planner_node, state, SimpleNamespace(context=context))
        state |= scoped.run(novelist_node, state, SimpleNamespace(context=context))
    seconds = time.perf_counter() - started
    calls = read_call_log(log)
    return {
        "calls": len(calls),
        "input_tokens": sum(c["input_tokens"] for c in calls),
        "cached_tokens": sum(c.get("cached_tokens", 0) for c in calls),
        "prefilled_tokens": sum(c["input_tokens"] - c.get("cached_tokens", 0) for c in calls),
        "output_tokens": sum(c["output_tokens"] for c in calls),
        "seconds": round(seconds, 2),
        "directives": state["directives"] is not None,
        "prose_chars": len(state.get("prose") or ""),
    }


def per_scene(scenes: int, tokens: tuple[int, int]) -> dict[str, Any]:
    from dsr.models.factory import get_chat_model
    from dsr.models.settings import load_settings
    from dsr.nodes.stage1_split import split_decoding  # noqa: F401 - imported before timing
    from dsr.story.episode_spec import load_episode

    spec = load_episode(EPISODE)
    warm = get_chat_model("novelist", load_settings())
    from langchain_core.messages import HumanMessage

    warm.invoke([HumanMessage("Hi")], max_new_tokens=1)
    # Both paths decode the directives under the same grammar: compile it before anything is timed.
    from dsr.models import constrained
    from dsr.models.constrained import Grammar
    from dsr.story.schemas import CreativeDirectives

    vocab = warm.loaded.model.config.vocab_size
    constrained.compile_grammar(warm.loaded.tokenizer, vocab, Grammar.json_schema(CreativeDirectives))
    rows: dict[str, list[dict[str, Any]]] = {"split": [], "two-call": []}
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(scenes):  # the episode's scenes in turn, again from the first when there are more
            x = spec.task_input(index % len(spec.scenes)).model_dump(mode="json")
            order = ("split", "two-call") if index % 2 == 0 else ("two-call", "split")
            for path in order:
                row = one_scene(path, x, Path(tmp) / path, tokens)
                rows[path].append(row)
                print(f"scene {index + 1} {path}: {json.dumps(row)}", flush=True)
    summary = {}
    for path, found in rows.items():
        summary[path] = {
            key: round(statistics.mean(r[key] for r in found), 2)
            for key in (
                "calls",
                "input_tokens",
                "cached_tokens",
                "prefilled_tokens",
                "output_tokens",
                "seconds",
            )
        }
    summary["prefilled_ratio_split_over_two_call"] = round(
        summary["split"]["prefilled_tokens"] / summary["two-call"]["prefilled_tokens"], 3
    )
    summary["seconds_ratio_split_over_two_call"] = round(
        summary["split"]["seconds"] / summary["two-call"]["seconds"], 3
    )
    return {"rows": rows, "mean_per_scene": summary}


def calls_per_accepted_scene(
    scenes: int, tokens: tuple[int, int], order: tuple[str, ...] = ("split", "two-call")
) -> dict[str, Any]:
    from dsr.contract.call_log import read_call_log

    out: dict[str, Any] = {}
    spec_text = EPISODE.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        episode = Path(tmp) / "episode.yaml"
        episode.write_text(spec_text, encoding="utf-8")
        for path in order:
            run = Path(tmp) / f"run-{path}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("DSR_")}
            env |= role_env(path, *tokens) | {"DSR_SCREENWRITER__MAX_NEW_TOKENS": "192"}
            started = time.perf_counter()
            result = subprocess.run(
                [
                    str(ROOT / ".venv" / "bin" / "dsr"),
                    "write",
                    str(episode),
                    "-o",
                    str(run),
                    "--scenes",
                    str(scenes),
                    "--max-retries",
                    "1",
                    "--no-rubric",
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - started
            if result.returncode != 0:
                raise SystemExit(f"dsr write ({path}) failed:\n{result.stderr[-2000:]}")
            calls = read_call_log(run / "calls.jsonl")
            report = json.loads((run / "report.json").read_text())
            accepted = len(report["scenes"])
            by_role: dict[str, int] = {}
            for call in calls:
                by_role[call["role"]] = by_role.get(call["role"], 0) + 1
            out[path] = {
                "accepted_scenes": accepted,
                "calls_per_scene": round(len(calls) / accepted, 2),
                "prefilled_tokens_per_scene": round(
                    sum(c["input_tokens"] - c.get("cached_tokens", 0) for c in calls) / accepted, 1
                ),
                "output_tokens_per_scene": round(sum(c["output_tokens"] for c in calls) / accepted, 1),
                "model_seconds_per_scene": round(sum(c["seconds"] for c in calls) / accepted, 1),
                "by_role_per_scene": {r: round(n / accepted, 2) for r, n in sorted(by_role.items())},
                "seconds_per_scene": round(seconds / accepted, 1),
                "statuses": [s.get("status") for s in report["scenes"]],
            }
            print(f"dsr write {path}: {json.dumps(out[path])}", flush=True)
    return out


NOVEL_NOTE = (
    "- [N1-coverage] the prose never shows the lantern (error); fix: Mara lifts her lantern and looks"
)
PLAN_NOTE = "- [P2-characters] the plan has no character plan for TOM (error); fix: add TOM to characters"


def note_effect(samples: int, tokens: tuple[int, int]) -> dict[str, Any]:
    """Does a ``<note>`` inside the answer change what the model writes? Sampled (T 0.7, seeds 0..K-1) with and
    without a note that asks for one checkable thing: the novel half must show the lantern (``lantern`` in the
    prose); the directives half must plan TOM (a character plan named TOM). Share of samples that comply."""
    from dsr.contract.context import RunContext, resolve_roles
    from dsr.nodes.runtime import chat_model
    from dsr.nodes.stage1_split import continue_novel, plan_directives, planner_half
    from dsr.story.episode_spec import load_episode

    spec = load_episode(EPISODE)
    x = spec.task_input(0)
    saved = dict(os.environ)
    os.environ.update(role_env("split", *tokens))
    os.environ.update({"DSR_PLANNER__TEMPERATURE": "0.7", "DSR_NOVELIST__TEMPERATURE": "0.7"})
    try:
        context = RunContext(roles=resolve_roles(["planner", "novelist"]))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    planner, novelist = chat_model(context, "planner"), chat_model(context, "novelist")
    import torch

    base = plan_directives(planner, x, None, "bench")
    part = planner_half(base.state(), base.result.value.model_dump(mode="json"))
    out: dict[str, Any] = {"samples": samples, "novel_note": NOVEL_NOTE, "plan_note": PLAN_NOTE}
    for label, note in (("without", None), ("with", NOVEL_NOTE)):
        hits = 0
        for seed in range(samples):
            torch.manual_seed(seed)
            prose = continue_novel(novelist, x, part, note)[0].text
            hits += "lantern" in prose.lower()
        out[f"novel_lantern_{label}_note"] = round(hits / samples, 3)
        print(f"novel half {label} note: lantern in {hits}/{samples}", flush=True)
    for label, note in (("without", None), ("with", PLAN_NOTE)):
        hits = 0
        for seed in range(samples):
            torch.manual_seed(seed)
            try:
                plan = plan_directives(planner, x, note, "bench").result.value
            except Exception:  # an unusable sample counts as not complying
                continue
            hits += any(c.name.upper() == "TOM" for c in plan.characters)
        out[f"plan_tom_{label}_note"] = round(hits / samples, 3)
        print(f"directives half {label} note: TOM planned in {hits}/{samples}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--scenes", type=int, default=4, help="scene passes per path (the episode's scenes in turn)"
    )
    parser.add_argument("--planner-tokens", type=int, default=256)
    parser.add_argument("--novelist-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=0, help="scenes per dsr write run (0: skip part 2)")
    parser.add_argument("--two-call-first", action="store_true", help="part 2: run the two-call path first")
    parser.add_argument(
        "--note-samples", type=int, default=0, help="samples per arm of the note test (0: skip)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (one is steadiest on a shared CPU)"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the dsr write subprocesses of part 2
    tokens = (args.planner_tokens, args.novelist_tokens)
    results: dict[str, Any] = {
        "scenes": args.scenes,
        "planner_tokens": tokens[0],
        "novelist_tokens": tokens[1],
        "threads": args.threads,
    }
    if args.scenes:
        results["per_scene"] = per_scene(args.scenes, tokens)
        print(json.dumps(results["per_scene"]["mean_per_scene"], indent=1), flush=True)
    if args.note_samples:
        results["note_effect"] = note_effect(args.note_samples, tokens)
    if args.runs:
        order = ("two-call", "split") if args.two_call_first else ("split", "two-call")
        results["runs"] = calls_per_accepted_scene(args.runs, tokens, order)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
