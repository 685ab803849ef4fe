"""commit: the accepted scene becomes part of the story: its record, its summary and facts in memory."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import RunContext
from graph.state import SceneState
from memory import CharacterRecord, SceneRecord, open_memory
from nodes.runtime import scene_no, task_input, timed_node
from story.summary import scene_facts, scene_summary


def _status(verdicts: list[dict[str, Any]], last_review: dict[str, Any] | None) -> str:
    """How the scene was accepted; a pass on the deterministic checks alone because the rubric judge gave no
    verdict is ``unjudged``, never ``passed`` (report.json and ``dsr evaluate`` rows read this)."""
    if last_review and last_review.get("point") == "scene" and last_review.get("action") in ("approve", "edit"):
        return "approved_by_human" if last_review["action"] == "approve" else "edited_by_human"
    last = verdicts[-1] if verdicts else {"decision": "pass"}
    if last["decision"] != "pass":
        return "accepted_with_findings"
    return "unjudged" if (last.get("rubric") or {}).get("status") == "unjudged" else "passed"


@timed_node("commit")
def commit_node(state: SceneState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx, x, number = runtime.context, task_input(state), scene_no(state)
    verdicts = state.get("verdicts") or []
    last = verdicts[-1] if verdicts else {}
    open_findings = [f for f in last.get("findings", []) if f.get("severity") == "error"]
    summary, tail = scene_summary(x, state.get("prose") or state.get("screenplay"))
    record = {
        "scene_no": number,
        "status": _status(verdicts, state.get("last_review")),
        "screenplay": state.get("screenplay") or "",
        "prose": state.get("prose"),
        "directives": state.get("directives"),
        "summary": summary,
        "open_findings": open_findings,
        "rubric": last.get("rubric"),
        "retries": dict(state.get("retries") or {}),
        "verdict_log": [
            {
                "attempt": v["attempt"],
                "decision": v["decision"],
                "route": v["route"],
                "reasons": [f"{f['check']}: {f['message']}" for f in v["findings"] if f["severity"] == "error"],
                "rubric_score": (v.get("rubric") or {}).get("score"),
            }
            for v in verdicts
        ],
    }
    if ctx.memory_dir:
        meta = x.meta
        mem = open_memory(ctx.memory_dir)
        mem.delete_scene(meta.series, meta.episode, meta.scene_no)  # a rerun replaces, never duplicates
        mem.add_scene(
            SceneRecord(series=meta.series, episode=meta.episode, scene_no=meta.scene_no, summary=summary,
                        characters=list(x.outline.characters), tail=tail)
        )  # fmt: skip
        mem.add_facts(scene_facts(x))
        for profile in x.characters:
            if profile.name in x.outline.characters:
                mem.upsert_character(
                    CharacterRecord(series=meta.series, name=profile.name, aliases=profile.aliases,
                                    profile=profile.model_dump(mode="json"), episode=meta.episode,
                                    scene_no=meta.scene_no)
                )  # fmt: skip
    return {"accepted": record, "scenes": [record]}
