"""The Stage 1 answer format the paper trains (X -> I_c + N): ``<directives>…</directives><novel>…</novel>``."""

from __future__ import annotations

import re

_DIRECTIVES = re.compile(r"<directives>(.*?)(?:</directives>|$)", re.DOTALL)
_NOVEL = re.compile(r"<novel>(.*?)(?:</novel>|$)", re.DOTALL)


def split_stage1(text: str) -> tuple[str | None, str]:
    """(directives text or None, prose) of a Stage 1 answer; lenient about a missing closing tag.

    Without a ``<novel>`` tag the prose is what follows ``</directives>``, or the whole answer when it has
    no tags at all; an answer cut off inside its directives has no prose.
    """
    directives = _DIRECTIVES.search(text)
    novel = _NOVEL.search(text)
    if novel:
        prose = novel.group(1)
    elif "</directives>" in text:
        prose = text.split("</directives>", 1)[1]
    else:
        prose = "" if directives else text
    return (directives.group(1).strip() if directives else None), prose.strip()
