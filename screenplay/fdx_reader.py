"""Final Draft FDX reader; :mod:`dsr.screenplay.fdx_writer` writes the same mapping back.

Only ``FinalDraft/Content/Paragraph`` is the script; paragraphs nested in ``SceneProperties``,
``TitlePage``, ``HeaderAndFooter``, ``ScriptNotes`` and the rest are metadata. Mapping of paragraph
types (both directions, reader and writer, unless noted):

* Scene Heading (``Number=`` -> scene number), Action, Character (``NAME (EXT)`` split), Parenthetical,
  Dialogue, Transition, Shot: one to one.
* General and Cast List -> Action (read only). Action or General with ``Alignment="Center"`` <-> Centered.
* ``<Paragraph><DualDialogue>`` <-> dual dialogue: every Character after the first inside the group
  gets ``dual=True``; the writer groups a speech with the dual speech that follows it.
* Outline 1..N <-> Section of that depth; Outline Body <-> Synopsis (Final Draft's own hidden outline
  elements, the same idea as Fountain's unprinted ``#`` and ``=``).
* Lyrics, Note, Boneyard <-> custom element types of those names, declared in ``ElementSettings``
  the way Final Draft stores user-defined elements (Note and Boneyard as hidden text).
* PageBreak <-> ``StartsNewPage="Yes"`` on the next paragraph (an empty Action paragraph carries it
  when no paragraph follows). New Act -> PageBreak + Centered, End of Act -> Centered (read only).
* Any other type -> Action with its text kept (best effort, so a newer Final Draft never fails).
* Emphasis: ``<Text Style="Bold+Italic+Underline">`` runs <-> Fountain markup (screenplay.inline).

``forced`` flags are set where Fountain would need its forcing character to keep the element's type
(``> FADE TO BLACK``, ``@McCABE``, a heading without INT/EXT, action that looks like a heading), so an
FDX and its Fountain twin read to the same document.

Note and Boneyard text is written and read verbatim, one unstyled run (``_`` and ``\\`` in ASCII art
are not markup there). An empty Lyrics paragraph is kept: it is Fountain's lone ``~``, an empty lyric line.

Lossy by nature: inline ``[[notes]]`` inside element text (FDX runs have no place for them), other empty
paragraphs (skipped on read), a forcing character the element did not need (``!TITLE CARD`` standing
alone reads as action either way; FDX has no mark for it, so ``forced`` comes back only where Fountain
needs it), a dual flag on a speech with no speech before it, and title-page keys,
which FDX does not have: the title page is free paragraphs, read back by the heuristic in
:func:`_title_fields`; the writer writes a field as ``Key: value`` whenever that heuristic would not
give the same key back, so write -> read is exact for every title page.

Safety: lxml with entity resolution, DTD loading and network access off and huge_tree off (10 MB
text nodes, depth 256); libxml2 refuses entity amplification (billion laughs) outright, and any
document that declares a DTD is refused, since real FDX files never do. The stdlib parser cannot turn
entity expansion off per parse, hence lxml.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from lxml import etree

from dsr.screenplay.errors import ScreenplayError
from dsr.screenplay.headings import HEADING_PREFIX, split_heading  # one heading grammar for both formats
from dsr.screenplay.inline import Run, from_runs, to_runs
from dsr.screenplay.model import (
    Action,
    Boneyard,
    Centered,
    Character,
    Dialogue,
    Element,
    Lyrics,
    Note,
    PageBreak,
    Parenthetical,
    Scene,
    SceneHeading,
    Screenplay,
    Section,
    Shot,
    Synopsis,
    TitleField,
    Transition,
)

_TRANSITION_TEXT = re.compile(r"^[^a-z]*TO:$")
_NOTES_ONLY = re.compile(r"\s*(?:\[\[.*?\]\]\s*)+", re.DOTALL)


def split_cue(cue: str) -> tuple[str, str | None]:
    """``'JIM (O.S.)'`` -> ``('JIM', 'O.S.')``; as the Fountain reader: the name ends at the first '('."""
    cue = cue.strip()
    paren = cue.find("(")
    if paren > 0 and cue.endswith(")"):
        return cue[:paren].rstrip(), cue[paren + 1 : -1].strip()
    return cue, None


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0].strip()


def _action_needs_force(text: str) -> bool:
    """Would Fountain read this action as something else without a leading '!'?"""
    first = _first_line(text)
    if HEADING_PREFIX.match(first) or (first[:1] and first[0] in "!@>~#=") or _NOTES_ONLY.fullmatch(text):
        return True
    if first.startswith(".") and not first.startswith(".."):
        return True
    if _TRANSITION_TEXT.match(first):
        return True
    # An all-caps first line with more lines under it reads as a character cue.
    return "\n" in text and any(c.isalpha() for c in first) and first == first.upper()


def _cue_needs_force(name: str) -> bool:
    """As the Fountain reader: a cue without '@' must be all caps (Han names have no case, so they need it)."""
    return not name.isupper()


_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "huge_tree": False,
    "load_dtd": False,
    "dtd_validation": False,
    "remove_comments": True,
    "remove_pis": True,
}
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_POSITION_SUFFIX = re.compile(r",? line \d+, column \d+\s*$")
_STYLES = {"bold", "italic", "underline"}
_OUTLINE = re.compile(r"^Outline 0*([1-9]\d*)$")
# Final Draft numbers outline levels from 1; deeper levels than this read as this one, so a typed
# "Outline 100000000" cannot turn into a section marker of 10^8 '#' characters.
MAX_SECTION_DEPTH = 9
_VERBATIM = {"Note", "Boneyard"}
_INDENTED = {"Action", "General"}


def _load(data: bytes | str) -> etree._Element:
    if isinstance(data, str):
        # lxml refuses str input that carries an encoding declaration; the text is already decoded.
        text = _XML_DECL.sub("", data.lstrip("\ufeff"), count=1)
        if not text.strip():
            raise ScreenplayError("empty FDX document")
        payload: bytes | str = text
    else:
        if not data.strip():
            raise ScreenplayError("empty FDX document")
        payload = data
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        root = etree.fromstring(payload, parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno, 0)
        message = " ".join(_POSITION_SUFFIX.sub("", exc.msg or "syntax error").split())
        raise ScreenplayError(f"malformed FDX XML at line {line}, column {column}: {message}") from None
    if root.tag != "FinalDraft":
        name = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        raise ScreenplayError(f"not a Final Draft document: root element is <{name}>, expected <FinalDraft>")
    info = root.getroottree().docinfo
    if info.internalDTD is not None or info.externalDTD is not None or info.system_url:
        raise ScreenplayError("FDX document declares a DTD (entities are refused for safety)")
    return root


def _children(parent: etree._Element, tag: str) -> Iterator[etree._Element]:
    return parent.iterchildren(tag)


def _runs(paragraph: etree._Element) -> list[Run]:
    runs: list[Run] = []
    for node in _children(paragraph, "Text"):
        text = "".join(node.itertext())
        if not text:
            continue
        styles = {part.strip().lower() for part in (node.get("Style") or "").split("+")} & _STYLES
        run = Run(text, "bold" in styles, "italic" in styles, "underline" in styles)
        last = runs[-1] if runs else None
        if last and (last.bold, last.italic, last.underline) == (run.bold, run.italic, run.underline):
            runs[-1] = Run(last.text + run.text, run.bold, run.italic, run.underline)
        else:
            runs.append(run)
    return runs


def _paragraph_text(paragraph: etree._Element, kind: str = "") -> str:
    """The paragraph's runs as Fountain markup. Outer whitespace is trimmed as Fountain trims it:
    action keeps its leading spaces, lyrics keep their empty lines, the rest is stripped. Notes and
    boneyard are hidden text, not markup: their runs come back verbatim, styles ignored."""
    runs = _runs(paragraph)
    if kind in _VERBATIM:
        return "".join(run.text for run in runs)
    if runs:
        first = runs[0]
        if kind in _INDENTED:
            head = first.text.lstrip("\n")
        elif kind == "Lyrics":
            head = first.text.lstrip(" \t")
        else:
            head = first.text.lstrip()
        runs[0] = Run(head, first.bold, first.italic, first.underline)
        last = runs[-1]
        tail = last.text.rstrip(" \t") if kind == "Lyrics" else last.text.rstrip()
        runs[-1] = Run(tail, last.bold, last.italic, last.underline)
    return from_runs(runs)


def _kept(kind: str, text: str) -> bool:
    """Empty paragraphs are skipped, except Lyrics: Fountain's lone ``~`` (an empty lyric line)."""
    return kind == "Lyrics" or bool(text.strip())


def _element(kind: str, text: str, paragraph: etree._Element, line: int | None) -> list[Element]:
    centered = paragraph.get("Alignment", "").lower() == "center"
    match kind:
        case "Action" | "General" | "Cast List":
            if centered:
                return [Centered(text=text, line=line)]
            return [Action(text=text, forced=_action_needs_force(text), line=line)]
        case "Character":
            name, extension = split_cue(text)
            return [Character(name=name, extension=extension, forced=_cue_needs_force(name), line=line)]
        case "Parenthetical":
            return [Parenthetical(text=text, line=line)]
        case "Dialogue":
            return [Dialogue(text=text, line=line)]
        case "Transition":
            return [Transition(text=text, forced=not _TRANSITION_TEXT.match(text), line=line)]
        case "Shot":
            return [Shot(text=text, line=line)]
        case "Lyrics":
            return [Lyrics(text=text, line=line)]
        case "Note":
            return [Note(text=text, line=line)]
        case "Boneyard":
            return [Boneyard(text=text, line=line)]
        case "Outline Body":
            return [Synopsis(text=text, line=line)]
        case "New Act":
            brk: list[Element] = [] if paragraph.get("StartsNewPage") else [PageBreak(line=line)]
            return [*brk, Centered(text=text, line=line)]
        case "End of Act":
            return [Centered(text=text, line=line)]
    if outline := _OUTLINE.match(kind):
        digits = outline.group(1)
        depth = MAX_SECTION_DEPTH if len(digits) > 1 else min(int(digits), MAX_SECTION_DEPTH)
        return [Section(text=text, depth=depth, line=line)]
    return [Action(text=text, forced=_action_needs_force(text), line=line)]


class _Builder:
    """Collects body elements into preamble and scenes in reading order."""

    def __init__(self) -> None:
        self.doc = Screenplay()
        self.current: list[Element] = self.doc.preamble

    def add(self, elements: Iterable[Element]) -> None:
        self.current.extend(elements)

    def heading(self, text: str, paragraph: etree._Element) -> None:
        int_ext, location, time_of_day = split_heading(text)
        number = (paragraph.get("Number") or "").strip() or None
        heading = SceneHeading(
            text=text,
            int_ext=int_ext,
            location=location,
            time_of_day=time_of_day,
            scene_number=number,
            forced=HEADING_PREFIX.match(text) is None,
            line=paragraph.sourceline,
        )
        scene = Scene(heading=heading)
        self.doc.scenes.append(scene)
        self.current = scene.elements


def _read_paragraph(paragraph: etree._Element, out: _Builder) -> None:
    if paragraph.get("StartsNewPage", "").lower() == "yes":
        out.add([PageBreak(line=paragraph.sourceline)])
    dual = next(_children(paragraph, "DualDialogue"), None)
    if dual is not None:
        cues = 0
        for inner in _children(dual, "Paragraph"):
            kind = (inner.get("Type") or "Action").strip()
            text = _paragraph_text(inner, kind)
            if not _kept(kind, text):
                continue
            elements = _element(kind, text, inner, inner.sourceline)
            for element in elements:
                if isinstance(element, Character):
                    element.dual = cues > 0
                    cues += 1
            out.add(elements)
        return
    kind = (paragraph.get("Type") or "Action").strip()
    text = _paragraph_text(paragraph, kind)
    if not _kept(kind, text):
        return
    if kind == "Scene Heading":
        out.heading(text, paragraph)
    else:
        out.add(_element(kind, text, paragraph, paragraph.sourceline))


_CREDIT = re.compile(r"^(?:[\w'&.,]+(?:\s+[\w'&.,]+){0,4}\s+)?by:?$", re.IGNORECASE)
_COPYRIGHT = re.compile(r"^(?:©|\(c\)|copyright\b)", re.IGNORECASE)
_DATE = re.compile(
    r"\bdraft\b|\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
    r"\s+\d{1,2}\b|\b\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
    re.IGNORECASE,
)
_SEVERAL = re.compile(r"\n|&| and ", re.IGNORECASE)
_KEYED = re.compile(r"^([A-Za-z][\w'-]*(?: [\w'-]+){0,2}):[ \t]*(.*)$")


def classify_left(text: str) -> tuple[str, str]:
    """Key and value of a title-page block that is not centred (the bottom corner blocks)."""
    first, _, rest = text.partition("\n")
    keyed = _KEYED.match(first)
    if keyed:
        head = keyed.group(2).strip()
        return keyed.group(1), f"{head}\n{rest}" if head and rest else head or rest
    plain = "".join(run.text for run in to_runs(text))
    if _COPYRIGHT.match(plain.strip()):
        return "Copyright", text
    if _DATE.search(plain):
        return "Draft date", text
    return "Contact", text


class CentreState:
    """Centred blocks top to bottom: title, credit line ('Written by'), author, then source lines."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.after_credit = False

    def classify(self, text: str) -> str:
        plain = "".join(run.text for run in to_runs(text)).strip()
        if "Title" not in self.seen:
            key = "Title"
        elif _CREDIT.match(plain):
            key = "Credit"
        elif self.after_credit or not self.seen & {"Author", "Authors"}:
            key = "Authors" if _SEVERAL.search(plain) else "Author"
        else:
            key = "Source"
        return key

    def accept(self, key: str) -> None:
        self.seen.add(key)
        self.after_credit = key == "Credit"

    def key(self, text: str) -> str:
        key = self.classify(text)
        self.accept(key)
        return key


def _title_blocks(content: etree._Element) -> Iterator[tuple[bool, str]]:
    """Consecutive non-empty paragraphs of one alignment, joined by newlines: (centred, text)."""
    block: list[str] = []
    centred = False
    for paragraph in _children(content, "Paragraph"):
        text = _paragraph_text(paragraph)
        is_centred = paragraph.get("Alignment", "").lower() == "center"
        if block and (not text or is_centred != centred):
            yield centred, "\n".join(block)
            block = []
        if text:
            block.append(text)
            centred = is_centred
    if block:
        yield centred, "\n".join(block)


def _title_fields(root: etree._Element) -> list[TitleField]:
    """Title page heuristic: first centred block = Title, 'Written by'-style line = Credit, the centred
    block after it (or the first one after the title) = Author (Authors when it names several: '&',
    'and', several lines), other centred blocks = Source; blocks
    that are not centred: 'Key: value' -> that key, '©/(c)/Copyright' -> Copyright, a date or the word
    'draft' -> Draft date, anything else -> Contact."""
    fields: list[TitleField] = []
    state = CentreState()
    for page in _children(root, "TitlePage"):
        for content in _children(page, "Content"):
            for centred, text in _title_blocks(content):
                if centred:
                    fields.append(TitleField(key=state.key(text), value=text))
                else:
                    key, value = classify_left(text)
                    fields.append(TitleField(key=key, value=value))
    return fields


def parse_fdx(data: bytes | str) -> Screenplay:
    """Read a Final Draft document; bad input raises ScreenplayError with one line."""
    root = _load(data)
    content = next(_children(root, "Content"), None)
    if content is None:
        raise ScreenplayError("FDX document has no <Content> element (no script body)")
    out = _Builder()
    for paragraph in _children(content, "Paragraph"):
        _read_paragraph(paragraph, out)
    out.doc.title_page = _title_fields(root)
    return out.doc
