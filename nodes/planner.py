"""Planner: creative directives I_c (exposition, pacing, per-character action and emotion) from X.

When planner and novelist are one Stage 1 model (nodes/stage1_split.py) the planner decodes the directives
half of that model's answer on the SFT prompt instead of its own prompt; a rerun's critique goes into the
answer as a ``<note>`` before ``<directives>``. ``directives.json`` is then the Stage 1 model's own.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.runtime import Runtime

from dsr.contract.call_log import log_outcome
from dsr.contract.context import RunContext
from dsr.contract.state import SceneState
from dsr.models.structured import StructuredOutputError, StructuredResult, invoke_structured
from dsr.nodes.runtime import (
    call_record,
    call_role,
    remember,
    scene_no,
    task_input,
    timed_node,
    write_artefact,
)
from dsr.nodes.stage1_split import DirectivesHalf, new_answer_id, plan_directives, split_decoding
from dsr.prompts import prompt_messages
from dsr.story.plan_schema import directives_grammar
from dsr.story.schemas import CreativeDirectives, TaskInput, render_x


def plan(
    model: BaseChatModel, x: TaskInput, critique: str | None = None
) -> StructuredResult[CreativeDirectives]:
    messages = prompt_messages("planner", x_text=render_x(x), critique=critique)
    return invoke_structured(
        model, messages, CreativeDirectives, max_repairs=1, grammar=directives_grammar(x)
    )


@timed_node("planner")
def planner_node(state: SceneState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """On unusable output the scene goes on without directives (as in dsr-nocot); the report counts it."""
    x, number, note = (
        task_input(state, runtime.context),
        scene_no(state),
        state.get("critique", {}).get("planner"),
    )
    split = split_decoding(runtime.context)
    started = time.perf_counter()
    half: DirectivesHalf | None = None
    try:
        if split:
            answer = new_answer_id(number)
            half = call_role(
                runtime.context,
                "planner",
                number,
                lambda model: plan_directives(model, x, note, answer),
                tags={"dsr_split": "directives", "dsr_answer": answer},
            )
            result = half.result
        else:
            result = call_role(runtime.context, "planner", number, lambda model: plan(model, x, note))
    except StructuredOutputError as exc:
        record = call_record(
            number,
            "planner",
            "planner",
            requests=len(exc.raw_outputs),
            seconds=time.perf_counter() - started,
            ok=False,
            note=str(exc)[:300],
        )
        write_artefact(runtime.context.run_dir, number, "directives.json", {"error": str(exc)})
        log_outcome(record)
        return {"directives": None, "stage1": None, "critique": {"planner": None}}
    directives = result.value.model_dump(mode="json")
    remember(runtime.context, directives, result.value)
    write_artefact(runtime.context.run_dir, number, "directives.json", directives)
    how = f"split:directives answer={half.answer} " if half else ""
    record = call_record(
        number,
        "planner",
        "planner",
        requests=result.attempts,
        seconds=time.perf_counter() - started,
        note=f"{how}attempts={result.attempts}",
    )
    log_outcome(record)
    update = {"directives": directives, "critique": {"planner": None}}
    return update | ({"stage1": half.state()} if half else {})
