"""Stage 2: a Fountain screenplay scene S from prose N and X (names, heading facts)."""

from __future__ import annotations

import re

from langchain_core.language_models import BaseChatModel

from nodes.schemas import TaskInput
from nodes.stage_calls import StageOutput, call_prompt

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
