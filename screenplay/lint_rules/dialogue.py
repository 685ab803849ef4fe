"""Dialogue rules: cues, speeches, parentheticals, the cast, and dialogue that slipped into action.

Fountain turns a lowercase cue, a cue followed by a blank line, or a stray '(beat)' into action, so
besides checking the parsed blocks these rules look at action paragraphs for the shapes a chat model
produces instead of dialogue ('MARA: Hi.', a lone 'MARA' line, '"Hi," she says.').
"""

from __future__ import annotations

import re

from dsr.screenplay.lexicon import CUE_EXTENSIONS
from dsr.screenplay.lint_rules.cast import normalise_name
from dsr.screenplay.lint_rules.core import INVISIBLE, Context, register, rule, strip_markdown, text_of
from dsr.screenplay.lint_rules.structure import NOT_A_NAME, slug_context
from dsr.screenplay.model import Action, Character, Dialogue, Element, Lyrics, Parenthetical

rule("SP020", "cue-not-uppercase", "warning", "a character cue that is not upper case")
rule("SP021", "cue-without-dialogue", "error", "a character cue with no speech under it")
rule("SP022", "dialogue-without-cue", "error", "speech with no character cue above it")
rule("SP023", "empty-dialogue", "error", "a dialogue line with no text")
rule(
    "SP024", "parenthetical-outside-dialogue", "error", "a parenthetical that is not inside a dialogue block"
)
rule("SP025", "parenthetical-format", "warning", "a parenthetical not wrapped in '(' ')'")
rule("SP026", "long-parenthetical", "warning", "a parenthetical longer than a brief delivery note")
rule("SP027", "parenthetical-ends-block", "warning", "a parenthetical after the last line of a speech")
rule("SP028", "same-speaker-twice", "info", "the same character cued twice in a row with nothing between")
rule("SP029", "long-speech", "info", "a speech longer than about 20 lines")
rule("SP030", "unknown-character", "error", "a cue that names no character of the given profiles")
rule("SP031", "unusual-extension", "info", "a cue extension other than V.O., O.S., CONT'D, ...")
rule("SP032", "colon-dialogue", "error", "'NAME: line' dialogue written as action")
rule("SP033", "quoted-dialogue-in-action", "warning", "quoted speech with a speech verb inside action")

LONG_PARENTHETICAL = 50  # characters inside the parentheses; delivery notes are a few words
LONG_SPEECH = 700  # characters, about 20 lines of a 35-character dialogue column

_SPEECH = (Dialogue, Parenthetical, Lyrics)
_COLON_LINE = re.compile(r"^\s*([^\W\d_][\w .'’\-]{0,30}?)\s*(\([^()]*\))?\s*:\s*(\S.*)$")
_NOT_A_SPEAKER = frozenset(
    {
        "NOTE",
        "NOTES",
        "SUPER",
        "TITLE",
        "SUBTITLE",
        "INSERT",
        "CARD",
        "TITLE CARD",
        "CAPTION",
        "SIGN",
        "CHYRON",
        "TEXT",
        "LATER",
        "BACK TO",
        "INTERCUT",
        "FLASHBACK",
        "MONTAGE",
        "SERIES OF SHOTS",
        "ON SCREEN",
        "THE END",
        "PS",
        "P.S",
        "FADE IN",
        "CUT TO",
        "SCENE",
        "SETTING",
        "TIME",
        "PLACE",
        "WARNING",
        "LOCATION",
        "TRANSITION",
    }
)
_NAME_LIKE = re.compile(r"^[A-Z][A-Z'’.\-]*(?: [A-Z][A-Z'’.\-]*){0,2}(?: \([^()]*\))?$")
_SPEECH_VERB = (
    r"says|said|asks|asked|replies|replied|whispers|whispered|shouts|shouted|mutters|muttered|yells|yelled"
    r"|answers|answered|adds|added|continues|tells|told|cries|cried|snaps|snapped|murmurs|murmured|exclaims"
)
_QUOTE = r"[\"“][^\"”]*[a-z][^\"”]*[\"”]"
_QUOTED_SPEECH = re.compile(
    rf"{_QUOTE},?\s+(?:\w+\s+){{0,2}}(?:{_SPEECH_VERB})\b|\b(?:{_SPEECH_VERB}),?\s*:?\s*{_QUOTE}",
    re.IGNORECASE,
)


def _extensions(extension: str) -> list[str]:
    parts = re.split(r"\)\s*\(", extension.strip("() "))
    return [
        " ".join(p.upper().replace(" ", "").split()) if "." in p else " ".join(p.upper().split())
        for p in parts
    ]


@register
def check_blocks(ctx: Context) -> None:
    """Walk each scene's dialogue blocks: cue → (parenthetical | dialogue | lyrics)+."""
    for block in ctx.blocks():
        elements = [e for e in block.elements if not isinstance(e, INVISIBLE)]
        previous_speaker: str | None = None
        position = 0
        while position < len(elements):
            element = elements[position]
            if isinstance(element, Character):
                end = position + 1
                while end < len(elements) and isinstance(elements[end], _SPEECH):
                    end += 1
                _check_cue(ctx, block.scene, element, elements[position + 1 : end], previous_speaker)
                previous_speaker = normalise_name(element.name)
                position = end
                continue
            previous_speaker = None
            if isinstance(element, Dialogue):
                ctx.add(
                    "SP022",
                    "dialogue with no character cue above it",
                    line=ctx.line_of(element),
                    scene=block.scene,
                    excerpt=text_of(element),
                )
            elif isinstance(element, Parenthetical):
                ctx.add(
                    "SP024",
                    "parenthetical outside a dialogue block",
                    line=ctx.line_of(element),
                    scene=block.scene,
                    excerpt=element.text,
                )
            position += 1


def _check_cue(
    ctx: Context, scene: int | None, cue: Character, speech: list[Element], previous_speaker: str | None
) -> None:
    line = ctx.line_of(cue)
    name = normalise_name(cue.name)
    letters = [c for c in cue.name if c.isalpha()]
    if any(c.islower() for c in letters):
        ctx.add(
            "SP020",
            "character cue is not upper case" + (" (forced with '@')" if cue.forced else ""),
            line=line,
            scene=scene,
            excerpt=cue.cue,
            severity="info" if cue.forced else None,
        )
    if not any(isinstance(e, Dialogue | Lyrics) for e in speech):
        ctx.add(
            "SP021",
            f"cue {cue.cue!r} has no dialogue under it" + (" (only a parenthetical)" if speech else ""),
            line=line,
            scene=scene,
            excerpt=cue.cue,
        )
    elif isinstance(speech[-1], Parenthetical):
        ctx.add(
            "SP027",
            "parenthetical after the last line of the speech: make it action",
            line=ctx.line_of(speech[-1]),
            scene=scene,
            excerpt=speech[-1].text,
        )
    if previous_speaker == name and not cue.dual:
        ctx.add(
            "SP028",
            f"{name} speaks twice in a row: merge the speeches or put action between them",
            line=line,
            scene=scene,
            excerpt=cue.cue,
        )
    if cue.extension:
        odd = [e for e in _extensions(cue.extension) if e not in CUE_EXTENSIONS]
        if odd:
            ctx.add("SP031", f"unusual cue extension {odd[0]!r}", line=line, scene=scene, excerpt=cue.cue)
    if ctx.cast is not None and ctx.cast.resolve(cue.name) is None:
        ctx.add(
            "SP030",
            f"{name} is not among the episode's characters",
            line=line,
            scene=scene,
            excerpt=cue.cue,
        )
    for element in speech:
        if isinstance(element, Dialogue) and not text_of(element).strip():
            ctx.add("SP023", f"{name} has an empty line of dialogue", line=ctx.line_of(element), scene=scene)
        elif isinstance(element, Parenthetical):
            _check_parenthetical(ctx, scene, element)
    words = sum(len(text_of(e)) for e in speech if isinstance(e, Dialogue))
    if words > LONG_SPEECH:
        ctx.add(
            "SP029",
            f"{name}'s speech runs {words} characters (about {words // 35} lines): break it up",
            line=line,
            scene=scene,
            excerpt=cue.cue,
        )


def _check_parenthetical(ctx: Context, scene: int | None, element: Parenthetical) -> None:
    text = text_of(element).strip()
    line = ctx.line_of(element)
    if not (text.startswith("(") and text.endswith(")")) or len(text) < 3:
        ctx.add("SP025", "parenthetical must be wrapped in parentheses", line=line, scene=scene, excerpt=text)
    elif len(text) - 2 > LONG_PARENTHETICAL:
        ctx.add(
            "SP026",
            f"parenthetical of {len(text) - 2} characters: keep it to a brief delivery note, or make it action",
            line=line,
            scene=scene,
            excerpt=text,
        )


@register
def check_dialogue_in_action(ctx: Context) -> None:
    """Cues and speech a parser can only read as action."""
    known = ctx.known_names
    for block in ctx.blocks():
        elements = [e for e in block.elements if not isinstance(e, INVISIBLE)]
        for position, element in enumerate(elements):
            if not isinstance(element, Action) or element.forced:
                continue
            lines = text_of(element).split("\n")
            first = strip_markdown(lines[0])
            following = elements[position + 1] if position + 1 < len(elements) else None
            if not (len(lines) == 1 and slug_context(elements, position)):
                _check_lone_cue(ctx, block.scene, element, lines, first, following, known)
            for offset, raw in enumerate(lines):
                _check_colon_line(ctx, block.scene, element, offset, strip_markdown(raw), known)
            text = " ".join(lines)
            quoted = _QUOTED_SPEECH.search(text)
            if quoted:
                ctx.add(
                    "SP033",
                    "speech inside action: give it a cue and a dialogue line",
                    line=ctx.line_of(element),
                    scene=block.scene,
                    excerpt=quoted.group(0),
                )
            if len(lines) == 1 and first.startswith("(") and first.endswith(")"):
                ctx.add(
                    "SP024",
                    "parenthetical standing alone as action: attach it to a speech or write it as action",
                    line=ctx.line_of(element),
                    scene=block.scene,
                    excerpt=first,
                    severity="warning",
                )


def _check_lone_cue(
    ctx: Context,
    scene: int | None,
    element: Action,
    lines: list[str],
    first: str,
    following: Element | None,
    known: frozenset[str],
) -> None:
    """'MARA' alone then a blank line, or 'Mara' on top of her speech: Fountain made both action."""
    name = normalise_name(first)
    if not name or len(first) > 40:
        return
    if len(lines) > 1:
        if name in known and (any(c.islower() for c in first if c.isalpha()) or first != lines[0].strip()):
            ctx.add(
                "SP020",
                f"cue {first!r} is not a plain upper-case line, so its speech reads as action",
                line=ctx.line_of(element),
                scene=scene,
                excerpt=first,
                severity="error",
            )
        return
    if not isinstance(following, Action):
        return
    if name in known:
        severity = None
    elif _NAME_LIKE.match(first) and not NOT_A_NAME.search(first):
        severity = "warning"  # an all-caps line nobody speaks under: probably a cue, maybe a sound
    else:
        return
    ctx.add(
        "SP021",
        f"cue {first!r} is followed by a blank line, so it reads as action: put the speech right under it",
        line=ctx.line_of(element),
        scene=scene,
        excerpt=first,
        severity=severity,
    )


def _check_colon_line(
    ctx: Context, scene: int | None, element: Action, offset: int, line: str, known: frozenset[str]
) -> None:
    match = _COLON_LINE.match(line)
    if not match:
        return
    speaker = " ".join(match.group(1).upper().split())
    if speaker in _NOT_A_SPEAKER or match.group(3).startswith("//"):
        return
    if speaker in known:
        severity = None
    elif match.group(1).isupper() and len(speaker.split()) <= 3:
        severity = "warning"
    else:
        return
    ctx.add(
        "SP032",
        f"'{speaker}: ...' is dialogue written as action: put the cue {speaker} on its own line above the speech",
        line=ctx.line_of(element, offset),
        scene=scene,
        excerpt=line,
        severity=severity,
    )
