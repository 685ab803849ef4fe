"""N1/N3/N4: rule checks on the novelist's prose N."""

from __future__ import annotations

import re

from dsr.screenplay.lexicon import Category, find
from dsr.screenplay.lint import Cast
from dsr.screenplay.lint_rules.structure import looks_like_heading
from dsr.story.checks.helpers import _around, _f
from dsr.story.checks.text import (
    _QUOTED,
    LANGUAGES,
    _known_name_words,
    _name_words,
    beat_coverage,
    person_like_names,
    word_count,
)
from dsr.story.findings import Finding
from dsr.story.schemas import TaskInput

# Length bounds.
MIN_PROSE_WORDS = 60
MAX_PROSE_TARGET_RATIO = 4.0  # N chars vs meta.target_len_chars (the target length of S)
# N4: first/second-person words per 100 words of narration: prose is third person; a chat answer is not.
CHAT_PERSON_RATE = 2.0
CHAT_PERSON_MIN_HITS = 5
# N4: inner-state hits per 100 words of narration (quoted speech excluded); one hit alone is a warning.
INNER_STATE_RATE = 0.75
INNER_STATE_MIN_HITS = 2
FORMAT_LEAK_MIN_CUES = 2

_N4_CATEGORIES: tuple[Category, ...] = ("inner_state", "emotion_statement", "narration")

_CUE_LINE = re.compile(r"^\s*@?[A-Z][A-Z'’.\-]*(?: [A-Z][A-Z'’.\-]*){0,2}(?: \([^()]*\))?\s*$")
_COLON_SPEECH = re.compile(r"^\s*[A-Z][A-Za-z'’.\-]*(?: [A-Z][A-Za-z'’.\-]*){0,2}\s*:\s*\S")
_TRANSITION = re.compile(r"^\s*(?:[A-Z ]+ TO:|FADE (?:IN|OUT)[.:]?)\s*$")


def _prose_checks(
    x: TaskInput, prose: str, cast: Cast, beats: list[str], language: str
) -> tuple[list[Finding], list[bool]]:
    words = word_count(prose)
    if not prose.strip():
        return [_f("N3-length", "novelist", "the prose is empty", fix_hint="write the scene as prose")], [
            False
        ] * len(beats)
    findings = []
    target = x.meta.target_len_chars
    if words < MIN_PROSE_WORDS:
        findings.append(
            _f(
                "N3-length",
                "novelist",
                f"the prose has {words} words, under the {MIN_PROSE_WORDS}-word minimum",
                evidence=prose[:120],
                fix_hint="expand every outline beat into observable action and dialogue",
            )
        )
    elif target and len(prose) > MAX_PROSE_TARGET_RATIO * target:
        findings.append(
            _f(
                "N3-length",
                "novelist",
                f"the prose runs {len(prose)} characters, over {MAX_PROSE_TARGET_RATIO:g}x the target of {target}",
                fix_hint="cut padding: keep the outline's events and the dialogue that carries them",
            )
        )
    coverage = beat_coverage(beats, prose, language, _name_words(x))
    for miss in (c for c in coverage if not c.covered):
        findings.append(
            _f(
                "N1-coverage",
                "novelist",
                f"the prose does not cover an outline beat ({miss.overlap:.0%} overlap)",
                evidence=miss.beat,
                fix_hint="show this event happening, on the page, in outline order",
            )
        )
    findings += _inner_state(prose, words, language)
    findings += _chat_person(prose, words, language)
    findings += _format_leak(prose)
    known = _known_name_words(x)
    for name in sorted(n for n in person_like_names(prose, language) if n.lower() not in known):
        findings.append(
            _f(
                "N4-unknown-name",
                "novelist",
                f"{name} acts in the prose but is not among the scene's characters",
                severity="warning",
                evidence=name,
                fix_hint="use only the characters given; leave others unnamed",
            )
        )
    return findings, [c.covered for c in coverage]


def _inner_state(prose: str, words: int, language: str) -> list[Finding]:
    narration = _QUOTED.sub(" ", prose)  # characters may say what they think; narration may not
    hits = [h for category in _N4_CATEGORIES for h in find(narration, category, language)]
    if not hits:
        return []
    rate = 100 * len(hits) / max(words, 1)
    error = len(hits) >= INNER_STATE_MIN_HITS and rate >= INNER_STATE_RATE
    sample = ", ".join(repr(h.text) for h in hits[:4])
    return [
        _f(
            "N4-inner-state",
            "novelist",
            f"{len(hits)} inner-state or stated-emotion phrases ({rate:.1f} per 100 words): {sample}",
            severity="error" if error else "warning",
            evidence=_around(narration, hits[0].start, hits[0].end),
            fix_hint="replace thoughts and named feelings with what the camera sees: gestures, silences, actions",
        )
    ]


def _chat_person(prose: str, words: int, language: str) -> list[Finding]:
    """Narration in the first or second person: the model answered like a chat assistant, not a novelist."""
    narration = _QUOTED.sub(" ", prose)
    hits = re.findall(LANGUAGES[language].chat_person, narration, re.IGNORECASE)
    rate = 100 * len(hits) / max(words, 1)
    if len(hits) < CHAT_PERSON_MIN_HITS or rate < CHAT_PERSON_RATE:
        return []
    first = re.search(LANGUAGES[language].chat_person, narration, re.IGNORECASE)
    return [
        _f(
            "N4-not-third-person",
            "novelist",
            f"{len(hits)} first- or second-person words outside dialogue ({rate:.1f} per 100 words): "
            "this reads like a chat answer, not third-person scene prose",
            evidence=_around(narration, first.start(), first.end()) if first else "",
            fix_hint="write only the scene, in the third person: no remarks to the reader",
        )
    ]


def _format_leak(prose: str) -> list[Finding]:
    lines = [line for line in prose.splitlines() if line.strip()]
    sluglines = [line for line in lines if looks_like_heading(line)]
    cues = [
        line for line in lines if _CUE_LINE.match(line) and not looks_like_heading(line) and len(line) < 40
    ]
    colon = [line for line in lines if _COLON_SPEECH.match(line)]
    transitions = [line for line in lines if _TRANSITION.match(line)]
    if not (sluglines or transitions or len(cues) + len(colon) >= FORMAT_LEAK_MIN_CUES):
        return []
    parts = [
        f"{len(items)} {label}"
        for items, label in (
            (sluglines, "slugline(s)"),
            (cues, "ALL-CAPS cue line(s)"),
            (colon, "'NAME: line'"),
            (transitions, "transition(s)"),
        )
        if items
    ]
    example = (sluglines or transitions or cues or colon)[0]
    return [
        _f(
            "N4-format-leak",
            "novelist",
            "screenplay formatting in the prose: " + ", ".join(parts),
            evidence=example.strip(),
            fix_hint="write prose paragraphs with quoted, attributed dialogue; no sluglines or cues",
        )
    ]
