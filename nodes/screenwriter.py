"""Stage 2: a Fountain screenplay scene S from prose N and X (names, heading facts)."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.language_models import BaseChatModel

from nodes.runtime import chat_model, guarded, scene_no, timed_node, write_artefact
from nodes.schemas import TaskInput, render_x
from nodes.stage_calls import StageOutput, call_prompt, stage_record

_FENCE = re.compile(r"^```[a-zA-Z]*\s*$", re.MULTILINE)


def heading_hint(x: TaskInput) -> str:
    """The heading X implies, e.g. 'INT. LIGHTHOUSE - NIGHT'; the model may keep or refine it."""
    o = x.outline
    prefix = (o.int_ext or "INT.").upper().rstrip(".") + "."
    return f"{prefix} {(o.location or 'UNKNOWN LOCATION').upper()} - {(o.time_of_day or 'DAY').upper()}"


def clean_fountain(text: str, x: TaskInput) -> str:
    """Strip Markdown fences a chat model wraps around its answer; ensure the scene opens with a heading.

    The heading is the one X implies when the model wrote none: a scene without a heading would not parse
    as a scene at all, and the critic's format checks still judge everything else the model wrote.
    """
    body = _FENCE.sub("", text).strip()
    first = body.splitlines()[0].strip().upper() if body else ""
    if not first.startswith(("INT", "EXT", "EST", "I/E", ".")):
        body = f"{heading_hint(x)}\n\n{body}"
    return body + "\n"


def write_screenplay(
    model: BaseChatModel, prose: str, x: TaskInput, critique: str | None = None
) -> StageOutput:
    out = call_prompt(
        model,
        "screenwriter",
        prose=prose,
        heading_hint=heading_hint(x),
        names=[c.name for c in x.characters],
        critique=critique,
    )
    out.text = clean_fountain(out.text, x)
    return out


def write_direct(model: BaseChatModel, x: TaskInput, critique: str | None = None) -> StageOutput:
    """The e2e baseline: X -> S in one call, no prose and no directives."""
    out = call_prompt(model, "e2e", x_text=render_x(x), heading_hint=heading_hint(x), critique=critique)
    out.text = clean_fountain(out.text, x)
    return out


@timed_node("screenwriter")
def screenwriter_node(state: dict[str, Any], runtime: Any) -> dict[str, Any]:
    x = TaskInput.model_validate(state["x"])
    number = scene_no(state)
    critique = dict(state.get("critique") or {})
    note = critique.pop("screenwriter", None)
    model = chat_model("screenwriter")
    if runtime.context.mode == "e2e":
        out = guarded("screenwriter", lambda: write_direct(model, x, note))
    else:
        out = guarded("screenwriter", lambda: write_screenplay(model, state.get("prose") or "", x, note))
    write_artefact(runtime.context.run_dir, number, "screenplay.fountain", out.text)
    return {"screenplay": out.text, "critique": critique, "calls": [stage_record(number, "screenwriter", out)]}
