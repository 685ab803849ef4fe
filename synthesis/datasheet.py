"""The datasheet: what went in, what came out after each step, why things were dropped, under which
licences. Rebuilt after every review session so its counts always match the JSONL files beside it.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from dsr.common.fsutil import atomic_write, write_json
from dsr.story.checks import word_count
from dsr.synthesis.assemble import stage1_target
from dsr.synthesis.records import Example


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": min(values),
        "mean": round(statistics.fmean(values), 1),
        "median": statistics.median(values),
        "max": max(values),
    }


def length_stats(examples: list[Example]) -> dict[str, Any]:
    """Words and characters of X (rendered), I_c, N and S per example."""
    from dsr.story.schemas import render_x

    fields = {
        "X": [render_x(e.x) for e in examples],
        "I_c": [e.directives.model_dump_json() for e in examples],
        "N": [e.prose for e in examples],
        "S": [e.screenplay for e in examples],
        "stage1_target": [stage1_target(e.directives, e.prose) for e in examples],
    }
    return {
        name: {"chars": _stats([len(t) for t in texts]), "words": _stats([word_count(t) for t in texts])}
        for name, texts in fields.items()
    }


def build(run: dict[str, Any], examples: list[Example], split_summary: dict[str, Any]) -> dict[str, Any]:
    counts = dict(run["counts"])
    counts["in_datasets_after_review"] = split_summary["in_datasets"]
    licences = Counter(run["licences"][e.script] for e in examples if e.script in run["licences"])
    return {
        "counts": counts,
        "splits": split_summary["splits"],
        "series_by_split": split_summary["series_by_split"],
        "sources_by_split": split_summary["sources_by_split"],
        "review": split_summary["review"],
        "rejections": run["rejections"],
        "coercions": run["coercions"],
        "teacher": run["config"].get("teacher_name", ""),
        "examples_by_teacher": dict(Counter(e.teacher for e in examples)),
        "teacher_usage": run["usage"],
        "lengths": length_stats(examples),
        "licences": {"by_script": run["licences"], "examples_by_licence": dict(licences)},
        "config": run["config"],
    }


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _per_example(sheet: dict[str, Any]) -> str:
    usage, kept = sheet["teacher_usage"], sheet["counts"]["in_datasets_after_review"]
    total = sum(
        usage[k] for k in ("input_tokens", "output_tokens", "cached_input_tokens", "cached_output_tokens")
    )
    return f"{total / kept:,.0f}" if kept else "n/a (no examples)"


def render_markdown(sheet: dict[str, Any]) -> str:
    usage = sheet["teacher_usage"]
    parts = [
        "# Datasheet: DSR hybrid synthesis",
        f"Teacher: {sheet.get('teacher') or 'unknown'}"
        + (
            " (no model: X, I_c and N derived from each scene by rules, N rendered from its elements)"
            if sheet.get("teacher") == "rules"
            else ""
        ),
        "## Counts after each step",
        _table(list(sheet["counts"].items()), ("step", "count")),
        "## Splits (by source and series; no author, series or screenplay appears in two splits)",
        _table(
            [
                (
                    s,
                    n,
                    ", ".join(sheet.get("sources_by_split", {}).get(s, [])) or "-",
                    ", ".join(sheet["series_by_split"][s]) or "-",
                )
                for s, n in sheet["splits"].items()
            ],
            ("split", "examples", "sources", "series"),
        ),
        "## Human review",
        _table(list(sheet["review"].items()), ("status", "examples")),
        "## Rejections",
        _table(
            [
                (step, reason, n)
                for step, reasons in sheet["rejections"].items()
                for reason, n in reasons.items()
            ],
            ("step", "reason", "count"),
        ),
        "Every rejected item with its detail is in `rejections.jsonl`.",
        "## Lenient fixes applied to teacher output",
        _table(list(sheet["coercions"].items()), ("coercion", "count")) if sheet["coercions"] else "none",
        "## Teacher usage",
        _table(
            [
                (k, usage[k])
                for k in (
                    "calls",
                    "cache_hits",
                    "input_tokens",
                    "output_tokens",
                    "cached_input_tokens",
                    "cached_output_tokens",
                    "failures",
                )
            ],
            ("measure", "value"),
        ),
        f"Teacher tokens per example in the datasets (new and cached, in + out): {_per_example(sheet)}",
        "## Lengths of the examples in the datasets",
        _table(
            [
                (name, v["words"].get("mean", "-"), v["words"].get("max", "-"), v["chars"].get("mean", "-"))
                for name, v in sheet["lengths"].items()
            ],
            ("field", "mean words", "max words", "mean chars"),
        ),
        "## Source licences",
        _table(list(sheet["licences"]["by_script"].items()), ("script", "licence")),
        "Examples derived from CC BY-SA sources are adaptations and stay under CC BY-SA; keep the attributions "
        "of the corpus's LICENSES.md with the data.",
        "## Configuration",
        "```json",
        json.dumps(sheet["config"], indent=1, ensure_ascii=False),
        "```",
    ]
    return "\n\n".join(parts) + "\n"


def write(data_dir: Path, sheet: dict[str, Any]) -> None:
    write_json(data_dir / "datasheet.json", sheet)
    atomic_write(data_dir / "datasheet.md", render_markdown(sheet))
