"""Scene-level rules: headings, scenes without one, empty and duplicated scenes, numbering, transitions."""

from __future__ import annotations

import re

from dsr.screenplay.headings import MEANT_HEADING_PREFIX
from dsr.screenplay.lexicon import TIMES_OF_DAY
from dsr.screenplay.lint_rules.core import Context, register, rule, shorten, strip_markdown, text_of
from dsr.screenplay.model import (
    Action,
    Centered,
    Character,
    Dialogue,
    Element,
    Lyrics,
    PageBreak,
    Parenthetical,
    SceneHeading,
    Section,
    Shot,
    Transition,
)
from dsr.screenplay.page import FULL_WIDTH

rule("SP001", "text-before-first-heading", "warning", "body text before the first scene heading")
rule("SP002", "no-scene-headings", "warning", "content but no scene heading at all (fine for a stage play)")
rule(
    "SP003",
    "heading-without-prefix",
    "warning",
    "a non-forced heading that does not start INT./EXT./EST./I/E",
)
rule("SP004", "heading-without-location", "warning", "a heading with no location after the prefix")
rule("SP005", "heading-without-time", "warning", "a heading with no time of day (' - DAY')")
rule("SP006", "heading-unusual-time", "info", "a time of day outside the usual DAY/NIGHT/CONTINUOUS/... set")
rule(
    "SP007",
    "heading-not-recognised",
    "error",
    "a line that is meant as a scene heading but parses as something else",
)
rule(
    "SP008", "informal-slugline", "warning", "an all-caps location line without INT./EXT. used as a slugline"
)
rule("SP009", "empty-scene", "warning", "a scene heading with nothing under it")
rule("SP010", "duplicate-scene", "error", "a scene whose body repeats an earlier scene word for word")
rule("SP011", "repeated-paragraph", "warning", "an action paragraph or speech repeated word for word")
rule(
    "SP012", "scene-numbering", "warning", "scene numbers missing on some headings, repeated, or out of order"
)
rule("SP013", "heading-markup", "warning", "emphasis markup inside a scene heading")
rule(
    "SP014", "stray-title-page", "warning", "a title-page block ('Title:', 'Author:') inside the script body"
)
rule("SP050", "dangling-transition", "warning", "a transition not followed by a scene heading")
rule("SP051", "transition-case", "warning", "a transition that is not upper case")

_TIME_SPLIT = re.compile(r"\s*(?:--+|—|–)\s*|(?:^|\s+)-(?:\s+|$)")
_SCENE_LABEL = re.compile(r"^(?:scene\s*\d+\s*[:.\-–—]?\s*|\d+[.)]\s+)", re.IGNORECASE)
_NUMBER = re.compile(r"^(\d+)")
_BODY = (Action, Character, Dialogue, Parenthetical, Lyrics, Shot, Centered)
# All-caps lines that are structure or sound, not a place or a speaker ('ACT ONE', 'SCENE.', 'FADE TO BLACK.').
NOT_A_NAME = re.compile(
    r"^(?:ACT|SCENE|THE END|END|BLACKOUT|BLACK|SILENCE|LATER|MONTAGE|INTERCUT|FLASHBACK|CONTINUED|TITLE|SUPER"
    r"|BACK TO|INSERT|PROLOGUE|EPILOGUE|TEASER|COLD OPEN|INTERMISSION|CURTAIN|FADE|CUT|DISSOLVE|SMASH)\b|[.:!?]$"
)
_TITLE_KEY = re.compile(
    r"^(?:title|credit|author|authors|source|draft date|date|contact|copyright|notes|subtitle|revision)\s*:",
    re.IGNORECASE,
)
OPENING_TRANSITIONS = frozenset({"FADE IN:", "FADE IN", "OPEN ON:", "FADE IN.", "COLD OPEN", "COLD OPEN:"})


def split_heading(heading: SceneHeading) -> tuple[str | None, str, str | None]:
    """(prefix, location, time) read from the heading text itself, so every reader's headings split alike."""
    text = " ".join(heading.text.split())
    match = MEANT_HEADING_PREFIX.match(text)
    prefix = match.group(0).strip() if match else heading.int_ext
    rest = text[match.end() :].strip(" .") if match else text
    parts = _TIME_SPLIT.split(rest)
    time = (parts[-1].strip() or None) if len(parts) > 1 else None
    location = " - ".join(p.strip() for p in (parts[:-1] if len(parts) > 1 else parts) if p.strip())
    return prefix, location, time


def _time_is_usual(time: str) -> bool:
    upper = time.upper().strip(" .")
    if upper in TIMES_OF_DAY:
        return True
    words = set(re.findall(r"[A-Z]+", upper))
    return any(t in words or t in upper for t in TIMES_OF_DAY if " " not in t)


def is_title_block(text: str) -> bool:
    """Two or more title-page keys ('Title:', 'Author:') at line starts: a title page that landed in the body."""
    return sum(1 for line in text.split("\n") if _TITLE_KEY.match(line)) >= 2


def looks_like_heading(text: str) -> bool:
    """True for 'INT. KITCHEN - DAY' also when wrapped in markdown or labelled 'Scene 3:'."""
    line = strip_markdown(text)
    line = _SCENE_LABEL.sub("", line).strip()
    line = strip_markdown(line)
    return bool(MEANT_HEADING_PREFIX.match(line)) and len(line) > 4 and any(c.isalpha() for c in line[4:])


def is_slug_like(text: str) -> bool:
    """A single short all-caps line without sentence punctuation: 'KITCHEN - NIGHT', 'LIVING ROOM'."""
    line = text.strip()
    if (
        "\n" in line
        or not line
        or len(line) > FULL_WIDTH
        or line[-1] in ".!?…:;,\"')"
        or line.startswith("(")
    ):
        return False
    letters = [c for c in line if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters) and len(line.split()) <= 8


@register
def check_headings(ctx: Context) -> None:
    for index, scene in ctx.scenes():
        heading = scene.heading
        line = ctx.line_of(heading)
        excerpt = heading.text
        if re.search(r"\*\*|(?<!\w)[*_]\S", heading.text):
            ctx.add("SP013", "scene heading carries emphasis markup", line=line, scene=index, excerpt=excerpt)
        prefix, location, time = split_heading(heading)
        if prefix is None and not (heading.forced and ctx.language == "zh"):
            ctx.add(
                "SP003",
                "scene heading does not start with INT., EXT., INT./EXT. or EST."
                + (" (forced with '.')" if heading.forced else ""),
                line=line,
                scene=index,
                excerpt=excerpt,
                severity="info" if heading.forced else None,
            )
        if heading.forced:
            continue  # the rest of a forced heading is the writer's explicit choice (zh headings are forced)
        if not location:
            ctx.add("SP004", "scene heading names no location", line=line, scene=index, excerpt=excerpt)
        if not time:
            ctx.add(
                "SP005",
                "scene heading has no time of day (e.g. ' - DAY')",
                line=line,
                scene=index,
                excerpt=excerpt,
            )
        elif not _time_is_usual(time):
            ctx.add("SP006", f"unusual time of day {time!r}", line=line, scene=index, excerpt=excerpt)


@register
def check_missing_headings(ctx: Context) -> None:
    body = [e for e in ctx.doc.preamble if isinstance(e, _BODY)]
    if not body:
        return
    first = body[0]
    if not ctx.doc.scenes:
        ctx.add(
            "SP002",
            "no scene headings: every screen scene starts with INT./EXT. LOCATION - TIME (fine for a stage play)",
            line=ctx.line_of(first),
            scene=None,
            excerpt=text_of(first),
        )
        return
    # A scene opened by an informal slugline ('DINING ROOM - DAY', SP008) has a heading of sorts.
    visible = [e for e in ctx.doc.preamble if isinstance(e, (*_BODY, Transition, PageBreak))]
    informal = isinstance(first, Action) and slug_context(visible, visible.index(first))
    talks = any(isinstance(e, Character | Dialogue) for e in body) and not informal
    ctx.add(
        "SP001",
        "a scene with dialogue has no heading: it comes before the first scene heading"
        if talks
        else "text before the first scene heading",
        line=ctx.line_of(first),
        scene=None,
        excerpt=text_of(first),
        severity="error" if talks else None,
    )


@register
def check_disguised_headings(ctx: Context) -> None:
    for block in ctx.blocks():
        elements = block.visible()
        for position, element in enumerate(elements):
            if isinstance(element, Action) and is_title_block(element.text):
                ctx.add(
                    "SP014",
                    "title-page keys inside the script: the title page must come first, in one block",
                    line=ctx.line_of(element),
                    scene=block.scene,
                    excerpt=text_of(element),
                )
            elif isinstance(element, Action) and not element.forced:
                lines = text_of(element).split("\n")
                disguised = [i for i, text in enumerate(lines) if looks_like_heading(text)]
                for offset in disguised:
                    ctx.add(
                        "SP007",
                        "looks like a scene heading but reads as action: put it alone on a line with a blank line"
                        " before and after, and no markdown",
                        line=ctx.line_of(element, offset),
                        scene=block.scene,
                        excerpt=lines[offset],
                    )
                if not disguised and len(lines) == 1 and slug_context(elements, position):
                    ctx.add(
                        "SP008",
                        "location line without INT./EXT.: write 'INT. " + lines[0].strip() + "'",
                        line=ctx.line_of(element),
                        scene=block.scene,
                        excerpt=lines[0],
                    )
            elif isinstance(element, Character) and looks_like_heading(element.cue):
                ctx.add(
                    "SP007",
                    "scene heading read as a character cue: it needs a blank line after it",
                    line=ctx.line_of(element),
                    scene=block.scene,
                    excerpt=element.cue,
                )
        for element in block.elements:
            if isinstance(element, Section) and looks_like_heading(element.text):
                ctx.add(
                    "SP007",
                    "scene heading written as a markdown '#' section",
                    line=ctx.line_of(element),
                    scene=block.scene,
                    excerpt=element.text,
                )


def slug_context(elements: list[Element], position: int) -> bool:
    """A slug-like line counts as a slugline when a transition or page break precedes it, or it ends in a time."""
    text = text_of(elements[position]).strip()
    if not is_slug_like(text) or NOT_A_NAME.search(text):
        return False
    parts = _TIME_SPLIT.split(text)
    if len(parts) > 1 and _time_is_usual(parts[-1]):
        return True
    before = elements[position - 1] if position else None
    return isinstance(before, Transition | PageBreak) and position + 1 < len(elements)


def _body_signature(elements: list[Element]) -> str:
    parts = [f"{e.type}:{' '.join(text_of(e).lower().split())}" for e in elements if isinstance(e, _BODY)]
    return "\n".join(parts)


@register
def check_scene_bodies(ctx: Context) -> None:
    seen: dict[str, int] = {}
    paragraphs: dict[str, int] = {}
    for block in ctx.blocks():
        body = [e for e in block.elements if isinstance(e, _BODY)]
        if block.heading is not None and not body:
            ctx.add(
                "SP009",
                "scene has a heading but no action or dialogue",
                line=ctx.line_of(block.heading),
                scene=block.scene,
                excerpt=block.heading.text,
            )
        signature = _body_signature(block.elements)
        if block.heading is not None and body:
            if signature in seen:
                ctx.add(
                    "SP010",
                    f"scene repeats the body of scene {seen[signature] + 1} word for word",
                    line=ctx.line_of(block.heading),
                    scene=block.scene,
                    excerpt=block.heading.text,
                    severity="error" if len(body) > 1 else "warning",
                )
                continue  # its paragraphs are already reported as one duplicate
            seen[signature] = block.scene or 0
        for element in body:
            if not isinstance(element, Action | Dialogue):
                continue
            key = " ".join(text_of(element).lower().split())
            if len(key) < 40:
                continue
            if key in paragraphs:
                ctx.add(
                    "SP011",
                    f"repeats the paragraph at line {paragraphs[key]}"
                    if paragraphs[key]
                    else "repeated paragraph",
                    line=ctx.line_of(element),
                    scene=block.scene,
                    excerpt=text_of(element),
                )
            else:
                paragraphs[key] = ctx.line_of(element) or 0


@register
def check_numbering(ctx: Context) -> None:
    headings = [(i, s.heading) for i, s in ctx.scenes()]
    numbered = [(i, h) for i, h in headings if h.scene_number]
    if not numbered:
        return
    for index, heading in headings:
        if not heading.scene_number:
            ctx.add(
                "SP012",
                "scene has no number while others do",
                line=ctx.line_of(heading),
                scene=index,
                excerpt=heading.text,
            )
    seen: set[str] = set()
    last: tuple[int, str] = (0, "")  # the highest number so far, as _number_key
    for index, heading in numbered:
        number = heading.scene_number or ""
        if number in seen:
            ctx.add(
                "SP012",
                f"scene number {shorten(number, 24)} used twice",
                line=ctx.line_of(heading),
                scene=index,
                excerpt=number,
            )
        seen.add(number)
        match = _NUMBER.match(number)
        if match:
            value = _number_key(match.group(1))
            if value < last:
                ctx.add(
                    "SP012",
                    f"scene number {shorten(number, 24)} comes after {shorten(last[1], 24)}",
                    line=ctx.line_of(heading),
                    scene=index,
                    excerpt=number,
                )
            last = max(last, value)


def _number_key(digits: str) -> tuple[int, str]:
    """Orders digit strings as numbers without int(): a number of thousands of digits is just text here."""
    significant = digits.lstrip("0") or "0"
    return len(significant), significant


def _is_ending(text: str) -> bool:
    upper = text.upper().strip()
    return not upper.endswith("TO:") or any(w in upper for w in ("BLACK", "OUT", "WHITE", "END"))


@register
def check_transitions(ctx: Context) -> None:
    blocks = list(ctx.blocks())
    for number, block in enumerate(blocks):
        elements = [e for e in block.visible() if not isinstance(e, PageBreak)]
        for position, element in enumerate(elements):
            if not isinstance(element, Transition):
                continue
            text = text_of(element).strip()
            line = ctx.line_of(element)
            if any(c.islower() for c in text):
                ctx.add(
                    "SP051",
                    "transitions are written in upper case",
                    line=line,
                    scene=block.scene,
                    excerpt=text,
                )
            if text.upper().rstrip(".") in {t.rstrip(".") for t in OPENING_TRANSITIONS}:
                continue
            after = elements[position + 1] if position + 1 < len(elements) else None
            if after is None:
                last_block = all(not b.visible() for b in blocks[number + 1 :])
                if last_block and not _is_ending(text):
                    ctx.add(
                        "SP050",
                        f"the script ends on {text!r}, which leads nowhere",
                        line=line,
                        scene=block.scene,
                        excerpt=text,
                    )
                continue
            if isinstance(after, Transition | Centered):
                continue
            if isinstance(after, Action) and is_slug_like(text_of(after)):
                continue  # reported as an informal slugline (SP008)
            ctx.add(
                "SP050",
                f"transition {text!r} is followed by {after.type}, not by a scene heading",
                line=line,
                scene=block.scene,
                excerpt=text,
            )
