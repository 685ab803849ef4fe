"""The Stage 2 prompt (N + X -> Fountain S) as the screenwriter node sends it, shared with Stage 2 training.

``dsr train --stage 2`` builds its rows with :func:`screenwriter_messages`, and the screenwriter node calls
the model with :func:`screenwriter_variables`, so the trained adapter reads byte for byte the prompt it is
served with (``prompts/screenwriter.md`` rendered with the heading and cast X implies).
"""

from __future__ import annotations

from dsr import prompts
from dsr.story.fountain_text import heading_hint
from dsr.story.schemas import TaskInput

PROMPT = "screenwriter"


def screenwriter_variables(x: TaskInput, prose: str, critique: str | None = None) -> dict[str, object]:
    """The variables ``prompts/screenwriter.md`` is rendered with for scene ``x`` and prose ``prose``."""
    return {
        "prose": prose,
        "heading_hint": heading_hint(x),
        "names": [c.name for c in x.characters],
        "critique": critique,
    }


def screenwriter_messages(x: TaskInput, prose: str, critique: str | None = None) -> list[tuple[str, str]]:
    """The screenwriter's prompt as (role, text) turns: system, then user."""
    return prompts.messages(PROMPT, **screenwriter_variables(x, prose, critique))
