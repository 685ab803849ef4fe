"""Stage 1: screenplay-oriented novel prose N from X (+ creative directives I_c, + critique on a rerun).

With ``prompt = "stage1"`` the novelist is a model fine-tuned by ``dsr train``: it gets exactly the SFT
prompt (``prompts/stage1.md`` with X), answers ``<directives>…</directives><novel>…</novel>``, and the
prose is the text inside ``<novel>``.

When the planner is the same model (split decoding, nodes/stage1_split.py) the novelist continues the
planner's half of that answer: the directives as the model wrote them (or as a person edited them), then
``<novel>``; a rerun for a novelist-blamed finding keeps the directives and continues from
``…</directives>\n<note>critique</note>\n<novel>``. The whole answer goes to ``stage1_answer.txt``.

With a different planner the SFT prompt has no slot for the planner's directives or the critic's notes (the
model was not trained with them), so a rerun resamples; the planner's directives stay in the state and the
model's own are kept as an artefact (``novelist_directives.json``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.runtime import Runtime

from dsr.contract.call_log import log_outcome
from dsr.contract.context import RunContext
from dsr.contract.state import SceneState
from dsr.nodes.runtime import call_role, directives_of, scene_no, task_input, timed_node, write_artefact
from dsr.nodes.stage1_split import continue_novel, new_answer_id, planner_half, split_decoding
from dsr.nodes.stage_calls import StageOutput, call_prompt, min_prose_kwargs, stage_record
from dsr.story.schemas import CreativeDirectives, TaskInput, render_x
from dsr.story.stage1 import split_stage1


def write_prose(
    model: BaseChatModel,
    x: TaskInput,
    directives: CreativeDirectives | None = None,
    critique: str | None = None,
) -> StageOutput:
    directives_text = directives.model_dump_json(indent=1, exclude_defaults=True) if directives else None
    return call_prompt(
        model,
        "novelist",
        min_prose_kwargs(model),
        x_text=render_x(x),
        directives_text=directives_text,
        critique=critique,
    )


def write_stage1(model: BaseChatModel, x: TaskInput) -> tuple[StageOutput, str | None]:
    """One call of a ``dsr train`` model on the SFT prompt; returns the prose output and its own directives."""
    out = call_prompt(model, "stage1", x_text=render_x(x))
    directives, prose = split_stage1(out.text)
    return replace(out, text=prose), directives


def _parsed(directives: str | None) -> Any:
    try:
        return json.loads(directives) if directives else None
    except json.JSONDecodeError:
        return None


@timed_node("novelist")
def novelist_node(state: SceneState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    x, number, note = (
        task_input(state, runtime.context),
        scene_no(state),
        state.get("critique", {}).get("novelist"),
    )
    if split_decoding(runtime.context):
        part = planner_half(state.get("stage1"), state.get("directives"))
        stage1 = state.get("stage1")
        answer = (stage1["answer"] if stage1 else None) or new_answer_id(number)
        out, whole = call_role(
            runtime.context,
            "novelist",
            number,
            lambda model: continue_novel(model, x, part, note),
            tags={"dsr_split": "novel" if part else "whole", "dsr_answer": answer},
        )
        write_artefact(runtime.context.run_dir, number, "stage1_answer.txt", whole + "\n")
        out.prompt = "stage1-split" if part else "stage1"
    elif runtime.context.role_config("novelist").prompt == "stage1":
        out, own = call_role(runtime.context, "novelist", number, lambda model: write_stage1(model, x))
        write_artefact(
            runtime.context.run_dir, number, "novelist_directives.json", {"raw": own, "parsed": _parsed(own)}
        )
    else:
        out = call_role(
            runtime.context,
            "novelist",
            number,
            lambda model: write_prose(model, x, directives_of(state, runtime.context), note),
        )
    write_artefact(runtime.context.run_dir, number, "prose.md", out.text + "\n")
    log_outcome(stage_record(number, "novelist", out))
    return {"prose": out.text, "critique": {"novelist": None}}
