"""The critic's deterministic half: cheap rule checks on directives, prose N and screenplay S.

They run before the LLM rubric because they are fast, repeatable and precise about *where* a draft
went wrong: each :class:`~dsr.story.findings.Finding` blames the stage whose output failed (DSR-SPEC 5.1),
so routing sends a prose problem to the novelist and a format problem to the screenwriter. Errors
route the draft back; warnings are recorded in the critique but never block a scene.

Check ids (stable; reports and tests key on them):

======================  ============  =====================================================================
id                      blames        fires when
======================  ============  =====================================================================
F1-empty                screenwriter  S is missing or blank
F1-parse                screenwriter  S cannot be read as Fountain
F1-heading              screenwriter  S has no scene heading, or more than one (one scene per draft)
F1-cast                 screenwriter  a cue names nobody in C (linter SP030; names + aliases accepted)
F1-empty-dialogue       screenwriter  a dialogue line with no text (linter SP023)
F1-format               screenwriter  any other linter error (message carries the SP rule id)
F1-prose-only           screenwriter  S is novel prose in Fountain clothing (see ``prose_only_reason``)
F2-inner-state          screenwriter  thoughts or stated emotions in action lines (linter SP042/SP043)
F2-narration            screenwriter  narration for a reader in action lines (SP045; warning)
F3-unknown-speaker      screenwriter  a character speaks in S but never appears in N
F3-too-short            screenwriter  S keeps under 20% of N's words: most of the story was dropped
F3-coverage             screenwriter  an outline beat that N covers (or, without N, any beat) is not in S
F3-new-name             screenwriter  a person-like name in S's action that is in neither N nor C (warning)
N1-coverage             novelist      an outline beat (or synopsis sentence) has no lexical match in N
N3-length               novelist      N is blank, under 60 words, or over 4x the target scene length
N4-inner-state          novelist      inner-monologue / stated-emotion lexicon rate in N above threshold
N4-not-third-person     novelist      N narrates in the first/second person: a chat answer, not scene prose
N4-format-leak          novelist      sluglines, ALL-CAPS cues or 'NAME: line' dialogue inside N
N4-unknown-name         novelist      a person-like name in N that is not in C or the outline (warning)
N5-dead-character       novelist      a character memory records as dead acts or speaks (screenwriter if
                                      only in S)
N5-continuity           by the line   the continuity critic (a model, ``judging/continuity.py``, run by the
                                      critic node after these checks pass) finds the draft contradicting a
                                      fact in force: the stage whose text holds the cited line
P1-no-beats             planner       the directives plan no beats
P1-missing-character    planner       a character named in the outline has no plan
P1-unknown-character    planner       a plan for someone not in X (warning)
P1-coverage             planner       an outline beat has no lexical match in the directives (warning)
======================  ============  =====================================================================

N is optional: ``prose=None`` means the mode has no Stage 1 (``e2e``), so N's checks are skipped and
S's coverage is measured against the outline. N2/N3 beyond length (motives, pacing) need judgment and
are left to the rubric. N5 only checks deaths: memory facts are free-text outline beats, and the one
contradiction a rule can find with high precision is a dead character walking; knowledge, injuries and
positions need the LLM.

Coverage (N1, F3-coverage, P1-coverage) is lexical: content words (stop words and character names
removed, lower-cased, suffix-stemmed; Han character bigrams for zh) of a beat, matched against the best
window of ``COVERAGE_WINDOW`` consecutive sentences of the text. A beat is covered when at least
``COVERAGE_THRESHOLD`` of its content words occur in one window. A third is deliberately lenient: good
prose paraphrases its outline ("hauls him up the steps" -> "dragged him up the stone steps" keeps 2 of
4), while prose that skipped the beat shares almost nothing with it. The window stops scattered common
words ("rain", "door") from counting as coverage.
"""

from __future__ import annotations

from dsr.screenplay.lint import cast_from
from dsr.story.checks.continuity import _continuity_checks
from dsr.story.checks.format import _parse, _screenplay_checks, prose_only_reason
from dsr.story.checks.plan import _planner_checks
from dsr.story.checks.prose import _prose_checks
from dsr.story.checks.text import (
    LANGUAGES,
    BeatCoverage,
    LanguageData,
    beat_coverage,
    content_words,
    outline_beats,
    person_like_names,
    sentences,
    stem,
    word_count,
)
from dsr.story.findings import Finding
from dsr.story.schemas import CreativeDirectives, TaskInput

__all__ = [
    "LANGUAGES",
    "BeatCoverage",
    "LanguageData",
    "beat_coverage",
    "content_words",
    "deterministic_checks",
    "outline_beats",
    "person_like_names",
    "prose_only_reason",
    "sentences",
    "stem",
    "word_count",
]


def deterministic_checks(
    x: TaskInput,
    prose: str | None,
    screenplay: str | None,
    *,
    directives: CreativeDirectives | None = None,
    known_facts: list[str] | None = None,
) -> list[Finding]:
    """Every rule finding for one scene draft, in stage order (planner, novelist, screenwriter).

    ``prose=None`` skips N's checks (no Stage 1 in this mode); ``directives=None`` skips P1 (no planner
    or it failed); ``screenplay=None`` is a missing S and fails F1-empty.
    """
    language = x.meta.language if x.meta.language in LANGUAGES else "en"
    cast = cast_from({"name": c.name, "aliases": c.aliases} for c in x.characters)
    beats = outline_beats(x)
    findings: list[Finding] = []
    if directives is not None:
        findings += _planner_checks(x, directives, cast, beats, language)
    covered_in_prose: list[bool] | None = None
    if prose is not None:
        prose_findings, covered_in_prose = _prose_checks(x, prose, cast, beats, language)
        findings += prose_findings
    doc, parse_findings = _parse(screenplay)
    findings += parse_findings
    if doc is not None and screenplay is not None:  # _parse gives a document only for a screenplay
        findings += _screenplay_checks(x, prose, screenplay, doc, cast, beats, covered_in_prose, language)
    findings += _continuity_checks(x, prose, doc, known_facts or [], cast, language)
    order = {"planner": 0, "novelist": 1, "screenwriter": 2}
    return sorted(findings, key=lambda f: order[f.stage])
