"""Word lists behind the linter's prose rules, kept as data so another language is one more entry.

DSR's Stage 2 rules (DSR-SPEC §3.2, §4.1 d/e) ask for observable action only: no camera directions
unless asked, no inner thoughts, no abstract emotion statements, no metaphor-style devices. Each
category is a list of regular-expression fragments per language; :func:`matcher` compiles them once.
English patterns are matched case-insensitively on word boundaries; Chinese has no word boundaries,
so its fragments match as plain substrings. The critic's prose checks (N4) reuse :func:`find`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

Category = Literal["camera", "inner_state", "emotion_statement", "narration", "simile"]

# Third-person and past forms only: base forms ("to think", "I know") are mostly dialogue or harmless.
_EN_COGNITION = (
    "thinks|thought|realizes|realized|realises|realised|remembers|remembered|wonders|wondered|knows|knew"
    "|decides|decided|wishes|wished|hopes|hoped|believes|believed|understands|understood|imagines|imagined"
    "|recalls|recalled|regrets|regretted|senses|sensed|feels|felt|ponders|pondered|considers|longs for"
)
# Emotions an "emotion statement" names ("She is sad."); words, so the Fountain grammar can keep them out too.
_EN_EMOTIONS = (
    "sad|happy|angry|afraid|scared|frightened|fearful|nervous|anxious|worried|confused|puzzled"
    "|upset|jealous|lonely|ashamed|guilty|hopeful|hopeless|desperate|depressed|heartbroken|furious"
    "|terrified|overwhelmed|relieved|embarrassed|frustrated|bored|excited|proud|grateful|content"
    "|devastated|miserable|elated|annoyed|irritated|disappointed|envious|insecure|resentful"
    "|affronted|befuddled|bewildered|leery|melancholy|nostalgic|regretful"
)
# Inner-state words the linter lists on their own.
_EN_INNER = "inwardly|realization|realisation"
# The verbs of the negated patterns ("didn't know"): a base form the linter flags only after a negation.
_EN_NEGATED = "know|remember|understand|believe|realize|realise|recall"
# The single words of SP042/SP043's lists: what the per-scene Fountain grammar keeps out of action lines
# (without "care" and "want", which action needs: "She wants the key." is filmable; "didn't care" is not kept out).
UNFILMABLE_WORDS: dict[str, tuple[str, ...]] = {
    "en": tuple(
        sorted(
            w for w in f"{_EN_COGNITION}|{_EN_EMOTIONS}|{_EN_NEGATED}|{_EN_INNER}".split("|") if " " not in w
        )
    ),
}

LEXICON: dict[str, dict[Category, tuple[str, ...]]] = {
    "en": {
        # Camera and editing directions that belong to the director, not the writer.
        "camera": (
            r"close[\s-]?on",
            r"close[\s-]?ups?",
            r"extreme close",
            r"angle on",
            r"(?:wide|reverse|new|low|high|dutch) angle",
            r"wide on",
            r"(?:wide|tracking|establishing|two|insert|master|aerial|crane|overhead|medium) shot",
            r"over[\s-]the[\s-]shoulder",
            r"pans? (?:to|across|over|up|down|left|right)",
            r"(?:camera|we) (?:pans?|tilts?|tracks?|dolly|dollies|zooms?|cranes?|pushes|pulls|moves|follows"
            r"|holds?|lingers?|drifts?|circles?|finds?|settles?|rises?|descends?|reveals?)",
            r"the camera",
            r"dolly (?:in|out|back|to)",
            r"zooms? (?:in|out|to|on)",
            r"push(?:es)? in",
            r"pull(?:s)? back to reveal",
            r"tilt(?:s)? (?:up|down)",
            r"we (?:see|hear|follow|cut to|watch|glimpse|pull back|push in|find)",
            r"pov",
            r"p\.o\.v\.",
            r"smash cut",
            r"match cut",
            r"jump cut",
            r"off[\s-]screen",
            r"in frame",
            r"into frame",
            r"out of frame",
            r"fills? the frame",
        ),
        # Cognition and feeling verbs: what a character thinks cannot be filmed.
        "inner_state": (
            rf"(?:{_EN_COGNITION})",
            r"(?:doesn't|does not|didn't|did not|can't|cannot|couldn't|could not|won't|don't)"
            rf" (?:{_EN_NEGATED}|care|want)",
            r"(?:can't|cannot|couldn't) help but",
            r"(?:in|to) (?:his|her|their|my) (?:mind|head|heart)",
            r"(?:his|her|their) (?:mind|thoughts?|memories|memory) (?:races?|drifts?|wanders?|returns?|goes)",
            r"deep down",
            rf"(?:{_EN_INNER})",
            r"(?:thinks|says|mutters|whispers) to (?:himself|herself|themselves)",
        ),
        # "She is sad." states an emotion instead of showing it.
        "emotion_statement": (
            r"(?:is|are|was|were|feels|felt|seems|seemed|looks|looked|becomes|became|grows|grew|gets|got"
            r"|\w+['’](?:s|re))\s+(?:(?:very|so|deeply|utterly|completely|quite|a little|slightly|suddenly|clearly"
            r"|obviously|visibly|really|incredibly|extremely|increasingly)\s+)?"
            rf"(?:{_EN_EMOTIONS})",
            r"(?:a wave|a surge|a pang|a flood|a rush|a flicker|a sense) of"
            r" (?:\w+ )?(?:sadness|joy|fear|anger|guilt|shame|relief|regret|grief|hope|longing|dread|panic"
            r"|nostalgia|loneliness|despair|pride|love|jealousy|envy|anxiety|terror|doubt)",
            r"(?:his|her|their) heart (?:sinks|breaks|swells|aches|races|pounds|skips|leaps)",
            r"(?:with|in) (?:a mix|a mixture) of",
        ),
        # Narration that addresses the reader rather than describing the picture.
        "narration": (
            r"for the first time in (?:years|ages|a long time|his life|her life|their lives)",
            r"little (?:does|did) (?:he|she|they) know",
            r"meanwhile,? (?:in|across|back)",
            r"(?:years|months|days) (?:earlier|ago|later),? (?:he|she|they)",
            r"(?:as|since) (?:he|she|they) (?:always|never) (?:had|did|does)",
            r"the (?:reader|audience) (?:knows|learns|sees|realizes)",
            r"unbeknownst to",
            r"in that moment",
            r"it was as if",
            r"it is as if",
        ),
        # Metaphor-style devices: flagged lightly, comparisons are sometimes the clearest picture.
        "simile": (
            r"as if",
            r"as though",
            r"like an?",
        ),
    },
    "zh": {
        "camera": (
            "镜头",
            "特写",
            "近景",
            "远景",
            "全景",
            "推镜",
            "拉镜",
            "摇镜",
            "跟拍",
            "俯拍",
            "仰拍",
            "我们看到",
            "画面切",
        ),
        "inner_state": (
            "心想",
            "心里想",
            "暗想",
            "感到",
            "觉得",
            "意识到",
            "想起",
            "回忆起",
            "记得",
            "希望",
            "决定",
            "知道",
            "明白",
            "心中",
            "内心",
            "脑海",
        ),
        "emotion_statement": (
            "很伤心",
            "很难过",
            "很生气",
            "很害怕",
            "很高兴",
            "很紧张",
            "很失望",
            "感到悲伤",
            "感到愤怒",
            "一阵酸楚",
            "心如刀割",
        ),
        "narration": ("与此同时", "殊不知", "多年以后", "在那一刻"),
        "simile": ("仿佛", "好像", "犹如", "宛如", "似乎", "如同"),
    },
}

#: Times of day that professional headings use (the part after the last ' - ').
TIMES_OF_DAY: frozenset[str] = frozenset(
    {
        "DAY",
        "NIGHT",
        "MORNING",
        "AFTERNOON",
        "EVENING",
        "DAWN",
        "DUSK",
        "SUNRISE",
        "SUNSET",
        "NOON",
        "MIDNIGHT",
        "TWILIGHT",
        "MAGIC HOUR",
        "LATE NIGHT",
        "EARLY MORNING",
        "LATE AFTERNOON",
        "EARLY EVENING",
        "LATER",
        "MOMENTS LATER",
        "A MOMENT LATER",
        "SECONDS LATER",
        "MINUTES LATER",
        "CONTINUOUS",
        "SAME",
        "SAME TIME",
        "FLASHBACK",
        "PRESENT",
        "PRESENT DAY",
        "DREAM",
        "NIGHT (FLASHBACK)",
        "DAY (FLASHBACK)",
        "日",
        "夜",
        "晨",
        "昏",
        "白天",
        "夜晚",
        "清晨",
        "黄昏",
        "傍晚",
    }
)

#: Cue extensions in common use; anything else is reported as info.
CUE_EXTENSIONS: frozenset[str] = frozenset(
    {
        "V.O.",
        "O.S.",
        "O.C.",
        "CONT'D",
        "CONT’D",
        "CONT.",
        "CONTD",
        "CONTINUING",
        "FILTERED",
        "PRE-LAP",
        "PRELAP",
        "ON PHONE",
        "ON THE PHONE",
        "INTO PHONE",
        "OVER PHONE",
        "ON TV",
        "ON SCREEN",
        "ON RADIO",
        "ON INTERCOM",
        "OVER INTERCOM",
        "ON SPEAKER",
        "SUBTITLED",
        "SUBTITLE",
        "SINGING",
        "SINGS",
        "WHISPERING",
        "RECORDING",
        "ON RECORDING",
        "TEXT",
        "V.O",
        "O.S",
        "VO",
        "OS",
        "OC",
        "画外音",
        "画外",
    }
)

#: Cues that name a group rather than a character; never "unknown".
GROUP_CUES: frozenset[str] = frozenset(
    {
        "ALL",
        "BOTH",
        "EVERYONE",
        "TOGETHER",
        "CROWD",
        "VOICES",
        "THE CROWD",
        "ALL THREE",
        "BOTH OF THEM",
        "众人",
    }
)


@dataclass(frozen=True)
class Hit:
    """One lexicon match: its category, the matched words and their offsets in the text."""

    category: Category
    text: str
    start: int
    end: int


@cache
def matcher(language: str, category: Category) -> re.Pattern[str] | None:
    """The compiled pattern for one category, or None when the language has no list for it."""
    fragments = LEXICON.get(language, {}).get(category)
    if not fragments:
        return None
    if language == "zh":
        return re.compile("|".join(f"(?:{f})" for f in fragments))
    return re.compile(
        r"(?<![\w'’])(?:" + "|".join(f"(?:{f})" for f in fragments) + r")(?![\w'’])", re.IGNORECASE
    )


def find(text: str, category: Category, language: str = "en") -> list[Hit]:
    """Every non-overlapping match of one category in ``text``."""
    pattern = matcher(language, category)
    if pattern is None:
        return []
    return [Hit(category, m.group(0), m.start(), m.end()) for m in pattern.finditer(text)]


_HAN = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(text: str) -> str:
    """'zh' when Han characters outnumber Latin letters, else 'en' (the only two lexicons today)."""
    han = len(_HAN.findall(text))
    return "zh" if han and han >= len(_LATIN.findall(text)) else "en"
