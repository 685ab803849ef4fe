"""What an accepted scene leaves for later scenes: a retrieval summary, its ending and its events."""

from __future__ import annotations

import re

from dsr.memory import Fact
from dsr.story.schemas import TaskInput

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def scene_summary(x: TaskInput, prose: str | None) -> tuple[str, str | None]:
    """A summary for retrieval (150-300 chars) and the scene's ending, derived without a model call.

    The outline says what happens and the accepted text says how it ended; that is what later scenes
    need, and it cannot drift from the accepted scene the way a small model's summary does.
    """
    sentences = [s for s in _SENTENCE.split((prose or "").strip()) if s]
    tail = " ".join(sentences[-2:])[-300:] if sentences else None
    summary = x.outline.synopsis.strip()
    if tail and len(summary) < 150:
        summary = f"{summary} It ends: {tail}"
    return summary[:300], tail


def scene_facts(x: TaskInput) -> list[Fact]:
    """Established events: the outline's beats (or its synopsis) with the characters they name."""
    meta = x.meta
    texts = x.outline.beats or [x.outline.synopsis]
    facts = []
    for text in texts:
        named = [n for n in x.outline.characters if re.search(rf"\b{re.escape(n)}\b", text, re.IGNORECASE)]
        facts.append(
            Fact(
                series=meta.series,
                episode=meta.episode,
                scene_no=meta.scene_no,
                text=text,
                characters=named or list(x.outline.characters),
                kind="event",
                source="outline",
            )
        )
    return facts
