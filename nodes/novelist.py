"""Stage 1: screenplay-oriented novel prose N from X (+ creative directives I_c, + critique on a rerun)."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from nodes.schemas import CreativeDirectives, TaskInput, render_x
from nodes.stage_calls import StageOutput, call_prompt


def write_prose(
    model: BaseChatModel,
    x: TaskInput,
    directives: CreativeDirectives | None = None,
    critique: str | None = None,
) -> StageOutput:
    directives_text = directives.model_dump_json(indent=1, exclude_defaults=True) if directives else None
    return call_prompt(model, "novelist", x_text=render_x(x), directives_text=directives_text, critique=critique)
