"""N5: continuity checks against the story memory (a dead character must not act)."""

from __future__ import annotations

import re

from dsr.screenplay.lint import Cast
from dsr.screenplay.lint_rules.cast import normalise_name
from dsr.screenplay.lint_rules.core import text_of
from dsr.screenplay.model import Action, Character, Screenplay
from dsr.story.checks.helpers import _f
from dsr.story.checks.text import _QUOTED, _VERB_AFTER, LANGUAGES
from dsr.story.findings import Finding
from dsr.story.schemas import TaskInput


def _continuity_checks(
    x: TaskInput, prose: str | None, doc: Screenplay | None, facts: list[str], cast: Cast, language: str
) -> list[Finding]:
    """A character memory records as dead must not act or speak, unless this scene's outline brings them in."""
    if not facts:
        return []
    death = re.compile(LANGUAGES[language].death, re.IGNORECASE)
    in_outline = {cast.resolve(n) or normalise_name(n) for n in x.outline.characters}
    findings = []
    for member in cast.members:
        if member.name in in_outline:
            continue
        spellings = [member.name, *member.aliases]
        fact = next((f for f in facts if _dies_in(f, spellings, death)), None)
        if fact is None:
            continue
        in_prose = prose is not None and _acts_in(prose, spellings)
        in_screen = doc is not None and _on_screen(doc, cast, member.name, spellings)
        if in_prose or in_screen:
            findings.append(
                _f(
                    "N5-dead-character",
                    "novelist" if in_prose else "screenwriter",
                    f"{member.name} acts in this scene, but memory says: {fact}",
                    evidence=fact,
                    fix_hint=f"{member.name} is dead by this point of the story: leave them out or make it a memory",
                )
            )
    return findings


def _dies_in(fact: str, spellings: list[str], death: re.Pattern[str]) -> bool:
    """The name is the subject of a death phrase: at most three words before it."""
    names = "|".join(re.escape(s) for s in spellings if s.strip())
    return bool(
        re.search(rf"(?<!\w)(?:{names})(?:'s)?(?:\W+\w+){{0,3}}?\W+{death.pattern}", fact, re.IGNORECASE)
    )


def _acts_in(text: str, spellings: list[str]) -> bool:
    narration = _QUOTED.sub(" ", text)
    names = "|".join(re.escape(s) for s in spellings if s.strip())
    return any(
        _VERB_AFTER.match(narration[m.end() :])
        for m in re.finditer(rf"(?<!\w)(?:{names})(?!\w)", narration, re.IGNORECASE)
    )


def _on_screen(doc: Screenplay, cast: Cast, name: str, spellings: list[str]) -> bool:
    """The character has a cue (under any spelling), or acts in an action line."""
    elements = doc.all_elements()
    if any(isinstance(e, Character) and cast.resolve(e.name) == name for e in elements):
        return True
    return _acts_in("\n\n".join(text_of(e) for e in elements if isinstance(e, Action)), spellings)
