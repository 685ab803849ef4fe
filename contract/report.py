"""report.json: per scene and in total, calls and tokens per role, wall time per node, retries per
stage with the critic's reasons, final lint findings and rubric score (docs/design.md).

Model calls, tokens and model seconds come from ``calls.jsonl`` (:mod:`dsr.contract.call_log`, the one count),
and so do the structured-output figures per role (mechanism, first-try validity, repair turns,
truncations: :func:`dsr.models.structured.tally` of the run's structured calls) and the failed calls (the
nodes' outcomes there: answers they could not use)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from dsr.contract.call_log import RunLog
from dsr.contract.records import CallRecord
from dsr.models.structured import tally
from dsr.screenplay.lint import lint_text, summarize


def _role_totals(logged: list[dict[str, Any]], records: Sequence[CallRecord]) -> dict[str, dict[str, float]]:
    """Per role: logged model calls, tokens and seconds; node outcomes whose answer was unusable."""
    totals: dict[str, dict[str, float]] = defaultdict(
        lambda: {"calls": 0, "failed_calls": 0, "input_tokens": 0, "output_tokens": 0, "seconds": 0.0}
    )
    for call in logged:
        bucket = totals[call.get("role") or "unknown"]
        bucket["calls"] += 1
        bucket["input_tokens"] += call["input_tokens"]
        bucket["output_tokens"] += call["output_tokens"]
        bucket["seconds"] = round(bucket["seconds"] + call["seconds"], 3)
    for record in records:
        totals[record["role"]]["failed_calls"] += 0 if record["ok"] else 1
    return dict(totals)


def _node_totals(timings: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for timing in timings:
        totals[timing["node"]] = round(totals[timing["node"]] + timing["seconds"], 4)
    return dict(totals)


def _retries(verdict_log: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for verdict in verdict_log:
        if verdict["decision"] == "revise":
            out[verdict["route"]].append({"attempt": verdict["attempt"], "reasons": verdict["reasons"]})
    return dict(out)


def rubric_status(record: Mapping[str, Any]) -> str:
    """``judged``, ``unjudged`` (the judge gave no verdict on the accepted draft) or ``off`` (not run on it)."""
    rubric = record.get("rubric") or {}
    return rubric.get("status") or ("judged" if rubric.get("score") is not None else "off")


def scene_status(record: Mapping[str, Any]) -> str:
    """The commit status, except that a draft passed on the deterministic checks alone because the judge
    failed is ``unjudged``: the rubric was on and never said it reached the pass mark."""
    if record["status"] == "passed" and rubric_status(record) == "unjudged":
        return "unjudged"
    return record["status"]


def scene_report(
    record: Mapping[str, Any],
    logged: list[dict[str, Any]],
    outcomes: Sequence[CallRecord],
    timings: Sequence[Mapping[str, Any]],
    structured: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    number = record["scene_no"]
    findings = lint_text(record["screenplay"])
    lint_summary = summarize(findings)
    return {
        "scene": number,
        "status": scene_status(record),
        "rubric_status": rubric_status(record),
        "roles": _role_totals(
            [c for c in logged if c.get("scene") == number], [o for o in outcomes if o["scene"] == number]
        ),
        "node_seconds": _node_totals([t for t in timings if t["scene"] == number]),
        "retries": _retries(record.get("verdict_log", [])),
        "structured": tally(e for e in structured if e.get("scene") == number),
        "critic_verdicts": record.get("verdict_log", []),
        "open_findings": record.get("open_findings", []),
        "rubric": record.get("rubric"),
        "lint": {
            "errors": lint_summary.errors,
            "warnings": lint_summary.warnings,
            "findings": [f.model_dump(mode="json") for f in findings if f.severity != "info"],
        },
    }


def build_report(state: Mapping[str, Any], context: dict[str, Any], log: RunLog) -> dict[str, Any]:
    """The report of a finished run from its final state and ``log``, its calls.jsonl
    (:func:`dsr.contract.call_log.read_run_log`: model calls, structured calls, node outcomes)."""
    logged, structured, outcomes = log
    timings = state.get("timings", [])
    scenes = [scene_report(r, logged, outcomes, timings, structured) for r in state.get("scenes", [])]
    spec = state.get("spec", {})
    scored = [s["rubric"]["score"] for s in scenes if s["rubric"] and s["rubric"].get("score") is not None]
    return {
        "title": spec.get("title"),
        "series": spec.get("series"),
        "episode": spec.get("episode"),
        "mode": context.get("mode"),
        "context": context,
        "scenes": scenes,
        "total": {
            "scenes": len(scenes),
            "passed": sum(s["status"] == "passed" for s in scenes),
            "judged": sum(s["rubric_status"] == "judged" for s in scenes),
            "unjudged": sum(s["rubric_status"] == "unjudged" for s in scenes),
            "roles": _role_totals(logged, outcomes),
            "node_seconds": _node_totals(timings),
            "wall_seconds": round(sum(t["seconds"] for t in timings), 2),
            "model_seconds": round(sum(c["seconds"] for c in logged), 2),
            "retries": sum(len(v) for s in scenes for v in s["retries"].values()),
            "lint_errors": sum(s["lint"]["errors"] for s in scenes),
            "scenes_lint_clean": sum(s["lint"]["errors"] == 0 for s in scenes),
            # This run's JSON calls per role, from calls.jsonl (every process of a resumed run).
            "structured": tally(structured),
            "mean_rubric_score": round(sum(scored) / len(scored), 2) if scored else None,
        },
    }
