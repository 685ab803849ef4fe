"""Critic: deterministic checks first, then the 12-point rubric; every finding blames one stage.

The verdict decides where the draft goes: back to the earliest failing stage (fixing the plan
before the prose, the prose before the format) with the critique in its prompt, or on to commit.
Past the retry caps the scene is accepted with its open findings, or escalated to a human when
scene review is on. The rubric is skipped when the deterministic checks already fail.

Between the two, when memory holds facts in force about the scene's characters (``continuity_facts``, set by
retrieve_context), the continuity critic (:mod:`dsr.judging.continuity`, the ``memory`` role) checks the draft
against them; its ``N5-continuity`` findings cite a fact id and a draft line and route like any other, and
an answer it cannot use leaves the draft ``unchecked`` (the verdict's ``continuity`` record says why).

A judge that gives no usable verdict (unparseable answers after its repair turn, or an exception other
than an unreachable endpoint) leaves the draft **unjudged**: the verdict's rubric record says so, with
the reason, and routing goes on from the deterministic checks alone. It is never read as a pass mark;
report.json and ``dsr write`` show the scene as unjudged. An unreachable endpoint still pauses the run
(:class:`dsr.models.errors.ModelUnavailable`), so ``dsr resume`` judges the draft once it is back.
"""

from __future__ import annotations

import json
import time
from typing import Any

from langgraph.runtime import Runtime

from dsr.contract.call_log import log_outcome
from dsr.contract.context import RunContext
from dsr.contract.dumps import dump
from dsr.contract.records import CallRecord, Decision, RubricRecord, Verdict
from dsr.contract.state import SceneState
from dsr.judging.continuity import ContinuityRecord, check_continuity
from dsr.judging.rubric import RubricResult, judge_scene, rubric_findings
from dsr.memory import Fact
from dsr.models.errors import ModelUnavailable
from dsr.nodes.runtime import (
    call_record,
    call_role,
    directives_of,
    scene_no,
    task_input,
    timed_node,
    write_artefact,
)
from dsr.nodes.writer_edit import protect_decision
from dsr.story.checks import deterministic_checks
from dsr.story.checks.verdict import blocking
from dsr.story.findings import STAGES, Finding, Stage
from dsr.story.schemas import TaskInput


def effective_stage(stage: Stage, mode: str) -> Stage:
    """Stages that do not run in a mode hand their blame to the next one that does."""
    if mode == "e2e":
        return "screenwriter"
    if mode == "dsr-nocot" and stage == "planner":
        return "novelist"
    return stage


def decide(
    findings: list[Finding],
    retries: dict[str, int],
    *,
    mode: str,
    stage_cap: int,
    scene_cap: int,
    review_scene: bool,
) -> tuple[Decision, Stage | None]:
    """Pure routing decision from findings and retry counts (unit-tested with scripted verdicts)."""
    errors = [f for f in findings if f.severity == "error"]
    if not errors:
        return "pass", None
    blamed = sorted({effective_stage(f.stage, mode) for f in errors}, key=STAGES.index)
    stage = blamed[0]
    if retries.get(stage, 0) >= stage_cap or sum(retries.values()) >= scene_cap:
        return ("escalate" if review_scene else "accept_with_findings"), stage
    return "revise", stage


def rubric_record(
    result: RubricResult | None, pass_score: int, *, attempts: int, error: str | None = None
) -> RubricRecord:
    """What critique.json and report.json keep of one rubric call; no verdict means ``unjudged``.

    ``attempts`` are the model calls behind it, as calls.jsonl logs them (also when the judge raised).
    """
    if result is None or result.failed:
        reason = error or (result.failure_reason if result else None)
        return {
            "status": "unjudged",
            "score": None,
            "tier": None,
            "pass_score": pass_score,
            "failed": True,
            "reason": reason,
            "attempts": attempts,
        }
    return {
        "status": "judged",
        "score": result.score,
        "tier": result.tier,
        "pass_score": pass_score,
        "failed": False,
        "reason": None,
        "attempts": attempts,
        "coercions": result.coercions,
    }


def _judge(
    context: RunContext, number: int, x: TaskInput, screenplay: str, prose: str | None
) -> tuple[RubricResult | None, CallRecord]:
    """The rubric call and its record; None instead of a result when the judge raised (the scene stays unjudged)."""
    started = time.perf_counter()
    try:
        result = call_role(
            context, "critic", number, lambda model: judge_scene(model, x, screenplay, prose=prose)
        )
    except ModelUnavailable:
        raise  # the run pauses; `dsr resume` judges this draft once the endpoint is back
    except Exception as exc:  # a broken judge costs this draft its rubric score, not the run
        error = f"{type(exc).__name__}: {exc}"[:300]
        # How many requests went out before the exception is not known here; the failing one is counted.
        return None, call_record(
            number,
            "critic",
            "critic",
            requests=1,
            seconds=time.perf_counter() - started,
            ok=False,
            note=error,
        )
    return result, call_record(
        number,
        "critic",
        "critic",
        requests=result.attempts,
        seconds=time.perf_counter() - started,
        ok=not result.failed,
        note=result.failure_reason or "",
    )


def _continuity(
    context: RunContext, number: int, x: TaskInput, state: SceneState, prose: str | None
) -> tuple[list[Finding], ContinuityRecord, CallRecord]:
    """The continuity check (``memory`` role) against the facts in force for the scene's characters; a
    check that gives no usable answer leaves the draft ``unchecked`` (recorded), never failed."""
    facts = [Fact.model_validate(f) for f in state.get("continuity_facts") or []]
    directives = state.get("directives")
    started = time.perf_counter()
    try:
        got = call_role(
            context,
            "memory",
            number,
            lambda model: check_continuity(
                model,
                x,
                facts,
                state.get("screenplay") or "",
                prose=prose,
                directives=json.dumps(directives, ensure_ascii=False) if directives else None,
            ),
        )
    except ModelUnavailable:
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
        attempts = max(1, len(getattr(exc, "raw_outputs", None) or []))
        record = call_record(
            number,
            "critic",
            "memory",
            requests=attempts,
            seconds=time.perf_counter() - started,
            ok=False,
            note=error,
        )
        return [], {"status": "unchecked", "facts": len(facts), "reason": error, "attempts": attempts}, record
    record = call_record(
        number, "critic", "memory", requests=got.attempts, seconds=time.perf_counter() - started
    )
    return got.findings, got.record(), record


@timed_node("critic")
def critic_node(state: SceneState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx, x, number = runtime.context, task_input(state, runtime.context), scene_no(state)
    prose = state.get("prose") if ctx.mode != "e2e" else None
    findings = deterministic_checks(
        x,
        prose,
        state.get("screenplay"),
        directives=directives_of(state, ctx),
        known_facts=state.get("known_facts") or [],
    )
    calls: list[CallRecord] = []
    rubric: RubricRecord | None = None
    continuity: ContinuityRecord | None = None
    if state.get("continuity_facts") and not blocking(findings):
        found, continuity, call = _continuity(ctx, number, x, state, prose)
        findings, calls = [*findings, *found], [call]
    if ctx.use_rubric and not blocking(findings):
        result, record = _judge(ctx, number, x, state.get("screenplay") or "", prose)
        calls.append(record)
        error = None if result else record["note"]
        rubric = rubric_record(result, ctx.pass_score, attempts=record["requests"], error=error)
        if result is not None:
            findings += rubric_findings(result, ctx.pass_score)
    retries = dict(state.get("retries") or {})
    decision, stage = decide(
        findings,
        retries,
        mode=ctx.mode,
        stage_cap=ctx.max_retries_per_stage,
        scene_cap=ctx.max_retries_per_scene,
        review_scene="scene" in ctx.review,
    )
    decision = protect_decision(decision, stage, state.get("writer_edit"))  # a writer's edit goes to review
    critique: dict[str, str] = {}
    if decision == "revise" and stage is not None:
        retries[stage] = retries.get(stage, 0) + 1
        critique[stage] = "\n".join(f.as_critique() for f in findings if f.severity == "error")
    verdict: Verdict = {
        "attempt": len(state.get("verdicts") or []) + 1,
        "decision": decision,
        "route": stage,
        "findings": [dump(f) for f in findings],
        "rubric": rubric,
        "continuity": continuity,
    }
    verdicts = [*(state.get("verdicts") or []), verdict]
    write_artefact(ctx.run_dir, number, "critique.json", verdicts)
    log_outcome(*calls)
    return {"verdicts": verdicts, "retries": retries, "critique": critique}
