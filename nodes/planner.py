"""Planner: creative directives I_c (exposition, pacing, per-character action and emotion) from X."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.runtime import Runtime

from graph.context import RunContext
from graph.state import SceneState
from models.structured import StructuredOutputError, StructuredResult, invoke_structured
from nodes.runtime import call_record, call_role, remember, scene_no, task_input, timed_node, write_artefact
from prompts import prompt_messages
from story.schemas import CreativeDirectives, TaskInput, render_x


def plan(model: BaseChatModel, x: TaskInput, critique: str | None = None) -> StructuredResult[CreativeDirectives]:
    messages = prompt_messages("planner", x_text=render_x(x), critique=critique)
    return invoke_structured(model, messages, CreativeDirectives, max_repairs=1)


@timed_node("planner")
def planner_node(state: SceneState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """On unusable output the scene goes on without directives (as in dsr-nocot); the report counts it."""
    x, number, note = task_input(state), scene_no(state), state.get("critique", {}).get("planner")
    started = time.perf_counter()
    try:
        result = call_role(runtime.context, "planner", number, lambda model: plan(model, x, note))
    except StructuredOutputError as exc:
        record = call_record(
            number, "planner", "planner", requests=len(exc.raw_outputs),
            seconds=time.perf_counter() - started, ok=False, note=str(exc)[:300],
        )  # fmt: skip
        write_artefact(runtime.context.run_dir, number, "directives.json", {"error": str(exc)})
        return {"directives": None, "critique": {"planner": None}, "calls": [record]}
    directives = result.value.model_dump(mode="json")
    remember(directives, result.value)
    write_artefact(runtime.context.run_dir, number, "directives.json", directives)
    record = call_record(
        number, "planner", "planner", requests=result.attempts,
        seconds=time.perf_counter() - started, note=f"attempts={result.attempts}",
    )  # fmt: skip
    return {"directives": directives, "critique": {"planner": None}, "calls": [record]}
