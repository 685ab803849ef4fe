"""Fountain 1.1 reader (https://fountain.io/syntax); :mod:`dsr.screenplay.fountain_writer` writes it back.

The reader is one pass over the lines with precompiled patterns; only the first line of a paragraph
is classified, continuation lines follow the paragraph's mode (action, dialogue block). Hand written
because screenplain, the maintained Python parser, drops notes and boneyard, has no lyrics, does not
nest boneyard, and is over 3x slower (``benchmarks/parse.py`` measures both).

Reader rules beyond the plain spec, chosen for real files:

* Leading whitespace is ignored except in action, so typewriter-indented scripts (cues at 12
  columns, dialogue at 4) read as screenplays. A standalone, all-caps line indented 10 or more
  columns that ends in ':' or '.' (``FADE TO BLACK.`` typed at the transition column) is a
  transition; Fountain needs '>' for it, so it comes out ``forced``.
* Scene headings and ``TO:`` transitions need a blank line before them, not after, so a heading
  written straight above its first action line still opens a scene.
* Standalone ``[[notes]]`` and ``/* boneyard */`` before the title page are allowed (Highland and
  afterwriting write them); boneyard lines inside the title page go to the preamble.
* Boneyard nests (``/* a /* b */ c */``); every span becomes a :class:`Boneyard` element where it
  starts, or right after the paragraph or speech it sat inside. An unterminated ``/*`` is text.
* A multi-line note is one logical line; a note interrupted by a truly empty line is not a note.
* Only a line of exactly two spaces is a blank line *inside* action or dialogue; other
  whitespace-only lines separate paragraphs.

``forced`` flags record the forcing character written in the source; an action is also marked
forced when, written as its own paragraph, it would read back as something else (an all-caps line
that followed a lyric without a blank line). The writer writes the forcing character when the flag
is set or when the element would otherwise read back differently (:func:`classify` and
:func:`action_needs_force` are the rules it asks), so read -> write -> read is exact.
"""

from __future__ import annotations

import re

from dsr.screenplay.control import strip_control_characters, warn_control_characters
from dsr.screenplay.headings import HEADING_START, split_heading
from dsr.screenplay.model import Screenplay

_SCENE_NUMBER = re.compile(r"\s*#([\w.\-]+)#\s*$")
_NOTES_ONLY = re.compile(r"\s*(?:\[\[.*?\]\]\s*)+", re.DOTALL)
_NOTE = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
_BONE_TOKEN = re.compile(r"/\*|\*/")
_TITLE_KEY = re.compile(r"([^\W\d_][\w .'&/()-]{0,48}?)\s*:(.*)$")
_KNOWN_TITLE_KEYS = frozenset(
    {
        "title",
        "credit",
        "author",
        "authors",
        "source",
        "draft date",
        "date",
        "contact",
        "copyright",
        "notes",
        "revision",
        "episode",
        "subtitle",
        "series",
        "format",
        "watermark",
        "language",
    }
)
# Private-use characters (removed from the input first): where boneyard was cut out of a line, and
# the whole content of a line that held only boneyard.
_VOID = "\ue000"
_VOID_LINE = "\ue001"
_VOID_ONLY = re.compile("^[ \t]*\ue000[\ue000 \t]*$", re.MULTILINE)
SOFT_BLANK = "  "  # the spec's "two spaces" line: a blank line inside action or dialogue
_TRANSITION_INDENT = 10


def _is_blank(line: str) -> bool:
    return not line.strip() and line != SOFT_BLANK


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def _is_cue(s: str) -> bool:
    """All-caps name with at least one cased letter, then optional ``(extensions)`` and ``^``."""
    name = s[:-1].rstrip() if s.endswith("^") else s
    paren = name.find("(")
    if paren != -1:
        if not name.endswith(")"):
            return False
        name = name[:paren]
    return name.isupper()


def classify(s: str, raw: str, prev_blank: bool, next_blank: bool) -> str:
    """The element type the paragraph line ``raw`` (``s`` = stripped) starts, given its neighbours.

    Shared by reader and writer so the writer can tell exactly when a forcing character is needed.
    """
    first = s[0]
    if first == "!":
        return "action!"
    if first == "@" and len(s) > 1 and prev_blank:
        return "character!"
    if first == "~":
        return "lyrics"
    if first == "." and prev_blank and len(s) > 1 and s[1] not in ". ":
        return "heading!"
    if first == "=" and s.count("=") == len(s) and len(s) >= 3:
        return "page_break"
    if first == "#":
        return "section"
    if first == "=":
        return "synopsis"
    if first == ">":
        return "centered" if s.endswith("<") and len(s) > 1 else "transition!"
    if first == "[" and _NOTES_ONLY.fullmatch(s):
        return "notes"
    if not prev_blank:
        return "action"
    if HEADING_START.match(s):
        return "heading"
    upper = s.isupper()
    if upper and s.endswith("TO:"):
        return "transition"
    if not next_blank and _is_cue(s):
        return "character"
    if upper and next_blank and s[-1] in ".:" and _indent(raw) >= _TRANSITION_INDENT:
        return "transition~"
    return "action"


def is_scene_heading(line: str) -> bool:
    """Whether ``line``, as a paragraph of its own, reads as a scene heading: the reader's own rule."""
    s = line.strip()
    return bool(s) and classify(s, line, True, True).startswith("heading")


def _heading(text: str, forced: bool, line: int) -> dict:
    number = None
    match = _SCENE_NUMBER.search(text)
    if match and match.start() > 0:
        number = match.group(1)
        text = text[: match.start()]
    text = text.strip()
    int_ext, location, time_of_day = split_heading(text)
    return {
        "text": text,
        "int_ext": int_ext,
        "location": location,
        "time_of_day": time_of_day,
        "scene_number": number,
        "forced": forced,
        "line": line,
    }


def _character(s: str, forced: bool, line: int) -> dict:
    dual = s.endswith("^")
    if dual:
        s = s[:-1].rstrip()
    name, extension = s, None
    paren = s.find("(")
    if paren > 0 and s.endswith(")"):
        name, extension = s[:paren].rstrip(), s[paren + 1 : -1].strip()
    return {
        "type": "character",
        "name": name,
        "extension": extension,
        "dual": dual,
        "forced": forced,
        "line": line,
    }


# ------------------------------------------------------------------------------------ preprocessing


def _boneyard_spans(text: str) -> list[tuple[int, int]]:
    """Outermost ``/* */`` spans, nesting-aware, in one pass; an opener never closed stays text."""
    pairs: list[tuple[int, int]] = []
    stack: list[int] = []
    for token in _BONE_TOKEN.finditer(text):
        if token.group() == "/*":
            stack.append(token.start())
        elif stack:
            pairs.append((stack.pop(), token.end()))
    spans: list[tuple[int, int]] = []
    for start, end in sorted(pairs):
        if not spans or start >= spans[-1][1]:
            spans.append((start, end))
    return spans


def _cut_boneyard(text: str) -> tuple[str, dict[int, list[str]]]:
    """Cut out boneyard spans; lines left empty become :data:`_VOID_LINE`. Texts keyed by start line number."""
    spans = _boneyard_spans(text)
    if not spans:
        return text, {}
    pieces: list[str] = []
    bones: dict[int, list[str]] = {}
    pos = 0
    line = 1
    for start, end in spans:
        pieces.append(text[pos:start])
        line += text.count("\n", pos, start)
        inner = text[start + 2 : end - 2]
        bones.setdefault(line, []).append(inner)
        newlines = inner.count("\n")
        pieces.append(_VOID + ("\n" + _VOID) * newlines)
        line += newlines
        pos = end
    pieces.append(text[pos:])
    return _VOID_ONLY.sub(_VOID_LINE, "".join(pieces)).replace(_VOID, ""), bones


def _open_note(line: str) -> bool:
    start = line.rfind("[[")
    return start != -1 and line.find("]]", start) == -1


def _logical_lines(text: str) -> tuple[list[str], list[int], dict[int, list[str]]]:
    """Lines with boneyard cut out and multi-line notes joined into one logical line.

    Returns the lines, their 1-based source line numbers, and the boneyard texts keyed by the line
    number where each started. Lines that held nothing but boneyard are :data:`_VOID_LINE`: the
    reader emits their boneyard and otherwise skips them (they are neither blank nor text).
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _VOID in text or _VOID_LINE in text:
        text = text.replace(_VOID, "").replace(_VOID_LINE, "")
    bones: dict[int, list[str]] = {}
    if "/*" in text:
        text, bones = _cut_boneyard(text)
    lines = text.split("\n")
    numbers = list(range(1, len(lines) + 1))
    if "[[" not in text:
        return lines, numbers, bones
    opens = [i for i, line in enumerate(lines) if "[[" in line and _open_note(line)]
    if not opens:
        return lines, numbers, bones
    out: list[str] = []
    out_numbers: list[int] = []
    n = len(lines)
    pos = 0
    unclosed_before = -1
    for i in opens:
        if i < pos:
            continue
        out.extend(lines[pos:i])
        out_numbers.extend(numbers[pos:i])
        line = lines[i]
        j = i
        while _open_note(line) and j >= unclosed_before:
            k = j + 1
            while k < n and not _is_blank(lines[k]) and "]]" not in lines[k]:
                k += 1
            if k >= n or _is_blank(lines[k]):
                unclosed_before = k  # no ']]' up to k: later openers before k cannot close either
                break
            line = "\n".join([line, *(part for part in lines[j + 1 : k + 1] if part != _VOID_LINE)])
            j = k
        for absorbed in range(i + 2, j + 2):
            if absorbed in bones:
                bones.setdefault(i + 1, []).extend(bones.pop(absorbed))
        out.append(line)
        out_numbers.append(numbers[i])
        pos = j + 1
    out.extend(lines[pos:])
    out_numbers.extend(numbers[pos:])
    return out, out_numbers, bones


# ------------------------------------------------------------------------------------------ reader


def action_needs_force(lines: list[str], first_in_body: bool) -> bool:
    """Would these action lines, written as their own paragraph, read back as something else?

    The reader sets ``forced`` by this rule too (an action that followed a lyric or a heading without
    a blank line may look like a cue or transition on its own), so write -> read keeps the flag.
    ``first_in_body``: no title page and nothing printed before it, so a ``Key: value`` block would
    be read as the title page.
    """
    first = lines[0]
    s = first.strip()
    if not s or classify(s, first, True, len(lines) == 1) != "action":
        return True
    return first_in_body and bool(_title_page(lines, list(range(1, len(lines) + 1)), {})[0])


def _only_hidden(elements: list[dict]) -> bool:
    return all(element["type"] in ("note", "boneyard") for element in elements)


def _notes(s: str, line: int) -> list[dict]:
    return [{"type": "note", "text": _blank_lines_out(m.group(1)), "line": line} for m in _NOTE.finditer(s)]


def _blank_lines_out(text: str) -> str:
    """Whitespace-only lines inside a note become empty: the writer spells them as two spaces."""
    if "\n" not in text:
        return text
    return "\n".join(part if part.strip() else "" for part in text.split("\n"))


def _bones(bones: dict[int, list[str]], number: int) -> list[dict]:
    return [{"type": "boneyard", "text": text, "line": number} for text in bones.pop(number, ())]


def _next_blank(lines: list[str], i: int) -> bool:
    """Is the line after ``i`` (skipping boneyard-only lines) blank or the end of the text?"""
    i += 1
    n = len(lines)
    while i < n and lines[i] == _VOID_LINE:
        i += 1
    return i >= n or _is_blank(lines[i])


def _title_page(
    lines: list[str], numbers: list[int], bones: dict[int, list[str]]
) -> tuple[list[dict], list[dict], int]:
    """The title page (only at the start, after optional standalone notes), what it displaced, end.

    Returns empty results and 0 when the text has no title page; ``bones`` is consumed only then.
    """
    n = len(lines)
    i = 0
    lead: list[dict] = []
    taken: list[int] = []  # line numbers whose boneyard goes to the preamble if this is a title page
    while True:
        while i < n and (lines[i] == _VOID_LINE or _is_blank(lines[i])):
            taken.append(numbers[i])
            i += 1
        if i < n and lines[i].lstrip().startswith("[[") and _NOTES_ONLY.fullmatch(lines[i]):
            if not _next_blank(lines, i):
                return [], [], 0
            taken.append(numbers[i])
            lead.extend(_notes(lines[i], numbers[i]))
            i += 1
            continue
        break
    if i >= n or not _TITLE_KEY.match(lines[i].strip()):
        return [], [], 0
    fields: list[tuple[str, list[str]]] = []
    key_indent = _indent(lines[i])
    end = i
    while end < n and not _is_blank(lines[end]):
        raw = lines[end]
        taken.append(numbers[end])
        end += 1
        if raw == _VOID_LINE:
            continue
        s = raw.strip()
        if not s:
            fields[-1][1].append("")
            continue
        if fields and _indent(raw) > key_indent:
            fields[-1][1].append(s)
            continue
        if s.startswith("[[") and _NOTES_ONLY.fullmatch(s):
            lead.extend(_notes(s, numbers[end - 1]))
            continue
        match = _TITLE_KEY.match(s)
        if not match:
            return [], [], 0
        value = match.group(2).strip()
        fields.append((match.group(1).strip(), [value] if value else []))
    if not any(key.lower() in _KNOWN_TITLE_KEYS for key, _ in fields):
        return [], [], 0
    if bones:
        # boneyard first: it sat among (or before) the title-page lines
        lead = [bone for number in taken for bone in _bones(bones, number)] + lead
    return [{"key": key, "value": "\n".join(values)} for key, values in fields], lead, end


_NONE, _ACTION, _DIALOGUE = 0, 1, 2


def parse_fountain(text: str) -> Screenplay:
    """Read Fountain text (str; BOM, CRLF and CR line ends accepted) into a :class:`Screenplay`.

    Control characters are removed first, with a :class:`ControlCharacterWarning`: every output format
    then holds the same text (FDX, being XML, could not hold them at all).
    """
    text, removed = strip_control_characters(text)
    warn_control_characters(removed)
    lines, numbers, bones = _logical_lines(text)
    title_page, preamble, start = _title_page(lines, numbers, bones)
    out: list[dict] = preamble
    scenes: list[tuple[dict, list[dict]]] = []
    n = len(lines)

    buf: list[str] = []
    buf_kind = ""  # "action" | "dialogue" | "lyrics" | "centered" | "synopsis" | ""
    buf_line = 0
    buf_forced = False
    held_bones: list[dict] = []

    def flush() -> None:
        nonlocal buf_kind
        if buf_kind == "action":
            body = "\n".join(buf).rstrip("\n")
            if body or buf_forced:
                forced = buf_forced or action_needs_force(
                    body.split("\n"), not title_page and not scenes and _only_hidden(preamble)
                )
                out.append({"type": "action", "text": body, "forced": forced, "line": buf_line})
        elif buf_kind == "dialogue":
            out.append({"type": "dialogue", "text": "\n".join(buf).rstrip("\n"), "line": buf_line})
        elif buf_kind == "lyrics":
            out.append({"type": "lyrics", "text": "\n".join(buf), "line": buf_line})
        elif buf_kind == "centered":
            out.append({"type": "centered", "text": "\n".join(buf), "line": buf_line})
        elif buf_kind == "synopsis":
            out.append({"type": "synopsis", "text": "\n".join(buf), "line": buf_line})
        if held_bones:
            out.extend(held_bones)
            held_bones.clear()
        buf.clear()
        buf_kind = ""

    def begin(kind: str, line: int, forced: bool = False) -> None:
        nonlocal buf_kind, buf_line, buf_forced
        if buf_kind:
            flush()
        buf_kind, buf_line, buf_forced = kind, line, forced

    mode = _NONE
    prev_blank = True
    for i in range(start, n):
        raw = lines[i]
        if bones and numbers[i] in bones:
            # boneyard inside a buffered element goes after it, where the writer puts it back
            (held_bones if buf_kind else out).extend(_bones(bones, numbers[i]))
        if raw == _VOID_LINE:
            continue
        s = raw.strip()
        if not s:
            if raw == SOFT_BLANK and mode != _NONE:
                if buf_kind != ("action" if mode == _ACTION else "dialogue"):
                    begin("dialogue", numbers[i])
                buf.append("")
                prev_blank = False
                continue
            if buf_kind:
                flush()
            mode = _NONE
            prev_blank = True
            continue
        number = numbers[i]
        if mode == _DIALOGUE:
            first = s[0]
            if first == "(" and s[-1] == ")":
                if buf_kind:
                    flush()
                out.append({"type": "parenthetical", "text": s, "line": number})
            elif first == "~":
                if buf_kind != "lyrics":
                    begin("lyrics", number)
                buf.append(s[1:].lstrip())
            else:
                if buf_kind != "dialogue":
                    begin("dialogue", number)
                buf.append(s)
            continue
        if mode == _ACTION:
            if s[0] != "~":
                buf.append(raw.rstrip())
                continue
            kind = "lyrics"
        else:
            kind = classify(s, raw, prev_blank, _next_blank(lines, i))
        prev_blank = False
        mode = _NONE
        if kind == "action":
            begin("action", number)
            buf.append(raw.rstrip())
            mode = _ACTION
        elif kind == "action!":
            begin("action", number, forced=True)
            buf.append(raw[raw.index("!") + 1 :].rstrip())
            mode = _ACTION
        elif kind == "character" or kind == "character!":
            if buf_kind:
                flush()
            out.append(
                _character(s[1:].lstrip() if kind == "character!" else s, kind == "character!", number)
            )
            mode = _DIALOGUE
        elif kind == "lyrics":
            if buf_kind != "lyrics":
                begin("lyrics", number)
            buf.append(s[1:].lstrip())
        elif kind == "heading" or kind == "heading!":
            if buf_kind:
                flush()
            forced = kind == "heading!"
            out = []
            scenes.append((_heading(s[1:] if forced else s, forced, number), out))
        elif kind == "centered":
            if buf_kind != "centered":
                begin("centered", number)
            buf.append(s[1:-1].strip())
        elif kind == "synopsis":
            if buf_kind != "synopsis":
                begin("synopsis", number)
            buf.append(s[1:].strip())
        else:
            if buf_kind:
                flush()
            if kind == "transition":
                out.append({"type": "transition", "text": s, "forced": False, "line": number})
            elif kind == "transition!":
                out.append({"type": "transition", "text": s[1:].strip(), "forced": True, "line": number})
            elif kind == "transition~":
                out.append({"type": "transition", "text": s, "forced": True, "line": number})
            elif kind == "page_break":
                out.append({"type": "page_break", "line": number})
            elif kind == "section":
                body = s.lstrip("#")
                out.append(
                    {"type": "section", "text": body.strip(), "depth": len(s) - len(body), "line": number}
                )
            else:  # notes
                out.extend(_notes(s, number))
    if buf_kind:
        flush()
    # One validation of plain dicts (in pydantic-core) is much faster than a model call per element.
    return Screenplay.model_validate(
        {
            "title_page": title_page,
            "preamble": preamble,
            "scenes": [{"heading": heading, "elements": elements} for heading, elements in scenes],
        }
    )
