"""Text helpers shared by the checks: language data, stemming, content words, sentences, names and
beat coverage (the coverage method is described in the :mod:`dsr.story.checks` package docstring).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from dsr.story.schemas import TaskInput

# Coverage (see the package docstring).
COVERAGE_THRESHOLD = 0.34
COVERAGE_WINDOW = 5


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


@lru_cache(maxsize=65536)  # a pure function of the word, bounded: a long-lived process sees many words
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
    """How well each beat is reflected in ``text`` (see the package docstring for the method)."""
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


def mentions(text: str, names: Iterable[str]) -> bool:
    """Whether ``text`` names any of ``names`` as a whole word (any case)."""
    return any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text, re.IGNORECASE) for n in names if n.strip())
