"""Automatic pre-filters on teacher output against the real scene (DSR-SPEC 6 step 1 and 3.1).

Reverse synthesis risks the wrong level of detail and hallucination; these checks catch what a rule
can: outline beats with no trace in S, copied dialogue, characters that do not exist. Where a fix keeps
the example honest (dropping one untraceable beat, renaming a profile to the cue it obviously means)
it is applied and recorded as a coercion instead of discarding the example.
"""

from __future__ import annotations

import re

from dsr.screenplay.lint_rules.cast import normalise_name
from dsr.screenplay.lint_rules.core import text_of
from dsr.screenplay.model import Dialogue, Scene
from dsr.story.checks import beat_coverage
from dsr.story.schemas import CharacterProfile

COPY_CHARS = 16  # "no copied dialogue (>15 consecutive chars)"
_SPACE = re.compile(r"\s+")


class Invalid(ValueError):
    """Teacher output contradicts the scene; ``reason`` is the datasheet code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.lower()).strip()


def dialogue_lines(scene: Scene) -> list[str]:
    return [_norm(text_of(e)) for e in scene.elements if isinstance(e, Dialogue) and text_of(e).strip()]


def copied_dialogue(text: str, lines: list[str]) -> str | None:
    """The first span of more than 15 characters copied from a dialogue line, if any."""
    haystack = _norm(text)
    for line in lines:
        for start in range(0, max(0, len(line) - COPY_CHARS) + 1):
            piece = line[start : start + COPY_CHARS]
            if len(piece) == COPY_CHARS and piece.strip() and piece in haystack:
                return piece
    return None


def traceable_beats(beats: list[str], scene_text: str, names: list[str]) -> tuple[list[str], list[str]]:
    """Split beats into those with a lexical trace in S and those without (story.checks coverage)."""
    coverage = beat_coverage(beats, scene_text, "en", names)
    kept = [c.beat for c in coverage if c.covered]
    dropped = [c.beat for c in coverage if not c.covered]
    return kept, dropped


def match_profiles(
    profiles: list[CharacterProfile], cast: list[str]
) -> tuple[list[CharacterProfile], list[str]]:
    """Profiles keyed to the scene's canonical cue names: ``Cues in S ⊆ names in C``.

    A profile whose name or alias normalises to a cue is renamed to the cue; profiles of people who do
    not speak are dropped; a speaking character without a profile makes X incomplete and is an error.
    """
    notes: list[str] = []
    by_cue: dict[str, CharacterProfile] = {}
    for profile in profiles:
        spellings = [profile.name, *profile.aliases]
        cue = next((c for c in cast for s in spellings if normalise_name(s) == c), None)
        if cue is None:
            notes.append(f"dropped profile of a character who does not speak: {profile.name}")
            continue
        if cue in by_cue:
            continue
        if profile.name != cue:
            notes.append(f"renamed profile to its cue name: {profile.name} -> {cue}")
            profile = profile.model_copy(update={"name": cue})
        by_cue[cue] = profile
    missing = [c for c in cast if c not in by_cue]
    if missing:
        raise Invalid("characters-missing", f"no profile for {', '.join(missing)}")
    return [by_cue[c] for c in cast], notes
