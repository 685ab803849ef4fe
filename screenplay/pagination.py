"""Industry screenplay pagination: a document in, pages of positioned lines out.

Pure layout, no PDF: every printed line gets a row on a 55-row page body (Courier 12 pt, 6 lines
per inch, 1" top margin) and an x anchor in points, so the drawing step only places text and the
rules below can be tested without reading a PDF back. The page grid and its lines are
:mod:`dsr.screenplay.page`; how a block of text wraps and where it may break, :mod:`dsr.screenplay.layout`;
this module turns elements into blocks and places the blocks on pages.

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
from dataclasses import dataclass

from dsr.screenplay.layout import BOLD, ITALIC, Block, Piece, Styled
from dsr.screenplay.model import (
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
from dsr.screenplay.page import (
    BODY_LINES,
    CENTER,
    FULL_WIDTH,
    LEFT,
    PT_PER_INCH,
    RIGHT,
    Align,
    Line,
    Page,
    Row,
    Span,
)

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
