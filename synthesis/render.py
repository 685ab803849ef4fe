"""A screenplay scene S rendered as screenplay-oriented prose N, by rules and nothing else.

The rules teacher (:mod:`dsr.synthesis.rules_teacher`) needs prose that carries exactly S's events, so N is
rendered from S's own elements instead of written: action stays as it is (present tense, observable), every
speech becomes quoted, attributed speech with its line kept verbatim, a parenthetical becomes the manner of
the attribution, transitions and shots become plain cuts, and what never reaches the screen (notes,
sections, boneyard) is left out. Nothing is added that S does not say.

Where S's screenplay form would be a format leak in N (the critic's N4 check is right about novel prose),
the rendering changes form, never content: the heading becomes a setting sentence ("Inside Kitchen,
night."), an all-caps line becomes a sentence, a caps character introduction becomes the name. A
parenthetical naming a feeling stays as the manner of its line and also feeds the character's emotion arc.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dsr.screenplay.lexicon import find
from dsr.screenplay.lint_rules.cast import normalise_name
from dsr.screenplay.lint_rules.core import text_of
from dsr.screenplay.model import (
    Action,
    Centered,
    Character,
    Dialogue,
    Lyrics,
    Parenthetical,
    Scene,
    SceneHeading,
    Shot,
    Transition,
)

Kind = str  # "setting", "action", "speech", "cut", "song", "card"

_SPACE = re.compile(r"\s+")
_CAPS_WORD = re.compile(r"\b[A-Z][A-Z'’.\-]*[A-Z]\b")
_PREPOSITIONS = frozenset(
    [
        "to",
        "into",
        "at",
        "from",
        "under",
        "over",
        "in",
        "on",
        "through",
        "with",
        "without",
        "back",
        "behind",
        "as",
        "toward",
        "towards",
        "across",
        "off",
        "out",
        "onto",
        "upon",
        "near",
        "by",
    ]
)
_BODY_NOUNS = frozenset(
    [
        "eyes",
        "hands",
        "arms",
        "lips",
        "tears",
        "shoulders",
        "feet",
        "legs",
        "fingers",
        "teeth",
        "voice",
        "head",
    ]
)
_PAUSE = re.compile(r"^(?:a\s+)?(?:long\s+|short\s+|dramatic\s+)?(?:beat|pause|then)$", re.IGNORECASE)
_OFF_SCREEN = frozenset({"O.S.", "O.S", "OS", "O.C.", "O.C", "OC", "OFF", "OFF SCREEN", "OFFSCREEN"})
_VOICE_OVER = frozenset({"V.O.", "V.O", "VO", "VOICE OVER", "VOICE-OVER"})
_CONTINUED = frozenset({"CONT'D", "CONT’D", "CONT.", "CONT", "CONTD", "CONTINUING"})
_DEVICES = frozenset(
    {"INTERCOM", "PHONE", "RADIO", "TV", "SPEAKER", "SPEAKERPHONE", "WALKIE", "COMM", "COMMS"}
)
_SHOT_PREFIX = re.compile(
    r"^(?:ANGLE ON|CLOSE ON|CLOSE UP ON|CLOSE-UP ON|CLOSEUP ON|CLOSE UP|CLOSE-UP|CLOSEUP|WIDE ON|WIDE SHOT"
    r"|INSERT|POV|BACK ON|BACK TO|ON)\b[\s:,-]*",
    re.IGNORECASE,
)
_TIMES = {"CONTINUOUS": "", "SAME": "", "SAME TIME": ""}


@dataclass(frozen=True)
class Speech:
    """One dialogue element: who says it (cue name), the verbatim line, and how (parenthetical)."""

    speaker: str
    line: str
    manner: str = ""
    extension: str | None = None
    dual: bool = False


@dataclass
class Paragraph:
    """One paragraph of N and the S elements it came from (what the outline and directives are built on)."""

    kind: Kind
    text: str
    speaker: str | None = None
    speeches: list[Speech] = field(default_factory=list)
    emotions: list[str] = field(default_factory=list)  # parentheticals naming a feeling (the plan's arc)
    manners: list[str] = field(default_factory=list)  # parentheticals narrated as manner


@dataclass
class Rendering:
    paragraphs: list[Paragraph]

    @property
    def prose(self) -> str:
        return "\n\n".join(p.text for p in self.paragraphs if p.text)

    @property
    def speeches(self) -> list[Speech]:
        return [s for p in self.paragraphs for s in p.speeches]


def flat(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def display_name(cue: str) -> str:
    """'DOCK WORKER' -> 'Dock Worker', "O'BRIEN" -> "O'Brien": how prose spells a cue name."""
    return " ".join(_cap(word) for word in cue.split())


def _cap(word: str) -> str:
    parts = re.split(r"([\-'’.])", word.lower())
    out = "".join(
        p[:1].upper() + p[1:] if i % 2 == 0 and (i == 0 or len(p) > 1) else p for i, p in enumerate(parts)
    )
    return out


def speech_line(text: str) -> str:
    """A dialogue element's line as N quotes it: markup gone, one line, inner double quotes made single."""
    return flat(text).replace('"', "'").replace("“", "'").replace("”", "'")


class CastNames:
    """Cast names in upper case (as S writes them in action and headings) -> their prose spelling."""

    def __init__(self, cast: list[str]):
        self.words: dict[str, str] = {}

        for cue in cast:
            for word in cue.split():
                if len(word) > 1 and any(c.isalpha() for c in word):
                    self.words[word.upper()] = display_name(word)

    def in_action(self, text: str) -> str:
        """Cast names shouted in caps (character introductions) written as names; the rest untouched."""
        text = _CAPS_WORD.sub(lambda m: self._word(m.group(0)) or m.group(0), text)
        # 'Samantha STRATA': the rest of an introduced name, capitalised like the part the cast knows
        if not self.words:
            return text
        known = "|".join(re.escape(w) for w in sorted(set(self.words.values()), key=len, reverse=True))
        after = re.compile(rf"\b((?:{known}) )([A-Z]{{2,}})\b")
        return after.sub(lambda m: m.group(1) + display_name(m.group(2)), text)

    def _word(self, caps: str) -> str | None:
        base = re.sub(r"(?:['’]S)$", "", caps)
        if base in self.words:
            return self.words[base] + caps[len(base) :].lower()
        return None

    def lower(self, text: str) -> str:
        """Lower case except for cast names: 'NIGHT (LORD TENTAKEWL)' -> 'night (Lord Tentakewl)'."""
        return " ".join(
            self._word(w.strip("()").upper())
            and w.replace(w.strip("()"), self._word(w.strip("()").upper()) or "")
            or w.lower()
            for w in text.split()
        )

    def sentence_case(self, text: str) -> str:
        """An all-caps line ('FADE TO BLACK', 'THE END') as a sentence; cast names keep their capitals."""
        if text != text.upper():
            return text
        words = [self._word(w) or w.lower() for w in text.split()]
        out = " ".join(words)
        return out[:1].upper() + out[1:]


def setting(heading: SceneHeading, names: CastNames) -> str:
    """'INT. BRIANNA'S BEDROOM - NIGHT' -> "Inside Brianna's Bedroom, night." (no slugline in N)."""
    place = " ".join(
        display_name(w) if w.isupper() else w for w in (heading.location or "").replace(" - ", ", ").split()
    )
    where = {
        "INT.": "Inside",
        "EXT.": "Outside",
        "EST.": "Outside",
        "INT./EXT.": "Inside and outside",
        "I/E": "Inside and outside",
    }.get((heading.int_ext or "").upper(), "")
    time = (heading.time_of_day or "").strip()
    time = _TIMES.get(time.upper(), names.lower(time))
    head = " ".join(p for p in (where, place) if p) or ""
    if not head and not time:
        return ""
    text = ", ".join(p for p in (head, time) if p)
    return text[:1].upper() + text[1:] + "."


def is_emotion(text: str) -> bool:
    """A parenthetical naming a feeling ('(confused)'), by the critic's own lexicon."""
    return len(text.split()) <= 2 and bool(find(f"is {text}", "emotion_statement"))


def _manner_kind(text: str) -> str:
    """How a parenthetical reads in prose: pause, adverb, prep, action, or absolute (', shouting')."""
    words = text.split()
    first = words[0].lower() if words else ""
    if not words:
        return "none"
    if _PAUSE.match(text):
        return "pause"
    if first.endswith("ly") and len(words) <= 3:
        return "adverb"
    if first in {"more", "less", "very", "almost", "barely"} and len(words) <= 3:
        return "adverb" if words[-1].lower().endswith("ly") else "absolute"
    if first in _PREPOSITIONS:
        return "prep"
    second = words[1].lower() if len(words) > 1 else ""
    if (
        first.endswith("s")
        and not first.endswith(("ss", "us", "is"))
        and first not in _BODY_NOUNS
        and not second.endswith(("ing", "ed"))
    ):
        return "action"
    return "absolute"


def _clean_parenthetical(text: str) -> str:
    inner = flat(text).strip()
    if inner.startswith("(") and inner.endswith(")"):
        inner = inner[1:-1]
    inner = inner.strip().rstrip(".").strip()
    return inner[:1].lower() + inner[1:] if inner[:2] != inner[:2].upper() else inner


def _extension_phrase(extension: str | None) -> str:
    ext = (extension or "").strip().upper()
    if not ext or ext in _CONTINUED:
        return ""
    if ext in _VOICE_OVER:
        return "in voice-over"
    if ext in _OFF_SCREEN:
        return "from off screen"
    if ext in _DEVICES:
        return f"over the {ext.lower()}"
    if ext == "FILTERED":
        return "over the line"
    return f"({ext.lower()})"


def _attributed(name: str, speech: Speech, *, goes_on: bool, kind: str, manner: str) -> str:
    """One speech as prose: '"Line," Anna says quietly.' or 'Anna grins and says, "Line."'."""
    line = speech.line
    asks = line.rstrip("'\" )").endswith("?")
    verb = "asks" if asks else ("goes on" if goes_on else "says")
    extras = [_extension_phrase(speech.extension)]
    if speech.dual:
        extras.append("at the same time")
    if kind in {"adverb", "prep"}:
        extras.insert(0, manner)
    tail = " ".join(e for e in extras if e)
    if kind == "absolute":
        tail = f"{tail}, {manner}" if tail else f", {manner}"
    tail = tail if tail.startswith(",") or not tail else " " + tail
    if kind == "action":
        says = "asks" if asks else "says"
        return f'{name} {manner} and {says}{tail}, "{line}"'
    if line.endswith(".") and not line.endswith(".."):
        quoted = line[:-1] + ","
    elif line[-1:] in "?!…-—,":
        quoted = line
    else:
        quoted = line + ","
    return f'"{quoted}" {name} {verb}{tail}.'


def render_scene(scene: Scene, cast: list[str]) -> Rendering:
    """S -> N by rules, one paragraph per action, speech block, cut, song or title card."""
    names = CastNames(cast)
    paragraphs: list[Paragraph] = []
    opening = setting(scene.heading, names)
    if opening:
        paragraphs.append(Paragraph("setting", opening))
    block: Paragraph | None = None
    cue: Character | None = None
    pending: list[str] = []
    for element in scene.elements:
        if isinstance(element, Character):
            cue, pending = element, []
            speaker = normalise_name(element.name)
            block = Paragraph("speech", "", speaker=speaker)
            paragraphs.append(block)
            continue
        if isinstance(element, Parenthetical) and block is not None:
            pending.append(_clean_parenthetical(text_of(element)))
            continue
        if isinstance(element, Dialogue) and block is not None and cue is not None:
            line = speech_line(text_of(element))
            if not line:
                continue
            _speak(block, cue, line, pending, names)
            pending = []
            continue
        if isinstance(element, Lyrics):
            words = speech_line(text_of(element))
            if words and block is not None and cue is not None:
                block.text = " ".join(
                    p for p in (block.text, f'{display_name(block.speaker or "")} sings, "{words}"') if p
                )
                block.speeches.append(Speech(block.speaker or "", words))
            elif words:
                paragraphs.append(Paragraph("song", f'Singing: "{words}"'))
            continue
        block, cue, pending = None, None, []
        if isinstance(element, Action):
            text = flat(text_of(element))
            if text:
                # An all-caps line ('DING DONG.', 'MONTAGE') is a screenplay's emphasis; prose writes a sentence.
                text = names.sentence_case(text) if text.isupper() else names.in_action(text)
                paragraphs.append(Paragraph("action", text))
        elif isinstance(element, Transition):
            paragraphs.append(Paragraph("cut", _cut(text_of(element), names)))
        elif isinstance(element, Shot):
            target = _SHOT_PREFIX.sub("", flat(text_of(element))).strip(" .:")
            paragraphs.append(
                Paragraph(
                    "cut",
                    f"Cut to {names.sentence_case(target).lower() if target.isupper() else target}."
                    if target
                    else "Cut.",
                )
            )
        elif isinstance(element, Centered):
            text = flat(text_of(element)).strip(" .")
            if text:
                paragraphs.append(Paragraph("card", names.sentence_case(text) + "."))
    return Rendering([p for p in paragraphs if p.text])


def _speak(block: Paragraph, cue: Character, line: str, pending: list[str], names: CastNames) -> None:
    name = display_name(block.speaker or "")
    parts: list[str] = []
    manner, kind = "", "none"
    for note in pending:
        note_kind = _manner_kind(note)
        if is_emotion(note):
            block.emotions.append(note)
        if note_kind == "pause":
            parts.append(f"{name} pauses.")
        elif kind == "none":
            manner, kind = names.in_action(note), note_kind
            block.manners.append(note)
        else:  # a second manner for one line: narrate it as its own sentence
            parts.append(f"{name}, {names.in_action(note)}.")
            block.manners.append(note)
    speech = Speech(block.speaker or "", line, manner, cue.extension, cue.dual)
    parts.append(_attributed(name, speech, goes_on=bool(block.speeches), kind=kind, manner=manner))
    block.speeches.append(speech)
    block.text = " ".join(p for p in (block.text, *parts) if p)


def _cut(text: str, names: CastNames) -> str:
    """'CUT TO:' -> 'Cut.', 'FADE TO BLACK.' -> 'Fade to black.', 'DISSOLVE TO:' -> 'Dissolve.'."""
    core = re.sub(r"\(\d+\)$", "", flat(text)).strip(" .:")
    core = re.sub(r"\s+TO$", "", core, flags=re.IGNORECASE)
    if not core:
        return "Cut."
    return names.sentence_case(core.upper()) + "."
