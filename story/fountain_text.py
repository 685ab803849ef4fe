"""A model's Fountain answer as a scene: chat preamble and fences removed, the heading X implies.

Shared by the screenwriter node, the run's artefacts and synthesis, so every path cleans an answer the
same way.
"""

from __future__ import annotations

import re

from dsr.screenplay.fountain_reader import is_scene_heading
from dsr.story.schemas import TaskInput

_FENCE = re.compile(r"^```[a-zA-Z]*\s*$", re.MULTILINE)
# What a chat model says around its answer: openers before the scene, closers after it. An opener is an
# interjection with its punctuation ("Sure!", "Okay,") or a sentence that presents the script ("Here's
# your script for the scene:"), so action such as "Great waves break" is never taken for one.
CHAT_OPENER = re.compile(
    r"^\W*(?:(?:sure|certainly|of course|absolutely|okay|ok|alright|great)\s*[!,.:]"
    r"|(?:here(?:'s|’s| is| are)|below is|i(?:'ve|’ve| have)? (?:written|rewritten|revised|created|adapted))\b"
    r".*\b(?:script|scene|screenplay|draft|version|rewrite|fountain)\b)",
    re.IGNORECASE,
)
CHAT_CLOSER = re.compile(r"^\W*(?:let me know|i hope|feel free|hope this|would you like)\b", re.IGNORECASE)
# "on the car deck", "up to the wheelhouse": a place the outline names, for a heading X has no location for.
_PLACE = re.compile(
    r"\b(?:in|into|inside|on|onto|at|aboard|outside|under|beneath|behind|beside|near|across|through|towards?"
    r"|(?:up|down|back|out|over) to)\s+the\s+"
    r"((?:[a-z][\w'-]*\s+){0,3}?[a-z][\w'-]*)"
    r"(?=\s+(?:as|and|while|when|where|with|to|for|before|after|until|but|or|so|because)\b|\s*[,.;:!?)]|\s*$)",
    re.IGNORECASE,
)
_NOT_A_PLACE = frozenset(
    {
        "morning",
        "evening",
        "afternoon",
        "night",
        "day",
        "dark",
        "darkness",
        "end",
        "meantime",
        "middle",
        "moment",
        "rain",
        "storm",
        "past",
        "future",
        "same",
        "first",
        "last",
        "next",
        "time",
        "way",
        "distance",
    }
)


def place_in_outline(x: TaskInput) -> str | None:
    """The first place the outline's synopsis (then its beats) names, e.g. 'car deck', or None."""
    for text in (x.outline.synopsis, *x.outline.beats):
        for match in _PLACE.finditer(text):
            place = " ".join(match.group(1).split())
            if place.split()[0].lower() not in _NOT_A_PLACE:
                return place
    return None


def heading_hint(x: TaskInput) -> str:
    """The heading X implies, e.g. 'INT. LIGHTHOUSE - NIGHT'; the model may keep or refine it.

    Without a location in the outline, the place its synopsis names ("the wheelhouse") comes before
    UNKNOWN LOCATION.
    """
    o = x.outline
    prefix = (o.int_ext or "INT.").upper().rstrip(".") + "."
    place = o.location or place_in_outline(x) or "UNKNOWN LOCATION"
    return f"{prefix} {place.upper()} - {(o.time_of_day or 'DAY').upper()}"


def clean_fountain(text: str, x: TaskInput) -> str:
    """Strip Markdown fences and a chat preamble around the answer; ensure the scene opens with a heading.

    The heading is the one X implies when the model wrote none: a scene without a heading would not parse
    as a scene at all, and the critic's format checks still judge everything else the model wrote. The
    preamble goes first, so X's heading is never put above the model's own ("Here's your script:").
    """
    lines = _FENCE.sub("", text).strip().splitlines()
    while lines and CHAT_OPENER.match(lines[0]) and not is_scene_heading(lines[0]):
        del lines[0]  # the chat paragraph runs to a blank line or to the model's heading
        while lines and lines[0].strip() and not is_scene_heading(lines[0]):
            del lines[0]
        while lines and not lines[0].strip():
            del lines[0]
    body = "\n".join(lines)
    if not body or not is_scene_heading(body.splitlines()[0]):
        body = f"{heading_hint(x)}\n\n{body}".rstrip()
    return body + "\n"
