"""Judge-free metrics of a screenplay for its task X: computable on CPU, no model, fully repeatable.

They reuse the critic's own instruments so a number here means what the critic means by it:

* ``format_valid``: the scene parses, has exactly one heading and the linter (cast from X) finds no
  error; ``lint_errors_per_scene`` is the linter's own count.
* ``beat_coverage``: the share of the outline's beats the screenplay covers (the critic's lexical
  coverage, :func:`dsr.story.checks.beat_coverage`).
* ``prose_leakage``: the share of action paragraphs that are novelistic or unfilmable: the linter's
  inner-thought, emotion-statement or reader-narration rules (SP042/SP043/SP045) fire on it, or it reads
  like prose (:func:`dsr.story.checks.format.prose_like_paragraph`: long, quoted speech, past-tense narration).
* ``dialogue_share``: dialogue words / (dialogue + action words); ``words``: the scene's word count.
"""

from __future__ import annotations

from typing import Any

from dsr.screenplay.errors import ScreenplayError
from dsr.screenplay.fountain_reader import parse_fountain
from dsr.screenplay.lint import cast_from, lint, summarize
from dsr.screenplay.lint_rules.core import text_of
from dsr.screenplay.model import Action, Dialogue
from dsr.story.checks import LANGUAGES, beat_coverage, outline_beats, word_count
from dsr.story.checks.format import prose_like_paragraph
from dsr.story.schemas import TaskInput

LEAK_RULES = frozenset({"SP042", "SP043", "SP045"})


def scene_metrics(x: TaskInput, screenplay: str) -> dict[str, Any]:
    """The judge-free metrics of one screenplay (see the module docstring); an unparsable text scores 0."""
    language = x.meta.language if x.meta.language in LANGUAGES else "en"
    names = [n for c in x.characters for n in (c.name, *c.aliases)] + list(x.outline.characters)
    beats = outline_beats(x)
    covered = (
        [c.covered for c in beat_coverage(beats, screenplay, language, names)] if screenplay.strip() else []
    )
    coverage = sum(covered) / len(covered) if covered else (1.0 if not beats else 0.0)
    try:
        doc = parse_fountain(screenplay) if screenplay.strip() else None
    except ScreenplayError:
        doc = None
    if doc is None:
        return {
            "format_valid": False,
            "lint_errors_per_scene": None,
            "beat_coverage": round(coverage, 4),
            "prose_leakage": None,
            "dialogue_share": None,
            "words": word_count(screenplay),
            "parsed": False,
        }
    cast = cast_from({"name": c.name, "aliases": c.aliases} for c in x.characters)
    findings = lint(doc, profiles=cast, source=screenplay, language=language)
    summary = summarize(findings, doc)
    elements = doc.all_elements()
    actions = [e for e in elements if isinstance(e, Action) and text_of(e).strip()]
    leak_lines = {f.line for f in findings if f.rule in LEAK_RULES and f.line is not None}
    leaky = 0
    for element in actions:
        text = text_of(element)
        first = element.line if getattr(element, "line", None) is not None else None
        span = set(range(first, first + text.count("\n") + 1)) if first is not None else set()
        if (span & leak_lines) or prose_like_paragraph(text, language):
            leaky += 1
    action_words = sum(word_count(text_of(e)) for e in actions)
    dialogue_words = sum(word_count(text_of(e)) for e in elements if isinstance(e, Dialogue))
    spoken = action_words + dialogue_words
    return {
        "format_valid": len(doc.scenes) == 1 and summary.errors == 0,
        "lint_errors_per_scene": round(summary.errors / max(len(doc.scenes), 1), 4),
        "beat_coverage": round(coverage, 4),
        "prose_leakage": round(leaky / len(actions), 4) if actions else 0.0,
        "dialogue_share": round(dialogue_words / spoken, 4) if spoken else 0.0,
        "words": word_count(screenplay),
        "parsed": True,
    }


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over scenes (``format_valid`` as a share); ``n`` scenes, metrics None when there are none.

    Unparsable scenes count as invalid format and lower coverage; their lint, leakage and dialogue share
    are undefined, so those means cover the parsed scenes only (``n_parsed``).
    """
    parsed = [r for r in rows if r["parsed"]]

    def mean(key: str, pool: list[dict[str, Any]]) -> float | None:
        values = [float(r[key]) for r in pool if r[key] is not None]
        return round(sum(values) / len(values), 4) if values else None

    return {
        "format_valid": mean("format_valid", rows),
        "lint_errors_per_scene": mean("lint_errors_per_scene", parsed),
        "beat_coverage": mean("beat_coverage", rows),
        "prose_leakage": mean("prose_leakage", parsed),
        "dialogue_share": mean("dialogue_share", parsed),
        "words": mean("words", rows),
        "n": len(rows),
        "n_parsed": len(parsed),
    }
