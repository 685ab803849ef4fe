"""Precision and recall of the continuity critic (``N5-continuity``) on the continuity test set.

The set (``tests/data/continuity/items.yaml``, :mod:`dsr.evaluation.continuity_set`): drafts with planted
contradictions (someone who left is on deck, a key in the wrong hands, a secret known before it was told, an
injury forgotten, the dead walking, a relationship carried on) and clean controls, each with the facts memory
holds before it. Every item goes through :func:`dsr.judging.continuity.check_continuity` exactly as the critic
node calls it (the facts in force, the draft, the prose when the item has one), with:

- ``embedded``: the ``memory`` role as configured (``DSR_MEMORY__*`` / dsr.toml): by default the packaged
  SmolLM2-135M with grammar-constrained answers; point the role at a capable model to measure that model;
- ``served``: a scripted-capable model (``tests.served_models:ScriptedClerk``) behind ``dsr serve``'s app,
  reached through the ``openai`` provider with ``response_format`` json_schema: it answers what a capable
  model would, so its figures measure the pipeline around the model (prompt, wire, validation, citing the
  fact and the line, blame), not a model's judgement.

``--extract`` measures fact extraction instead, on the same drafts: how many answers validate, how many facts
the model proposes, how many survive grounding (quote in the scene, subject a character) and why the rest
are dropped.

Usage: ``nice .venv/bin/python benchmarks/continuity.py [--models embedded,served] [--limit N] [--extract]
[--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from dsr.evaluation.continuity_set import ItemResult, load_continuity_set, score  # noqa: E402
from dsr.judging.continuity import check_continuity  # noqa: E402


@contextmanager
def model_for(kind: str) -> Iterator[Any]:
    from dsr.models.factory import build_chat_model
    from dsr.models.settings import RoleConfig, load_settings

    if kind == "embedded":
        yield build_chat_model("memory", load_settings().role("memory"))
        return
    from tests.servers import served_chat_model

    with served_chat_model("tests.served_models:ScriptedClerk", "clerk", 0) as base_url:
        config = RoleConfig(
            provider="openai", base_url=base_url, model="clerk", temperature=0.1, max_retries=0
        )
        yield build_chat_model("memory", config)


def run(kind: str, limit: int | None, console: Console) -> list[ItemResult]:
    items = load_continuity_set()[:limit]
    results = []
    with model_for(kind) as model:
        for item in items:
            started = time.perf_counter()
            try:
                got = check_continuity(
                    model, item.task_input(), item.in_force(), item.screenplay, prose=item.prose
                )
            except Exception as exc:  # an unusable answer: the critic records the draft as unchecked
                result = ItemResult(item, [], unchecked=True, seconds=time.perf_counter() - started)
                console.print(f"[dim]{kind} {item.id}: unchecked ({type(exc).__name__})[/]")
            else:
                cited = [
                    (item.label_of(fid), f.stage) for fid, f in zip(got.cited, got.findings, strict=True)
                ]
                result = ItemResult(item, cited, seconds=time.perf_counter() - started)
                console.print(
                    f"[dim]{kind} {item.id}: cited {[c for c, _ in cited]} (key {item.expect}); "
                    f"{len(got.dropped)} citation(s) dropped; {result.seconds:.1f} s[/]"
                )
            results.append(result)
    return results


def extraction(kind: str, limit: int | None, console: Console) -> dict[str, Any]:
    """Fact extraction on the set's drafts: valid answers, facts proposed, kept, dropped by reason."""
    from collections import Counter

    from dsr.story.extraction import extract_facts

    items = load_continuity_set()[:limit]
    out: dict[str, Any] = {
        "items": len(items),
        "valid": 0,
        "proposed": 0,
        "kept": 0,
        "dropped": Counter(),
        "attempts": 0,
        "seconds": 0.0,
        "kept_facts": [],
    }
    with model_for(kind) as model:
        for item in items:
            started = time.perf_counter()
            try:
                got = extract_facts(model, item.task_input(), item.screenplay, item.prose)
            except Exception as exc:
                console.print(f"[dim]{kind} extract {item.id}: failed ({type(exc).__name__})[/]")
                out["attempts"] += len(getattr(exc, "raw_outputs", None) or [None])
            else:
                out["valid"] += 1
                out["attempts"] += got.attempts
                out["proposed"] += len(got.facts) + len(got.dropped)
                out["kept"] += len(got.facts)
                out["dropped"].update(d["reason"].split(" '")[0] for d in got.dropped)
                out["kept_facts"] += [
                    f"{item.id}: [{f.kind}] {f.subject}: {f.text} <- {f.quote!r}" for f in got.facts
                ]
                console.print(
                    f"[dim]{kind} extract {item.id}: kept {len(got.facts)}, dropped {len(got.dropped)}[/]"
                )
            out["seconds"] += time.perf_counter() - started
    out["dropped"] = dict(out["dropped"])
    out["seconds_per_item"] = round(out.pop("seconds") / max(1, len(items)), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", default="embedded,served", help="embedded, served, or both (comma-separated)"
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N items")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument(
        "--extract", action="store_true", help="measure fact extraction on the drafts instead"
    )
    args = parser.parse_args()
    console = Console(width=140)
    if args.extract:
        got = {
            k.strip(): extraction(k.strip(), args.limit, console) for k in args.models.split(",") if k.strip()
        }
        for kind, figures in got.items():
            console.print(
                f"[bold]{kind}[/]: " + ", ".join(f"{k} {v}" for k, v in figures.items() if k != "kept_facts")
            )
            for line in figures["kept_facts"]:
                console.print(f"  {line}", markup=False)
        if args.out:
            args.out.write_text(json.dumps(got, indent=1, default=str))
        return
    table = Table(title="continuity critic on the continuity test set")
    for column in (
        "model",
        "items",
        "findings",
        "precision",
        "recall",
        "false alarms",
        "unchecked",
        "blame right",
        "s / item",
    ):
        table.add_column(column, justify="left" if column == "model" else "right")
    figures: dict[str, Any] = {}
    for kind in [k.strip() for k in args.models.split(",") if k.strip()]:
        results = run(kind, args.limit, console)
        s = score(results)
        s["seconds_per_item"] = round(sum(r.seconds for r in results) / max(1, len(results)), 2)
        s["per_item"] = {
            r.item.id: {"cited": r.cited, "key": r.item.expect, "unchecked": r.unchecked} for r in results
        }
        figures[kind] = s

        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{100 * value:.0f} %"

        table.add_row(
            kind,
            f"{s['items']} ({s['planted']} planted)",
            f"{s['findings']} ({s['true_findings']} true)",
            pct(s["precision"]),
            pct(s["recall"]),
            f"{s['false_alarms']} / {s['clean']}",
            str(s["unchecked"]),
            f"{s['blame_right']} / {s['blamed']}",
            f"{s['seconds_per_item']:.1f}",
        )
    console.print(table)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
