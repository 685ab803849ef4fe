"""Stage 1: screenplay-oriented novel prose N from X (+ creative directives I_c, + critique on a rerun)."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from nodes.runtime import chat_model, guarded, scene_no, timed_node, write_artefact
from nodes.schemas import CreativeDirectives, TaskInput, render_x
from nodes.stage_calls import StageOutput, call_prompt, stage_record


def write_prose(
    model: BaseChatModel,
    x: TaskInput,
    directives: CreativeDirectives | None = None,
    critique: str | None = None,
) -> StageOutput:
    directives_text = directives.model_dump_json(indent=1, exclude_defaults=True) if directives else None
    return call_prompt(model, "novelist", x_text=render_x(x), directives_text=directives_text, critique=critique)


@timed_node("novelist")
def novelist_node(state: dict[str, Any], runtime: Any) -> dict[str, Any]:
    x = TaskInput.model_validate(state["x"])
    number = scene_no(state)
    critique = dict(state.get("critique") or {})
    directives = CreativeDirectives.model_validate(state["directives"]) if state.get("directives") else None
    note = critique.pop("novelist", None)
    out = guarded("novelist", lambda: write_prose(chat_model("novelist"), x, directives, note))
    write_artefact(runtime.context.run_dir, number, "prose.md", out.text + "\n")
    return {"prose": out.text, "critique": critique, "calls": [stage_record(number, "novelist", out)]}
