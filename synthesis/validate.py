"""Automatic pre-filters on teacher output against the real scene (DSR-SPEC 6 step 1 and 3.1).

Reverse synthesis risks the wrong level of detail and hallucination; these checks catch what a rule
can: outline beats with no trace in S, copied dialogue, characters that do not exist. Where a fix keeps
the example honest (dropping one untraceable beat, renaming a profile to the cue it obviously means)
it is applied and recorded as a coercion instead of discarding the example.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from dsr.screenplay.lint_rules.cast import normalise_name
from dsr.screenplay.lint_rules.core import text_of
from dsr.screenplay.model import Action, Dialogue, Scene
from dsr.story.checks import beat_coverage
from dsr.story.schemas import CharacterProfile

COPY_CHARS = 16  # "no copied dialogue (>15 consecutive chars)"
_SPACE = re.compile(r"\s+")
_WORDS = re.compile(r"[a-z0-9]+")
_PROPER = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+(?: [A-Z][a-z]+)*|[A-Z][a-zA-Z]+(?: [A-Z][a-zA-Z]+)+")
_SMALL = frozenset(["a", "an", "and", "the", "of", "to", "or"])


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


def copied_dialogue(text: str, lines: list[str], names: Iterable[str] = ()) -> str | None:
    """The first span of more than 15 characters copied from a dialogue line, if any.

    A span made only of the cast's names (and small words between them) is no copied line: X must name
    'SAMANTHA STRATA' even when someone says her name.
    """
    haystack = _norm(text)
    name_words = {w for n in names for w in _WORDS.findall(n.lower())}
    for line in lines:
        for start in range(0, max(0, len(line) - COPY_CHARS) + 1):
            piece = line[start : start + COPY_CHARS]
            if len(piece) == COPY_CHARS and piece.strip() and piece in haystack:
                if name_words and _only_names(piece, name_words):
                    continue
                return piece
    return None


def _only_names(piece: str, name_words: set[str]) -> bool:
    words = _WORDS.findall(piece)
    for i, word in enumerate(words):
        known = name_words | _SMALL
        edge_ok = (i == 0 and (len(word) <= 2 or any(n.endswith(word) for n in known))) or (
            i == len(words) - 1 and any(n.startswith(word) for n in known)
        )
        if word not in name_words and word not in _SMALL and not edge_ok:
            return False
    return bool(words)


def scene_names(scene: Scene, cast: list[str]) -> list[str]:
    """The cast, the heading's place and the proper nouns of S's action (capitalised mid-sentence): names
    X may use although someone says them."""
    names = [*cast, scene.heading.location or ""]
    for element in scene.elements:
        if isinstance(element, Action):
            names += _PROPER.findall(text_of(element))
    return [n for n in names if n]


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
