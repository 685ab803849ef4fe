"""Evaluation judging throughput against a real OpenAI-compatible server on 127.0.0.1.

The server is ``dsr.models.server.create_app`` (the app behind ``dsr serve``) in its own process with a
fixed latency per request; behind it a scripted judge answers every rubric, pairwise and story prompt
with a valid verdict in microseconds (its score depends on the prompt, so outputs are deterministic).
The judge role is pointed at it exactly as a user would (``DSR_JUDGE__PROVIDER=openai``, base URL, a
dummy key variable), and the project's own judging runs: ``dsr.evaluation.judging.judge_eval`` (what
``dsr evaluate judge --concurrency N`` calls: rubric per output plus pairwise in both orders) and
``dsr.evaluation.calibration.calibrate`` (``dsr evaluate calibrate --concurrency N``). Reports, at
concurrency 1 and N measured side by side in one run: judge calls per item, wall time per item, the
speed-up.

Usage: ``.venv/bin/python benchmarks/evaluate.py [--items 8] [--delay-ms 100] [--concurrency 8]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
console = Console()
_TITLE = re.compile(r'"title":\s*"(\w+)"')
SYSTEMS = ("dsr", "e2e")


class ScriptedJudge(BaseChatModel):
    """A valid verdict for every judge prompt, chosen by a hash of the prompt (deterministic, instant)."""

    @property
    def _llm_type(self) -> str:
        return "scripted-judge"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        from dsr.models.messages import message_text, usage

        prompt = "\n".join(message_text(m) for m in messages)
        titles = _TITLE.findall(message_text(messages[-1]))
        digest = int(hashlib.sha256(prompt.encode()).hexdigest(), 16)
        schema = titles[-1] if titles else ""
        if schema == "PairVerdict":
            answer = {
                "winner": "AB"[digest % 2] if digest % 5 else "tie",
                "rationale": "Tighter scene, clearer turn.",
            }
        elif schema == "RubricVerdict":
            answer = {
                "score": 1 + digest % 12,
                "errors": {"plot_coherence": ["drifts"] if digest % 3 == 0 else []},
                "rationale": "Follows the outline; the middle sags.",
                "blame": None,
            }
        else:  # StoryVerdict and anything else with a score
            answer = {"score": 1 + digest % 12, "rationale": "Coherent, follows the prompt."}
        text = json.dumps(answer)
        return ChatResult(
            generations=[
                ChatGeneration(
                    message=AIMessage(content=text, usage_metadata=usage(len(prompt) // 4, len(text) // 4))
                )
            ]
        )


def judge_server(delay_s: float) -> AbstractContextManager[str]:
    from tests.servers import served_chat_model

    return served_chat_model("benchmarks.evaluate:ScriptedJudge", "scripted-judge", delay_s)


def make_eval(corpus: Path, n_items: int, target: Path) -> Path:
    """An EVAL_DIR as `dsr evaluate run` leaves it: N items, two systems and the human reference, from real scenes."""
    from dsr.evaluation import records
    from dsr.screenplay.fountain_reader import parse_fountain
    from dsr.screenplay.fountain_writer import write_fountain
    from dsr.screenplay.model import Screenplay

    scenes = []
    for path in sorted(corpus.glob("*.fountain")):
        doc = parse_fountain(path.read_text(encoding="utf-8"))
        scenes += [write_fountain(Screenplay(scenes=[s])) for s in doc.scenes if len(s.elements) >= 3]
    if len(scenes) < 3:
        raise SystemExit(f"{corpus}: too few scenes with three elements or more")
    set_dir, eval_dir = target / "set", target / "eval"
    items = [
        {
            "id": f"item{i:02d}",
            "heading": "",
            "script": "corpus",
            "series": "bench",
            "licence": "see corpus",
            "x": {
                "outline": {
                    "synopsis": f"Scene {i}: a confrontation that turns.",
                    "beats": ["arrival", "refusal", "turn"],
                },
                "characters": [{"name": "ALEX", "personality": "stubborn"}],
            },
            "reference": scenes[i % len(scenes)],
        }
        for i in range(n_items)
    ]
    records.write_items(set_dir, items)
    records.write_eval_config(
        eval_dir, {"set_dir": str(set_dir), "systems": {s: {"mode": s} for s in SYSTEMS}}
    )
    records.write_outputs(eval_dir, "human", records.human_outputs(items))
    for k, system in enumerate(SYSTEMS, start=1):
        rows = [
            records.output_row(it["id"], system, ok=True, screenplay=scenes[(i + k) % len(scenes)])
            for i, it in enumerate(items)
        ]
        records.write_outputs(eval_dir, system, rows)
    return eval_dir


def judge_run(template: Path, concurrency: int, n_items: int) -> dict[str, Any]:
    """`dsr evaluate judge` on a fresh copy (judging is cached per EVAL_DIR): rubric for every output + pairs."""
    from dsr.evaluation import records
    from dsr.evaluation.judging import judge_eval

    with tempfile.TemporaryDirectory() as tmp:
        eval_dir = Path(tmp) / "eval"
        shutil.copytree(template, eval_dir)
        started = time.perf_counter()
        summary = judge_eval(eval_dir, samples=1, pairwise=True, pairwise_human=True, concurrency=concurrency)
        wall = time.perf_counter() - started
        scores = records.read_judgments(records.judgments_path(eval_dir, summary["label"]))
        pairs = records.read_pairwise(records.pairwise_path(eval_dir, summary["label"]))
    pair_calls = sum(p.get("attempts", 1) for p in pairs)
    calls = sum(r["detail"]["attempts"] for r in scores if r.get("detail")) + pair_calls
    failed = sum(r["failed"] for r in scores) + sum(p["failed"] for p in pairs)
    return {
        "wall": wall,
        "calls": calls,
        "rubric": len(scores),
        "pairs": len(pairs),
        "failed": failed,
        "items": n_items,
    }


def calibration_run(concurrency: int, n_items: int) -> dict[str, Any]:
    from dsr.evaluation.calibration import calibrate
    from dsr.models.factory import get_chat_model

    model = get_chat_model("judge")
    result = calibrate(model, judge_label="bench", items=n_items, concurrency=concurrency, max_words=300)
    return {
        "wall": result["judge_seconds"],
        "stats_s": result["seconds"] - result["judge_seconds"],
        "calls": result["judge_calls"],
        "rubric": n_items,
        "pairs": 0,
        "failed": result["n_failed"],
        "items": n_items,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--items", type=int, default=8, help="test items (each: 3 outputs to score, 3 pairs x 2 orders)"
    )
    parser.add_argument(
        "--stories", type=int, default=16, help="HANNA stories for the calibration measurement"
    )
    parser.add_argument("--delay-ms", type=int, default=100, help="fixed server latency per request")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "corpus")
    args = parser.parse_args()
    os.environ.pop("DSR_CONFIG", None)
    with tempfile.TemporaryDirectory() as tmp, judge_server(args.delay_ms / 1000) as base_url:
        os.environ.update(
            {
                "DSR_JUDGE__PROVIDER": "openai",
                "DSR_JUDGE__BASE_URL": base_url,
                "DSR_JUDGE__MODEL": "scripted-judge",
                "DSR_JUDGE__API_KEY_ENV": "DSR_BENCH_KEY",
                "DSR_BENCH_KEY": "not-a-real-key",
            }
        )
        template = make_eval(args.corpus, args.items, Path(tmp))
        judge_run(template, 4, args.items)  # warm-up: imports, HTTP client, prompt templates
        results = {
            "judge": (judge_run(template, 1, args.items), judge_run(template, args.concurrency, args.items)),
            "calibrate": (calibration_run(1, args.stories), calibration_run(args.concurrency, args.stories)),
        }
    table = Table(title=f"evaluation judging, server latency {args.delay_ms} ms per request")
    for column in (
        "work",
        "concurrency",
        "items",
        "judge calls",
        "calls / item",
        "wall s",
        "wall s / item",
        "failed",
    ):
        table.add_column(column, justify="right")
    labels = {
        "judge": f"dsr evaluate judge ({len(SYSTEMS)} systems + human, rubric + pairwise both orders)",
        "calibrate": "dsr evaluate calibrate (HANNA stories)",
    }
    for work, runs in results.items():
        for concurrency, r in zip((1, args.concurrency), runs, strict=True):
            table.add_row(
                labels[work],
                str(concurrency),
                str(r["items"]),
                str(r["calls"]),
                f"{r['calls'] / r['items']:.1f}",
                f"{r['wall']:.2f}",
                f"{r['wall'] / r['items']:.3f}",
                str(r["failed"]),
            )
    console.print(table)
    for work, (serial, parallel) in results.items():
        console.print(
            f"{work}: speed-up at concurrency {args.concurrency} vs 1: {serial['wall'] / parallel['wall']:.1f}x"
        )
        if serial["calls"] != parallel["calls"] or serial["failed"] != parallel["failed"]:
            console.print(
                f"[red]{work}: the two runs differ in calls or failures: results depend on timing[/]"
            )
            sys.exit(1)


if __name__ == "__main__":
    main()
