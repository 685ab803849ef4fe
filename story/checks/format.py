"""F1/F2/F3: rule checks on the screenwriter's screenplay S."""

from __future__ import annotations

import re

from dsr.screenplay.errors import ScreenplayError
from dsr.screenplay.fountain_reader import parse_fountain
from dsr.screenplay.lint import Cast, lint
from dsr.screenplay.lint import Finding as LintFinding
from dsr.screenplay.lint_rules.cast import normalise_name
from dsr.screenplay.lint_rules.core import text_of
from dsr.screenplay.model import Action, Character, Dialogue, Screenplay
from dsr.story.checks.helpers import _f, _first_action
from dsr.story.checks.prose import MIN_PROSE_WORDS
from dsr.story.checks.text import (
    _QUOTED,
    _WORD,
    LANGUAGES,
    _known_name_words,
    _name_words,
    beat_coverage,
    mentions,
    person_like_names,
    word_count,
)
from dsr.story.findings import Finding, Severity
from dsr.story.schemas import TaskInput

# Length bounds.
MIN_SCREENPLAY_SHARE = 0.20  # S words / N words
# Prose-only screenplays: a 135M model writes paragraphs of past-tense novel prose under a heading.
MIN_ACTION_PARAGRAPHS_WITHOUT_DIALOGUE = 3
PROSE_PARAGRAPH_WORDS = 45  # a screenplay action paragraph is 1-4 printed lines (~10-40 words)
PROSE_SHARE = 0.5  # share of action words in prose-like paragraphs that makes S prose
PAST_MARKERS_PER_PARAGRAPH = 2

_LINT_IDS: dict[str, str] = {"SP030": "F1-cast", "SP023": "F1-empty-dialogue"}
_F2_RULES: dict[str, tuple[str, Severity]] = {
    "SP042": ("F2-inner-state", "error"),
    "SP043": ("F2-inner-state", "error"),
    "SP045": ("F2-narration", "warning"),
}


def _parse(screenplay: str | None) -> tuple[Screenplay | None, list[Finding]]:
    if screenplay is None or not screenplay.strip():
        return None, [
            _f("F1-empty", "screenwriter", "there is no screenplay", fix_hint="write the scene in Fountain")
        ]
    try:
        return parse_fountain(screenplay), []
    except ScreenplayError as exc:
        return None, [_f("F1-parse", "screenwriter", f"the screenplay cannot be parsed: {exc}")]


def _screenplay_checks(
    x: TaskInput,
    prose: str | None,
    screenplay: str,
    doc: Screenplay,
    cast: Cast,
    beats: list[str],
    covered_in_prose: list[bool] | None,
    language: str,
) -> list[Finding]:
    findings = []
    if len(doc.scenes) != 1:
        findings.append(
            _f(
                "F1-heading",
                "screenwriter",
                "the screenplay has no scene heading"
                if not doc.scenes
                else f"the screenplay has {len(doc.scenes)} scene headings; one scene is expected",
                evidence=" | ".join(s.heading.text for s in doc.scenes[:3]),
                fix_hint="start with one heading such as 'INT. LIGHTHOUSE - NIGHT' and write only this scene",
            )
        )
    findings += _lint_findings(lint(doc, profiles=cast, source=screenplay, language=language))
    reason = prose_only_reason(doc, language)
    if reason:
        findings.append(
            _f(
                "F1-prose-only",
                "screenwriter",
                f"this is novel prose, not a screenplay: {reason}",
                evidence=_first_action(doc),
                fix_hint="short present-tense action lines; every spoken line under an ALL-CAPS character cue",
            )
        )
    findings += _fidelity(x, prose, doc, beats, covered_in_prose, cast, language)
    return findings


def _lint_findings(found: list[LintFinding]) -> list[Finding]:
    """Linter errors grouped by rule (one finding per rule keeps the revision prompt short)."""
    grouped: dict[str, list[LintFinding]] = {}
    for item in found:
        if item.severity == "error" or item.rule in _F2_RULES:
            grouped.setdefault(item.rule, []).append(item)
    findings = []
    for rule, items in grouped.items():
        first = items[0]
        check, severity = _F2_RULES.get(rule, (_LINT_IDS.get(rule, "F1-format"), "error"))
        where = f" (line {first.line})" if first.line else ""
        count = f" [{len(items)}x]" if len(items) > 1 else ""
        findings.append(
            _f(
                check,
                "screenwriter",
                f"{rule} {first.name}{count}: {first.message}{where}",
                severity=severity,
                evidence=first.excerpt,
            )
        )
    return findings


def prose_only_reason(doc: Screenplay, language: str = "en") -> str:
    """Why ``doc`` reads as novel prose rather than a screenplay, or '' when it does not.

    Prose-like action paragraphs are long (``PROSE_PARAGRAPH_WORDS`` words or more), carry quoted speech,
    or narrate in the past tense. A scene is prose when it has no dialogue and fewer than
    ``MIN_ACTION_PARAGRAPHS_WITHOUT_DIALOGUE`` action paragraphs, one of them long (a block of prose; a
    short silent establishing scene is not prose), or when at least two prose-like paragraphs hold
    ``PROSE_SHARE`` or more of its action words. Of the 28 scenes in the shared corpus only a formatting
    test page ("long long long ...") is flagged; the embedded model's Stage 2 draft in the tests is.
    """
    elements = doc.all_elements()
    actions = [text_of(e) for e in elements if isinstance(e, Action)]
    speeches = [e for e in elements if isinstance(e, Dialogue) and text_of(e).strip()]
    sizes = [word_count(a) for a in actions]
    if (
        not speeches
        and len(actions) < MIN_ACTION_PARAGRAPHS_WITHOUT_DIALOGUE
        and max(sizes, default=0) >= PROSE_PARAGRAPH_WORDS
    ):
        return f"no dialogue, only {len(actions)} action paragraph(s) of up to {max(sizes)} words"
    prose_like = [prose_like_paragraph(a, language) for a in actions]
    total = sum(sizes)
    share = sum(s for s, p in zip(sizes, prose_like, strict=True) if p) / total if total else 0.0
    if sum(prose_like) >= 2 and share >= PROSE_SHARE:
        return f"{sum(prose_like)} of {len(actions)} action paragraphs read like prose ({share:.0%} of action words)"
    return ""


def prose_like_paragraph(action: str, language: str = "en") -> bool:
    """An action paragraph that reads like novel prose: long, carrying quoted speech, or past-tense narration.

    Shared by :func:`prose_only_reason` and the evaluation's prose-leakage index, so both mean the same.
    """
    return (
        word_count(action) >= PROSE_PARAGRAPH_WORDS
        or any(len(q.split()) >= 3 for q in _QUOTED.findall(action))
        or len(re.findall(LANGUAGES[language].past_narration, action, re.IGNORECASE))
        >= PAST_MARKERS_PER_PARAGRAPH
    )


def _fidelity(
    x: TaskInput,
    prose: str | None,
    doc: Screenplay,
    beats: list[str],
    covered_in_prose: list[bool] | None,
    cast: Cast,
    language: str,
) -> list[Finding]:
    elements = doc.all_elements()
    text = "\n\n".join(
        [
            *(s.heading.text for s in doc.scenes),
            *(text_of(e) for e in elements if isinstance(e, Action | Dialogue)),
        ]
    )
    findings = []
    candidates = (
        beats
        if covered_in_prose is None
        else [b for b, ok in zip(beats, covered_in_prose, strict=True) if ok]
    )
    for miss in (c for c in beat_coverage(candidates, text, language, _name_words(x)) if not c.covered):
        findings.append(
            _f(
                "F3-coverage",
                "screenwriter",
                "an outline beat "
                + ("the prose covers " if prose is not None else "")
                + "is missing from the screenplay",
                evidence=miss.beat,
                fix_hint="keep every event of the prose, in order",
            )
        )
    if prose is None or not prose.strip():
        return findings
    prose_words, screen_words = word_count(prose), word_count(text)
    if prose_words >= MIN_PROSE_WORDS and screen_words < MIN_SCREENPLAY_SHARE * prose_words:
        findings.append(
            _f(
                "F3-too-short",
                "screenwriter",
                f"the screenplay keeps {screen_words} words of the prose's {prose_words} "
                f"(under {MIN_SCREENPLAY_SHARE:.0%}): most of the story was dropped",
                fix_hint="convert every event and spoken line of the prose",
            )
        )
    members = {m.name: m for m in cast.members}
    cues = {normalise_name(e.name): cast.resolve(e.name) for e in elements if isinstance(e, Character)}
    for cue, canonical in sorted(cues.items()):
        if canonical not in members:
            continue  # unknown cues are F1-cast; group cues (ALL, MARA AND TOM) name no one new
        member = members[canonical]
        spellings = [cue, member.name, *member.aliases]
        if not mentions(prose, spellings):
            findings.append(
                _f(
                    "F3-unknown-speaker",
                    "screenwriter",
                    f"{cue} speaks in the screenplay but is not in the prose",
                    evidence=cue,
                    fix_hint="add no characters: only those in the prose speak",
                )
            )
    known = _known_name_words(x) | {w.lower() for w in _WORD.findall(prose)}
    action = "\n\n".join(text_of(e) for e in elements if isinstance(e, Action))
    for name in sorted(n for n in person_like_names(action, language) if n.lower() not in known):
        findings.append(
            _f(
                "F3-new-name",
                "screenwriter",
                f"{name} appears in the screenplay but not in the prose",
                severity="warning",
                evidence=name,
                fix_hint="add no named characters, props or places",
            )
        )
    return findings
