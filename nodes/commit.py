"""commit: the accepted scene becomes part of the story: its record, its summary and facts in memory.

With a story memory, the ``memory`` role extracts typed facts from the accepted scene first
(:mod:`dsr.story.extraction`); they go to memory with the outline's events, and ``scenes/NN/facts.json`` keeps
what was stored and what was dropped. An extraction that fails (no valid answer, a broken model) is
recorded there and in the scene's record, and the scene is committed without extracted facts; an
unreachable endpoint pauses the run before memory is touched, so ``dsr resume`` extracts again.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from dsr.contract.call_log import log_outcome
from dsr.contract.context import RunContext
from dsr.contract.records import AcceptedScene, CallRecord, ReviewDecision, RubricRecord, SceneStatus, Verdict
from dsr.contract.state import SceneState
from dsr.memory import CharacterRecord, Fact, SceneRecord
from dsr.models.errors import ModelUnavailable
from dsr.nodes.runtime import (
    call_record,
    call_role,
    scene_no,
    story_memory,
    task_input,
    timed_node,
    write_artefact,
)
from dsr.story.extraction import extract_facts
from dsr.story.schemas import TaskInput
from dsr.story.summary import scene_facts, scene_summary


def _status(verdicts: list[Verdict], last_review: ReviewDecision | None) -> SceneStatus:
    """How the scene was accepted; a pass on the deterministic checks alone because the rubric judge gave no
    verdict is ``unjudged``, never ``passed`` (report.json and ``dsr evaluate`` rows read this)."""
    if (
        last_review
        and last_review.get("point") == "scene"
        and last_review.get("action") in ("approve", "edit")
    ):
        return "approved_by_human" if last_review["action"] == "approve" else "edited_by_human"
    if not verdicts:
        return "passed"
    if verdicts[-1]["decision"] != "pass":
        return "accepted_with_findings"
    rubric = verdicts[-1].get("rubric")
    return "unjudged" if rubric and rubric.get("status") == "unjudged" else "passed"


def _score(rubric: RubricRecord | None) -> float | None:
    return rubric.get("score") if rubric else None


def extract(
    ctx: RunContext, number: int, x: TaskInput, screenplay: str | None, prose: str | None
) -> tuple[list[Fact], dict[str, Any], CallRecord]:
    """The scene's extracted facts, what ``facts.json`` records of the extraction, and its call record."""
    started = time.perf_counter()
    try:
        got = call_role(ctx, "memory", number, lambda model: extract_facts(model, x, screenplay, prose))
    except ModelUnavailable:
        raise  # the run pauses before memory is written; `dsr resume` extracts again
    except Exception as exc:  # a failed extraction costs the scene its extracted facts, never the scene
        error = f"{type(exc).__name__}: {exc}"[:300]
        raw = getattr(exc, "raw_outputs", None) or []
        record = call_record(
            number,
            "commit",
            "memory",
            requests=max(1, len(raw)),
            seconds=time.perf_counter() - started,
            ok=False,
            note=error,
        )
        return [], {"status": "failed", "reason": error, "attempts": record["requests"], "facts": []}, record
    record = call_record(
        number, "commit", "memory", requests=got.attempts, seconds=time.perf_counter() - started
    )
    return got.facts, got.summary(), record


@timed_node("commit")
def commit_node(state: SceneState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx, x, number = runtime.context, task_input(state, runtime.context), scene_no(state)
    verdicts = state.get("verdicts") or []
    last = verdicts[-1] if verdicts else None
    open_findings = [f for f in last["findings"] if f.get("severity") == "error"] if last else []
    summary, tail = scene_summary(x, state.get("prose") or state.get("screenplay"))
    record: AcceptedScene = {
        "scene_no": number,
        "status": _status(verdicts, state.get("last_review")),
        "screenplay": state.get("screenplay") or "",
        "prose": state.get("prose"),
        "directives": state.get("directives"),
        "summary": summary,
        "open_findings": open_findings,
        "rubric": last.get("rubric") if last else None,
        "retries": dict(state.get("retries") or {}),
        "verdict_log": [
            {
                "attempt": v["attempt"],
                "decision": v["decision"],
                "route": v["route"],
                "reasons": [
                    f"{f['check']}: {f['message']}" for f in v["findings"] if f["severity"] == "error"
                ],
                "rubric_score": _score(v.get("rubric")),
            }
            for v in verdicts
        ],
    }
    calls: list[CallRecord] = []
    if ctx.memory_dir:
        meta = x.meta
        extracted, extraction, call = extract(ctx, number, x, state.get("screenplay"), state.get("prose"))
        calls.append(call)
        record["facts"] = {
            "status": extraction["status"],
            "attempts": extraction["attempts"],
            "extracted": len(extracted),
        }
        write_artefact(ctx.run_dir, number, "facts.json", extraction)
        mem = story_memory(ctx)
        mem.delete_scene(meta.series, meta.episode, meta.scene_no)  # a rerun replaces, never duplicates
        mem.add_scene(
            SceneRecord(
                series=meta.series,
                episode=meta.episode,
                scene_no=meta.scene_no,
                summary=summary,
                characters=list(x.outline.characters),
                tail=tail,
            )
        )
        mem.add_facts([*scene_facts(x), *extracted])
        for profile in x.characters:
            if profile.name in x.outline.characters:
                mem.upsert_character(
                    CharacterRecord(
                        series=meta.series,
                        name=profile.name,
                        aliases=profile.aliases,
                        profile=profile.stored(),
                        episode=meta.episode,
                        scene_no=meta.scene_no,
                    )
                )
    log_outcome(*calls)
    return {"accepted": record, "scenes": [record]}
