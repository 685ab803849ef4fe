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


# Split decoding (DSR-SPEC 1): the planner decodes up to DIRECTIVES_CLOSE, the novelist continues the same
# assistant turn from the directives (a person's edit included) after NOVEL_OPEN. Both are written exactly
# as the SFT targets are (synthesis/assemble.stage1_target: compact JSON, then "\n<novel>").
DIRECTIVES_OPEN, DIRECTIVES_CLOSE = "<directives>", "</directives>"
NOVEL_OPEN, NOVEL_CLOSE = "\n<novel>", "</novel>"


def note_block(critique: str | None) -> str:
    """A reviewer's note as the Stage 1 model reads it on a rerun: a ``<note>`` element inside its own answer,
    just before the part it rewrites (the SFT prompt has no slot for it); empty without a note."""
    return f"<note>\n{critique.strip()}\n</note>\n" if critique and critique.strip() else ""


def directives_prefix(directives_json: str, planner_note: str | None = None) -> str:
    """The planner's half of the answer: its note (if it was rerun with one) and the closed directives."""
    return f"{note_block(planner_note)}{DIRECTIVES_OPEN}{directives_json}{DIRECTIVES_CLOSE}"


def novel_prefix(directives_part: str, novelist_note: str | None = None) -> str:
    """What the novelist continues: the planner's half, a note for this rerun, then ``<novel>``."""
    note = note_block(novelist_note)
    return (
        f"{directives_part}\n{note.rstrip(chr(10))}{NOVEL_OPEN}" if note else f"{directives_part}{NOVEL_OPEN}"
    )
