"""Industry screenplay pagination: a document in, pages of positioned lines out.

Pure layout, no PDF: every printed line gets a row on a 55-row page body (Courier 12 pt, 6 lines
per inch, 1" top margin) and an x anchor in points, so the drawing step only places text and the
rules below can be tested without reading a PDF back.

Rules (the conventions of Final Draft and afterwriting):
- one blank line between elements, also before scene headings (no double space), none at the
  top of a page;
- action and dialogue break across pages only between sentences (or hard line breaks), with at
  least two lines on each side; a split speech ends in ``(MORE)`` and goes on under
  ``NAME (CONT'D)``; a speech never ends a page on its cue or a parenthetical;
- a scene heading, shot or dangling cue moves to the next page unless what follows starts on
  the same page;
- a block that fits on no page and has no such break is cut at wrapped lines, as a last resort.
No library paginates screenplays (fpdf2 and reportlab flow generic paragraphs), hence this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

from screenplay.inline import to_runs
from screenplay.model import (
    Action,
    Centered,
    Character,
    Dialogue,
    Element,
    Lyrics,
    PageBreak,
    Parenthetical,
    Screenplay,
    Shot,
    Transition,
)

PT_PER_INCH = 72.0
CHAR_WIDTH = 7.2  # Courier 12 pt: 10 characters per inch
LINE_HEIGHT = 12.0  # 6 lines per inch
PAGE_WIDTH, PAGE_HEIGHT = 612.0, 792.0  # US Letter
TOP_MARGIN = 72.0
BODY_LINES = 55
PAGE_NUMBER_TOP = 36.0  # 0.5" from the top edge

LEFT = 1.5 * PT_PER_INCH  # action, scene headings, shots
RIGHT = 7.5 * PT_PER_INCH  # right margin: transitions and page numbers end here
CENTER = (LEFT + RIGHT) / 2
FULL_WIDTH = 60  # characters between the margins

Align = Literal["left", "right", "center"]

BOLD, ITALIC, UNDERLINE = 1, 2, 4


@dataclass(frozen=True)
class Span:
    """A styled piece of one printed line."""

    text: str
    bold: bool = False
    italic: bool = False
    underline: bool = False


@dataclass(frozen=True)
class Line:
    """One printed line: ``x`` is the left edge, the right edge or the centre, after ``align``."""

    x: float
    spans: tuple[Span, ...]
    kind: str
    align: Align = "left"

    @property
    def text(self) -> str:
        return "".join(span.text for span in self.spans)

    def left(self) -> float:
        """The x of the first character, whatever the alignment."""
        width = len(self.text) * CHAR_WIDTH
        return {"left": self.x, "right": self.x - width, "center": self.x - width / 2}[self.align]


Row = tuple[Line, ...]  # what prints on one row: usually one line, more for scene numbers and dual dialogue


@dataclass
class Page:
    number: int | None  # printed page number; None for the title page
    rows: list[Row] = field(default_factory=list)  # index = row on the page grid (0..54)


# --- styled text ----------------------------------------------------------------------------


_NOTE_WITH_SPACE = re.compile(r"[ \t]*(?<!\\)\[\[.*?\]\]", re.DOTALL)  # a note and the space before it


@dataclass(frozen=True)
class Styled:
    """Plain text with a style bit-set per character, so wrapping can cut through emphasis."""

    text: str
    styles: tuple[int, ...]

    @classmethod
    def parse(cls, marked_up: str, *, upper: bool = False, extra: int = 0) -> Styled:
        chars: list[str] = []
        styles: list[int] = []
        for run in to_runs(_NOTE_WITH_SPACE.sub("", marked_up.replace("\r", ""))):
            text = run.text.replace("\t", "    ")
            if upper:
                text = text.upper()
            bits = extra | (BOLD if run.bold else 0) | (ITALIC if run.italic else 0)
            bits |= UNDERLINE if run.underline else 0
            chars.append(text)
            styles.extend([bits] * len(text))
        return cls("".join(chars), tuple(styles))

    def spans(self, start: int, end: int) -> tuple[Span, ...]:
        out: list[Span] = []
        i = start
        while i < end:
            bits = self.styles[i]
            j = i + 1
            while j < end and self.styles[j] == bits:
                j += 1
            out.append(Span(self.text[i:j], bool(bits & BOLD), bool(bits & ITALIC), bool(bits & UNDERLINE)))
            i = j
        return tuple(out)


_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(\s+)")
_ABBREVIATION = re.compile(
    r"(?:\b(?:MR|MRS|MS|DR|ST|JR|SR|VS|MT|LT|SGT|CAPT|PROF|NO)|\b[A-Z])\.$", re.IGNORECASE
)

Token = tuple[int, int, int]  # start, end, paragraph id: a sentence (or a line) that may start a page


def _sentences(text: str, start: int, end: int, para: int) -> list[Token]:
    tokens: list[Token] = []
    begin = start
    for match in _SENTENCE_END.finditer(text, start, end):
        if _ABBREVIATION.search(text, begin, match.start(1)):
            continue
        if match.end() < end:
            tokens.append((begin, match.start(1), para))
            begin = match.end()
    tokens.append((begin, end, para))
    return tokens


def _tokens(text: str) -> list[Token]:
    tokens: list[Token] = []
    start = 0
    for para, line in enumerate(text.split("\n")):
        tokens.extend(_sentences(text, start, start + len(line), para))
        start += len(line) + 1
    return tokens


def _wrap(
    text: str, start: int, end: int, width: int, rest_width: int, limit: int | None = None
) -> list[tuple[int, int]]:
    """Greedy word wrap of text[start:end] by character count (monospace), hard-cutting long words.

    Stops after ``limit`` + 1 lines when the caller only needs to know whether more than ``limit`` fit.
    """
    lines: list[tuple[int, int]] = []
    i = start
    w = width
    while limit is None or len(lines) <= limit:
        if end - i <= w:
            lines.append((i, end))
            return lines
        cut = text.rfind(" ", i, i + w + 1)
        stop = cut
        while stop > i and text[stop - 1] == " ":
            stop -= 1
        if stop <= i:  # no space to break at: cut the word
            cut = stop = i + w
        lines.append((i, stop))
        i = cut
        while i < end and text[i] == " ":
            i += 1
        if i >= end:
            return lines
        w = rest_width
    return lines


# --- blocks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One element's text laid out in a column; ``tokens`` are the places it may break."""

    kind: str
    styled: Styled
    tokens: tuple[Token, ...]
    x: float
    width: int
    align: Align = "left"
    hang: int = 0  # continuation lines indent (parentheticals hang under the opening bracket)
    splittable: bool = False
    speech: bool = False  # counts as a dialogue line for the two-lines rule

    @classmethod
    def of(
        cls,
        kind: str,
        styled: Styled,
        x: float,
        width: int,
        *,
        align: Align = "left",
        hang: int = 0,
        splittable: bool = False,
        speech: bool = False,
    ) -> Piece:
        return cls(kind, styled, tuple(_tokens(styled.text)), x, width, align, hang, splittable, speech)

    def spans(self, tokens: tuple[Token, ...], limit: int | None = None) -> list[tuple[int, int]]:
        """Wrapped line spans of ``tokens``; stops once past ``limit`` lines when only a count matters."""
        out: list[tuple[int, int]] = []
        i = 0
        while i < len(tokens) and (limit is None or len(out) <= limit):
            j = i
            while j + 1 < len(tokens) and tokens[j + 1][2] == tokens[i][2]:
                j += 1
            left = None if limit is None else limit - len(out)
            out.extend(
                _wrap(self.styled.text, tokens[i][0], tokens[j][1], self.width, self.width - self.hang, left)
            )
            i = j + 1
        return out

    @cached_property
    def full_rows(self) -> list[Row]:
        return self.rows(self.tokens)

    def rows(self, tokens: tuple[Token, ...] | None = None) -> list[Row]:
        if tokens is None:
            return self.full_rows
        spans = self.spans(tokens)
        return [
            (
                Line(
                    self.x + (self.hang * CHAR_WIDTH if n else 0),
                    self.styled.spans(a, b),
                    self.kind,
                    self.align,
                ),
            )
            for n, (a, b) in enumerate(spans)
        ]

    def by_lines(self) -> Piece:
        """The same piece with a break allowed after every wrapped line (last-resort splitting)."""
        spans = self.spans(self.tokens)
        return replace(self, tokens=tuple((a, b, n) for n, (a, b) in enumerate(spans)), hang=0)


@dataclass
class Block:
    """What pagination moves as a unit: optional head rows (a cue) and pieces that may split."""

    kind: str
    pieces: list[Piece] = field(default_factory=list)
    head: list[Row] = field(default_factory=list)
    cont_head: list[Row] = field(default_factory=list)  # head repeated on the next page after a split
    more: Row | None = None  # printed at the page bottom after a split
    keep_with_next: bool = False
    min_lines: int = 2
    fixed: list[Row] | None = None  # pre-laid rows (dual dialogue), never split
    _rows: list[Row] | None = field(default=None, repr=False)

    def rows(self) -> list[Row]:
        if self._rows is None:
            if self.fixed is not None:
                self._rows = list(self.fixed)
            else:
                self._rows = list(self.head)
                for piece in self.pieces:
                    self._rows.extend(piece.rows())
        return self._rows

    @property
    def height(self) -> int:
        return len(self.rows())

    def fits(self, avail: int) -> bool:
        """Whether the whole block fits ``avail`` rows, wrapping no further than needed to tell."""
        if self.fixed is not None or self._rows is not None:
            return self.height <= avail
        room = avail - len(self.head)
        for piece in self.pieces:
            if room < 0:
                return False
            room -= len(piece.spans(piece.tokens, room))
        return room >= 0

    def split(self, avail: int, *, strict: bool = True) -> tuple[list[Row], Block] | None:
        """The largest first part that fits ``avail`` rows and keeps the rules, and the rest."""
        if self.fixed is not None:
            return None
        pieces = self.pieces if strict else [p.by_lines() if p.splittable else p for p in self.pieces]
        min_lines = self.min_lines if strict else 1
        reserve = len(self.head) + (1 if self.more else 0)
        full = [len(p.spans(p.tokens, avail)) for p in pieces]  # capped: only sums up to avail matter
        counted = [n if p.speech or not self.more else 0 for p, n in zip(pieces, full, strict=True)]
        for i in range(len(pieces) - 1, -1, -1):
            piece = pieces[i]
            before = reserve + sum(full[:i])
            if before >= avail:
                continue
            if self.more and strict and not piece.speech:
                continue  # never leave a parenthetical at the bottom of a page
            last = len(piece.tokens) if i < len(pieces) - 1 else len(piece.tokens) - 1
            lowest = 1 if piece.splittable else len(piece.tokens)
            best = self._largest_fit(piece, lowest, last, avail - before)
            for k in range(best, lowest - 1, -1):
                top = piece.rows(piece.tokens[:k])
                rest_piece = replace(piece, tokens=piece.tokens[k:]) if k < len(piece.tokens) else None
                rest_pieces = ([rest_piece] if rest_piece else []) + pieces[i + 1 :]
                counts = piece.speech or not self.more
                above = sum(counted[:i]) + (len(top) if counts else 0)
                rest_lines = (
                    len(rest_piece.spans(rest_piece.tokens, min_lines)) if rest_piece and counts else 0
                )
                below = sum(counted[i + 1 :]) + rest_lines
                if above < min_lines:
                    break  # a smaller k leaves even fewer lines above
                if below < min_lines:
                    continue
                first = list(self.head)
                for p in pieces[:i]:
                    first.extend(p.rows())
                first.extend(top)
                if self.more:
                    first.append(self.more)
                rest = Block(
                    self.kind,
                    rest_pieces,
                    self.cont_head,
                    self.cont_head,
                    self.more,
                    min_lines=self.min_lines,
                )
                return first, rest
        return None

    @staticmethod
    def _largest_fit(piece: Piece, lowest: int, highest: int, room: int) -> int:
        """The largest k in [lowest, highest] whose first k tokens fit ``room`` rows, or lowest - 1."""
        found = lowest - 1
        while lowest <= highest:  # heights grow with k, so bisect instead of re-wrapping every k
            mid = (lowest + highest) // 2
            if len(piece.spans(piece.tokens[:mid], room)) <= room:
                found, lowest = mid, mid + 1
            else:
                highest = mid - 1
        return found

    def cut_rows(self, avail: int) -> tuple[list[Row], Block]:
        """Last resort for a block taller than a page with no allowed break: cut the rows."""
        rows = self.rows()
        return rows[:avail], Block(self.kind, fixed=rows[avail:])


# --- elements -> blocks ---------------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """Where a speech prints: full width, or one side of dual dialogue."""

    cue: float
    parenthetical: float
    parenthetical_width: int
    dialogue: float
    dialogue_width: int
    cue_width: int


SINGLE = Columns(3.7 * PT_PER_INCH, 3.1 * PT_PER_INCH, 25, 2.5 * PT_PER_INCH, 35, 38)
DUAL_LEFT = Columns(2.4 * PT_PER_INCH, 1.9 * PT_PER_INCH, 20, 1.5 * PT_PER_INCH, 28, 20)
DUAL_RIGHT = Columns(5.6 * PT_PER_INCH, 5.0 * PT_PER_INCH, 20, 4.6 * PT_PER_INCH, 29, 19)

SCENE_NUMBER_LEFT = 1.2 * PT_PER_INCH  # right edge of the left number
SCENE_NUMBER_RIGHT = 7.7 * PT_PER_INCH  # left edge of the right number

CONTD = "(CONT'D)"
_HAS_CONTD = re.compile(r"\((?:CONT['\u2019]?D|CONT\.|CONTINUING)\)$", re.IGNORECASE)


def _cue_rows(text: str, cols: Columns) -> list[Row]:
    return Piece.of("character", Styled(text, (0,) * len(text)), cols.cue, cols.cue_width).rows()


def _speech(cue: Character | None, body: list[Element], cols: Columns) -> Block:
    """A cue with what is said under it; without a cue (orphan dialogue) it splits like action."""
    head: list[Row] = []
    cont_head: list[Row] = []
    more: Row | None = None
    if cue is not None:
        name = Styled.parse(cue.cue, upper=not cue.forced).text.strip()  # '@McCABE' keeps its case
        head = _cue_rows(name, cols)
        cont_head = _cue_rows(name if _HAS_CONTD.search(name) else f"{name} {CONTD}", cols)
        more = (Line(cols.cue, (Span("(MORE)"),), "more"),)
    pieces: list[Piece] = []
    for element in body:
        if isinstance(element, Parenthetical):
            styled = Styled.parse(element.text.strip())
            pieces.append(
                Piece.of("parenthetical", styled, cols.parenthetical, cols.parenthetical_width, hang=1)
            )
        elif isinstance(element, Dialogue | Lyrics):
            italic = ITALIC if isinstance(element, Lyrics) else 0
            styled = Styled.parse(element.text.strip("\n"), extra=italic)
            pieces.append(
                Piece.of(
                    element.type, styled, cols.dialogue, cols.dialogue_width, splittable=True, speech=True
                )
            )
    return Block("speech", pieces, head, cont_head, more, keep_with_next=not pieces)


def _dual(left: Block, right: Block) -> Block:
    lrows, rrows = left.rows(), right.rows()
    rows = [
        (lrows[n] if n < len(lrows) else ()) + (rrows[n] if n < len(rrows) else ())
        for n in range(max(len(lrows), len(rrows)))
    ]
    return Block("dual", fixed=rows)


def _heading_block(scene_heading_text: str, number: str | None, bold: bool) -> Block:
    styled = Styled.parse(scene_heading_text.strip(), upper=True, extra=BOLD if bold else 0)
    piece = Piece.of("scene_heading", styled, LEFT, FULL_WIDTH)
    rows = piece.rows()
    if number and rows:
        numbers = (
            Line(SCENE_NUMBER_LEFT, (Span(number),), "scene_number", "right"),
            Line(SCENE_NUMBER_RIGHT, (Span(number),), "scene_number"),
        )
        rows[0] = rows[0] + numbers
    return Block("scene_heading", fixed=rows, keep_with_next=True)


def _single(element: Element) -> Block | None:
    if isinstance(element, Action):
        piece = Piece.of("action", Styled.parse(element.text.strip("\n")), LEFT, FULL_WIDTH, splittable=True)
        return Block("action", [piece])
    if isinstance(element, Shot):
        return Block(
            "shot",
            [Piece.of("shot", Styled.parse(element.text.strip(), upper=True), LEFT, FULL_WIDTH)],
            keep_with_next=True,
        )
    if isinstance(element, Transition):
        styled = Styled.parse(element.text.strip(), upper=True)
        return Block("transition", [Piece.of("transition", styled, RIGHT, FULL_WIDTH, align="right")])
    if isinstance(element, Centered):
        piece = Piece.of("centered", Styled.parse(element.text.strip()), CENTER, FULL_WIDTH, align="center")
        return Block("centered", [piece])
    if isinstance(element, PageBreak):
        return Block("page_break")
    return None  # sections, synopses, notes and boneyard are never printed


_SPOKEN = Parenthetical | Dialogue | Lyrics


def _groups(elements: list[Element]) -> list[tuple[Character | None, list[Element]] | Element]:
    """Elements with each cue gathered with the parentheticals, dialogue and lyrics under it.

    Spoken elements with no cue before them (lyrics sung in action, a broken draft) form a group
    without a cue, so they still print in the dialogue column.
    """
    out: list[tuple[Character | None, list[Element]] | Element] = []
    i = 0
    while i < len(elements):
        element = elements[i]
        cue = element if isinstance(element, Character) else None
        if cue is not None or isinstance(element, _SPOKEN):
            start = i + 1 if cue is not None else i
            i = start
            while i < len(elements) and isinstance(elements[i], _SPOKEN):
                i += 1
            out.append((cue, elements[start:i]))
        else:
            out.append(element)
            i += 1
    return out


def _body_blocks(elements: list[Element]) -> list[Block]:
    blocks: list[Block] = []
    previous: tuple[Character | None, list[Element]] | None = (
        None  # the last speech, while it is the last block
    )
    for item in _groups(elements):
        if isinstance(item, tuple):
            cue, body = item
            if cue is not None and cue.dual and previous is not None and previous[0] and previous[1] and body:
                dual = _dual(_speech(*previous, DUAL_LEFT), _speech(cue, body, DUAL_RIGHT))
                if dual.height <= BODY_LINES:  # side by side only when the pair fits on a page
                    blocks[-1] = dual
                    previous = None
                    continue
            blocks.append(_speech(cue, body, SINGLE))
            previous = item
            continue
        block = _single(item)
        if block is not None:
            blocks.append(block)
            previous = None
    return blocks


# --- pages ----------------------------------------------------------------------------------


class _Pager:
    """Places blocks top to bottom, one blank row between blocks, breaking pages by the rules."""

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks
        self.pages: list[Page] = [Page(1)]

    @property
    def used(self) -> int:
        return len(self.pages[-1].rows)

    def _new_page(self) -> None:
        self.pages.append(Page(len(self.pages) + 1))

    def _place(self, rows: list[Row]) -> None:
        page = self.pages[-1]
        if page.rows:
            page.rows.append(())
        page.rows.extend(rows)

    def _avail(self) -> int:
        return BODY_LINES - self.used - (1 if self.used else 0)

    def _starts(self, j: int, avail: int) -> bool:
        """Whether block j (and what it must keep with) can begin within ``avail`` rows."""
        if j >= len(self.blocks) or self.blocks[j].kind == "page_break":
            return True
        block = self.blocks[j]
        avail -= 1  # the blank row before it
        if avail <= 0:
            return False
        if block.fits(avail):
            return not block.keep_with_next or self._starts(j + 1, avail - block.height)
        return not block.keep_with_next and block.split(avail) is not None

    def run(self) -> list[Page]:
        i = 0
        while i < len(self.blocks):
            block = self.blocks[i]
            if block.kind == "page_break":
                if self.used:
                    self._new_page()
                i += 1
                continue
            avail = self._avail()
            if block.fits(avail) and (not block.keep_with_next or self._starts(i + 1, avail - block.height)):
                self._place(block.rows())
                i += 1
                continue
            cut = None if block.keep_with_next or avail <= 0 else block.split(avail)
            if cut is None and self.used:
                self._new_page()
                continue
            if cut is None:  # a fresh page and still no allowed break
                if block.fits(BODY_LINES):
                    self._place(block.rows())
                    i += 1
                    continue
                cut = block.split(BODY_LINES, strict=False) or block.cut_rows(BODY_LINES)
            first, self.blocks[i] = cut
            self._place(first)
            self._new_page()
        if not self.pages[-1].rows and len(self.pages) > 1:
            self.pages.pop()
        return self.pages


def body_pages(doc: Screenplay, *, bold_headings: bool = False) -> list[Page]:
    """The script body paginated; page 1 is the first page after the title page."""
    elements: list[Element] = list(doc.preamble)
    blocks = _body_blocks(elements)
    for scene in doc.scenes:
        blocks.append(_heading_block(scene.heading.text, scene.heading.scene_number, bold_headings))
        blocks.extend(_body_blocks(scene.elements))
    return _Pager(blocks).run()


_CENTER_KEYS = ("title", "credit", "author", "authors", "source")
_LEFT_KEYS = ("contact", "copyright", "notes")
_RIGHT_KEYS = ("draft date", "date", "revision")
TITLE_ROW = 16  # about a third of the way down the sheet


def _value_rows(value: str, x: float, align: Align, kind: str) -> list[Row]:
    rows: list[Row] = []
    for part in value.split("\n"):
        styled = Styled.parse(part.strip())
        rows.extend(Piece.of(kind, styled, x, FULL_WIDTH if align == "center" else 30, align=align).rows())
    return rows


def title_page(doc: Screenplay) -> Page | None:
    """Title, credit, author and source centred a third down; contact bottom left, draft date bottom right.

    Keys the layout does not know (Subtitle, Episode, ...) are centred under the title.
    """
    if not doc.title_page:
        return None
    by_key: dict[str, list[str]] = {}
    for f in doc.title_page:
        if f.value.strip():
            by_key.setdefault(f.key.strip().lower(), []).append(f.value)
    center: list[Row] = []
    order = [
        "title",
        *(k for k in by_key if k not in _CENTER_KEYS + _LEFT_KEYS + _RIGHT_KEYS),
        *_CENTER_KEYS[1:],
    ]
    for key in order:
        for value in by_key.get(key, []):
            if center:
                center.append(())
            center.extend(_value_rows(value, CENTER, "center", "title_" + key.replace(" ", "_")))
    left = [
        row
        for key in _LEFT_KEYS
        for v in by_key.get(key, [])
        for row in _value_rows(v, LEFT, "left", "title_" + key)
    ]
    right = [
        row
        for key in _RIGHT_KEYS
        for v in by_key.get(key, [])
        for row in _value_rows(v, RIGHT, "right", "title_" + key.replace(" ", "_"))
    ]
    bottom = max(len(left), len(right))
    top = min(TITLE_ROW, max(0, BODY_LINES - bottom - 1 - len(center)))
    rows: list[Row] = [() for _ in range(BODY_LINES)]
    for n, row in enumerate(center[: max(0, BODY_LINES - bottom - 1 - top)]):
        rows[top + n] = row
    for column in (left, right):  # both end on the last row
        column = column[-BODY_LINES:]
        for n, row in enumerate(column, start=BODY_LINES - len(column)):
            rows[n] = rows[n] + row
    return Page(None, rows)


def paginate(doc: Screenplay, *, bold_headings: bool = False) -> list[Page]:
    """The title page (when the document has one) followed by the numbered body pages."""
    page = title_page(doc)
    return ([page] if page else []) + body_pages(doc, bold_headings=bold_headings)
