"""The critic's deterministic half: cheap rule checks on directives, prose N and screenplay S.

They run before the LLM rubric because they are fast, repeatable and precise about *where* a draft
went wrong: each :class:`~nodes.findings.Finding` blames the stage whose output failed (DSR-SPEC 5.1),
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

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from nodes.findings import Finding, Stage
from nodes.schemas import CreativeDirectives, TaskInput
from screenplay.errors import ScreenplayError
from screenplay.fountain import parse_fountain
from screenplay.lexicon import Category, find
from screenplay.lint import Cast, cast_from, lint
from screenplay.lint import Finding as LintFinding
from screenplay.lint_rules.cast import normalise_name
from screenplay.lint_rules.core import text_of
from screenplay.lint_rules.structure import looks_like_heading
from screenplay.model import Action, Character, Dialogue, Screenplay

# Coverage (see the module docstring).
COVERAGE_THRESHOLD = 0.34
COVERAGE_WINDOW = 5
# Length bounds.
MIN_PROSE_WORDS = 60
MAX_PROSE_TARGET_RATIO = 4.0  # N chars vs meta.target_len_chars (the target length of S)
MIN_SCREENPLAY_SHARE = 0.20  # S words / N words
# Prose-only screenplays: a 135M model writes paragraphs of past-tense novel prose under a heading.
MIN_ACTION_PARAGRAPHS_WITHOUT_DIALOGUE = 3
PROSE_PARAGRAPH_WORDS = 45  # a screenplay action paragraph is 1-4 printed lines (~10-40 words)
PROSE_SHARE = 0.5  # share of action words in prose-like paragraphs that makes S prose
PAST_MARKERS_PER_PARAGRAPH = 2
# N4: first/second-person words per 100 words of narration: prose is third person; a chat answer is not.
CHAT_PERSON_RATE = 2.0
CHAT_PERSON_MIN_HITS = 5
# N4: inner-state hits per 100 words of narration (quoted speech excluded); one hit alone is a warning.
INNER_STATE_RATE = 0.75
INNER_STATE_MIN_HITS = 2
FORMAT_LEAK_MIN_CUES = 2

_LINT_IDS: dict[str, str] = {"SP030": "F1-cast", "SP023": "F1-empty-dialogue"}
_F2_RULES: dict[str, tuple[str, str]] = {
    "SP042": ("F2-inner-state", "error"),
    "SP043": ("F2-inner-state", "error"),
    "SP045": ("F2-narration", "warning"),
}
_N4_CATEGORIES: tuple[Category, ...] = ("inner_state", "emotion_statement", "narration")


@dataclass(frozen=True)
class LanguageData:
    """Per-language word lists, so another language is one more entry rather than more code."""

    stopwords: frozenset[str]
    death: str  # regex: a phrase saying someone is dead
    past_narration: str  # regex: a past-tense narration marker (prose, not screenplay present tense)
    non_names: frozenset[str]  # capitalised words that are not people
    chat_person: str  # regex: first- and second-person words (a chat answer, not third-person narration)


# Word lists read best as text; one word a line would bury the code.
_EN_STOPWORDS = frozenset(
    """a about above after again against all almost also am an and any are as at back be because been
    before being below between both but by can could did do does doing down during each even ever
    every few for from further get gets got had has have having he her here hers herself him himself
    his how i if in into is it its itself just like me more most much my myself no nor not now of
    off on once only or other our ours out over own same she should so some still such than that the
    their theirs them themselves then there these they this those through to too under until up upon
    very was we were what when where which while who whom why will with would you your yours
    yourself one two across around toward towards onto as though away again never always already""".split()  # noqa: SIM905
)

LANGUAGES: dict[str, LanguageData] = {
    "en": LanguageData(
        stopwords=_EN_STOPWORDS,
        death=r"(?:dies|died|is dead|was dead|lies dead|lay dead|was killed|is killed|drowned|was buried"
        r"|is buried|was murdered|is murdered|perished|passed away)",
        past_narration=r"\b(?:he|she|they|it|i|we)\s+(?:was|were|had|\w{3,}ed)\b",
        chat_person=r"(?<![\w'’])(?:i|i'm|i'll|i've|i'd|me|my|mine|myself|we|we're|we'll|us|our|ours|you|you're"
        r"|you'll|you've|your|yours|yourself|let's)(?![\w'’])",
        non_names=frozenset(
            """I The A An He She They It We You His Her Their Its Our My Your This That These
            Those There Then When While As But And Or So If Not No Yes Oh Ah Mr Mrs Ms Dr
            Miss Sir Madam God Lord Monday Tuesday Wednesday Thursday Friday Saturday
            Sunday January February March April May June July August September October
            November December INT EXT Outside Inside Suddenly Finally Later Meanwhile
            Still Somewhere Everyone Someone Nobody Something Nothing People Everybody Somebody
            Others Both Man Woman Men Women""".split()  # noqa: SIM905
        ),
    ),
    "zh": LanguageData(
        stopwords=frozenset("的了着是在和与他她它们我你这那就都也又还把被对向一个"),
        death=r"(?:死了|已死|去世|身亡|遇害|溺亡|被杀|下葬)",
        past_narration=r"(?!)",  # Chinese marks no tense; prose-only S is found by paragraph length alone
        non_names=frozenset(),
        chat_person=r"我们|你们|我|你|咱们",
    ),
}

_SENTENCE = re.compile(r"(?<=[.!?。！？…])[\"”’)]*\s+|\n{2,}")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*")
_HAN_RUN = re.compile(r"[\u3400-\u9fff]+")
_QUOTED = re.compile(r"[\"“][^\"”]*[\"”]|「[^」]*」|“[^”]*”")
_CAP_WORD = re.compile(r"(?<![\w'’])([A-Z][a-z]{2,})(?![\w'’])")
_TITLE_BEFORE = re.compile(r"(?:Mr|Mrs|Ms|Dr|Miss|Captain|Sergeant|Officer|Father|Sister|Uncle|Aunt)\.?\s+$")
_VERB_AFTER = re.compile(
    r"^\s+(?:\w+ly\s+)?(?:said|says|asked|asks|replied|whispered|shouted|nodded|nods|smiled|smiles|stood|stands"
    r"|sat|sits|ran|runs|walked|walks|turned|turns|looked|looks|took|takes|was|is|had|has|\w{3,}ed)\b"
)
_ATTRIBUTION = re.compile(r"[\"”],?\s+(?:said|says|asked|asks|replied|whispered|shouted)\s+$")
_CUE_LINE = re.compile(r"^\s*@?[A-Z][A-Z'’.\-]*(?: [A-Z][A-Z'’.\-]*){0,2}(?: \([^()]*\))?\s*$")
_COLON_SPEECH = re.compile(r"^\s*[A-Z][A-Za-z'’.\-]*(?: [A-Z][A-Za-z'’.\-]*){0,2}\s*:\s*\S")
_TRANSITION = re.compile(r"^\s*(?:[A-Z ]+ TO:|FADE (?:IN|OUT)[.:]?)\s*$")


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
    if doc is not None:
        findings += _screenplay_checks(x, prose, screenplay, doc, cast, beats, covered_in_prose, language)
    findings += _continuity_checks(x, prose, doc, known_facts or [], cast, language)
    order = {"planner": 0, "novelist": 1, "screenwriter": 2}
    return sorted(findings, key=lambda f: order[f.stage])


# --- text helpers -----------------------------------------------------------------------------------------


@cache
def stem(word: str) -> str:
    """A small suffix stripper: enough to match 'hauls'/'hauled'/'hauling' and 'steps'/'step' (no NLTK)."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
                w = w[:-1]
            break
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def content_words(text: str, language: str, exclude: Iterable[str] = ()) -> set[str]:
    """Stemmed content words (en) or Han character bigrams (zh), minus stop words and ``exclude``."""
    data = LANGUAGES[language]
    if language == "zh":
        grams = _bigrams(_HAN_RUN.findall(text))
        return {g for g in grams if not set(g) <= data.stopwords} - _bigrams(exclude)
    skip = {stem(w) for name in exclude for w in _WORD.findall(name)}
    words = (w.lower() for w in _WORD.findall(text))
    return {stem(w) for w in words if w not in data.stopwords and len(w) > 2} - skip


def _bigrams(runs: Iterable[str]) -> set[str]:
    return {run[i : i + 2] for run in runs for i in range(max(1, len(run) - 1))}


def sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE.split(text)) if s]


def word_count(text: str) -> int:
    return len(_WORD.findall(text)) + sum(len(run) for run in _HAN_RUN.findall(text))


def outline_beats(x: TaskInput) -> list[str]:
    """The outline's beats, or the synopsis sentences when the outline has none."""
    beats = [b.strip() for b in x.outline.beats if b.strip()]
    return beats or sentences(x.outline.synopsis)


def _name_words(x: TaskInput) -> list[str]:
    names = [*x.outline.characters, *(n for c in x.characters for n in (c.name, *c.aliases))]
    return [n for n in names if n.strip()]


@dataclass(frozen=True)
class BeatCoverage:
    beat: str
    overlap: float  # best share of the beat's content words found in one window of the text
    covered: bool
    missing: tuple[str, ...]  # the beat's content words absent from the best window


def beat_coverage(
    beats: list[str], text: str, language: str = "en", names: Iterable[str] = ()
) -> list[BeatCoverage]:
    """How well each beat is reflected in ``text`` (see the module docstring for the method)."""
    names = list(names)
    parts = [content_words(s, language) for s in sentences(text)]
    windows = [
        set().union(*parts[i : i + COVERAGE_WINDOW]) for i in range(max(1, len(parts) - COVERAGE_WINDOW + 1))
    ]
    out = []
    for beat in beats:
        wanted = content_words(beat, language, exclude=names) or content_words(beat, language)
        if not wanted:
            out.append(BeatCoverage(beat, 1.0, True, ()))
            continue
        best = max(windows, key=lambda w: len(wanted & w))
        overlap = len(wanted & best) / len(wanted)
        out.append(
            BeatCoverage(beat, round(overlap, 2), overlap >= COVERAGE_THRESHOLD, tuple(sorted(wanted - best)))
        )
    return out


def person_like_names(text: str, language: str) -> set[str]:
    """Capitalised words used as people: after a title, as a speech attribution, or as a verb's subject.

    A heuristic for English only (Han names have no case); it flags invented minor characters, which
    small models add freely, at warning severity because it also catches an odd place name.
    """
    if language != "en":
        return set()
    narration = _QUOTED.sub(lambda m: " " * len(m.group(0)), text)
    lowered = {w.lower() for w in _WORD.findall(text) if w.islower()}
    found = set()
    for match in _CAP_WORD.finditer(narration):
        word = match.group(1)
        if word in LANGUAGES[language].non_names or word.lower() in lowered:
            continue
        before, after = text[: match.start()], text[match.end() :]
        if _TITLE_BEFORE.search(before) or _ATTRIBUTION.search(before) or _VERB_AFTER.match(after):
            found.add(word)
    return found


def _known_name_words(x: TaskInput) -> set[str]:
    """Lower-cased words of every name, alias and the outline's own text (places named there are grounded)."""
    words = {w.lower() for n in _name_words(x) for w in _WORD.findall(n)}
    grounded = " ".join(
        [x.outline.synopsis, *x.outline.beats, x.outline.location or "", x.previous.story_so_far]
    )
    words |= {w.lower() for w in _WORD.findall(grounded)}
    words |= {w.lower() for c in x.characters for w in _WORD.findall(f"{c.background} {c.personality}")}
    return words


def _mentions(text: str, names: Iterable[str]) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text, re.IGNORECASE) for n in names if n.strip())


# --- P1: directives ---------------------------------------------------------------------------------------


def _planner_checks(
    x: TaskInput, directives: CreativeDirectives, cast: Cast, beats: list[str], language: str
) -> list[Finding]:
    findings = []
    if not directives.pacing.beats:
        findings.append(
            _f(
                "P1-no-beats",
                "planner",
                "the directives plan no beats",
                fix_hint="plan the scene's beats in order",
            )
        )
    planned = {cast.resolve(p.name) or normalise_name(p.name) for p in directives.characters}
    for name in x.outline.characters:
        if (cast.resolve(name) or normalise_name(name)) not in planned:
            findings.append(
                _f(
                    "P1-missing-character",
                    "planner",
                    f"{name} is in the outline but has no character plan",
                    evidence=name,
                    fix_hint=f"add a plan (goal, emotion arc, key actions, tells) for {name}",
                )
            )
    for plan in directives.characters:
        if cast.resolve(plan.name) is None:
            findings.append(
                _f(
                    "P1-unknown-character",
                    "planner",
                    f"the plan names {plan.name}, who is not in the inputs",
                    severity="warning",
                    evidence=plan.name,
                    fix_hint="plan only the characters given",
                )
            )
    if directives.pacing.beats:
        plan_text = "\n\n".join(
            [f"{b.label}. {b.purpose}." for b in directives.pacing.beats]
            + [f"{t}." for t in directives.exposition.turning_points]
            + [f"{r.info}." for r in directives.exposition.reveals]
            + [f"{a}." for p in directives.characters for a in p.key_actions]
        )
        for miss in (c for c in beat_coverage(beats, plan_text, language, _name_words(x)) if not c.covered):
            findings.append(
                _f(
                    "P1-coverage",
                    "planner",
                    "an outline beat is not reflected in the plan",
                    severity="warning",
                    evidence=miss.beat,
                    fix_hint="plan a beat for every outline event",
                )
            )
    return findings


# --- N: prose ---------------------------------------------------------------------------------------------


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


# --- F: screenplay ----------------------------------------------------------------------------------------


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
    past = LANGUAGES[language].past_narration
    sizes = [word_count(a) for a in actions]
    if (
        not speeches
        and len(actions) < MIN_ACTION_PARAGRAPHS_WITHOUT_DIALOGUE
        and max(sizes, default=0) >= PROSE_PARAGRAPH_WORDS
    ):
        return f"no dialogue, only {len(actions)} action paragraph(s) of up to {max(sizes)} words"
    prose_like = [
        size >= PROSE_PARAGRAPH_WORDS
        or any(len(q.split()) >= 3 for q in _QUOTED.findall(a))
        or len(re.findall(past, a, re.IGNORECASE)) >= PAST_MARKERS_PER_PARAGRAPH
        for a, size in zip(actions, sizes, strict=True)
    ]
    total = sum(sizes)
    share = sum(s for s, p in zip(sizes, prose_like, strict=True) if p) / total if total else 0.0
    if sum(prose_like) >= 2 and share >= PROSE_SHARE:
        return f"{sum(prose_like)} of {len(actions)} action paragraphs read like prose ({share:.0%} of action words)"
    return ""


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
        if not _mentions(prose, spellings):
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


# --- N5: continuity ---------------------------------------------------------------------------------------


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


# --- helpers ----------------------------------------------------------------------------------------------


def _f(
    check: str, stage: Stage, message: str, *, severity: str = "error", evidence: str = "", fix_hint: str = ""
) -> Finding:
    return Finding(
        check=check, stage=stage, severity=severity, message=message, evidence=evidence, fix_hint=fix_hint
    )  # type: ignore[arg-type]


def _around(text: str, start: int, end: int, width: int = 60) -> str:
    return " ".join(text[max(0, start - width) : end + width].split())


def _first_action(doc: Screenplay) -> str:
    return next((text_of(e)[:160] for e in doc.all_elements() if isinstance(e, Action)), "")
