"""The printed page: US Letter geometry for Courier 12 pt and what pagination hands to the PDF drawer.

A page body is a grid of 55 rows (6 lines per inch under a 1" top margin); a :class:`Page` holds, per
row, the lines printed on it (:class:`Line`), each anchored at an x in points. ``FULL_WIDTH`` is the one
definition of the 60-character line between the margins (pagination, the linter's printed-line count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
