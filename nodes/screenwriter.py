"""Stage 2: a Fountain screenplay scene S from prose N and X (names, heading facts)."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.runtime import Runtime

from dsr.contract.call_log import log_outcome
from dsr.contract.context import RunContext
from dsr.contract.state import SceneState
from dsr.nodes.runtime import call_role, scene_no, task_input, timed_node, write_artefact
from dsr.nodes.stage_calls import StageOutput, call_prompt, stage_record
from dsr.story.fountain_grammar import scene_grammar
from dsr.story.fountain_text import clean_fountain, heading_hint
from dsr.story.schemas import TaskInput, render_x
from dsr.story.stage2 import PROMPT, screenwriter_variables


def fountain_grammar(model: BaseChatModel, x: TaskInput, prose: str | None = None) -> dict[str, Any]:
    """The invoke kwargs that hold the answer to this scene's Fountain shape (story.fountain_grammar; with the
    ``prose`` it converts, only its characters speak): for in-process models when the role's
    ``fountain_grammar`` is on (unset: on for embedded)."""
    from dsr.models import constrained
    from dsr.models.local_chat import LocalChatModel

    if not isinstance(model, LocalChatModel) or not constrained.available():
        return {}
    on = model.config.fountain_grammar
    if not (model.provider == "embedded" if on is None else on):
        return {}
    return {"grammar": constrained.Grammar("ebnf", scene_grammar(x, heading_hint(x), prose))}


def write_screenplay(
    model: BaseChatModel, prose: str, x: TaskInput, critique: str | None = None
) -> StageOutput:
    out = call_prompt(
        model, PROMPT, fountain_grammar(model, x, prose), **screenwriter_variables(x, prose, critique)
    )
    out.text = clean_fountain(out.text, x)
    return out


def write_direct(model: BaseChatModel, x: TaskInput, critique: str | None = None) -> StageOutput:
    """The e2e baseline: X -> S in one call, no prose and no directives."""
    out = call_prompt(
        model,
        "e2e",
        fountain_grammar(model, x),
        x_text=render_x(x),
        heading_hint=heading_hint(x),
        critique=critique,
    )
    out.text = clean_fountain(out.text, x)
    return out


@timed_node("screenwriter")
def screenwriter_node(state: SceneState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    x, number, note = (
        task_input(state, runtime.context),
        scene_no(state),
        state.get("critique", {}).get("screenwriter"),
    )
    if runtime.context.mode == "e2e":
        out = call_role(runtime.context, "screenwriter", number, lambda model: write_direct(model, x, note))
    else:
        prose = state.get("prose") or ""
        out = call_role(
            runtime.context, "screenwriter", number, lambda model: write_screenplay(model, prose, x, note)
        )
    write_artefact(runtime.context.run_dir, number, "screenplay.fountain", out.text)
    log_outcome(stage_record(number, "screenwriter", out))
    return {"screenplay": out.text, "critique": {"screenwriter": None}}
