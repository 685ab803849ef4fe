"""Screenplay -> industry-format PDF (US Letter, Courier 12 pt), drawn with fpdf2.

:mod:`dsr.screenplay.pagination` decides what goes on which row; this module only draws it. Text that
fits Latin-1 is drawn in the PDF core font Courier (nothing embedded); a script with other
characters (typographic quotes, Polish, ...) embeds the bundled Courier Prime, which has the same
0.6 em advance, so the layout is identical. Characters Courier Prime lacks (CJK, Cyrillic, ...)
print as '?': no monospace font covering them ships with the project's dependencies.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF

from dsr.screenplay.model import Screenplay
from dsr.screenplay.page import (
    CHAR_WIDTH,
    LINE_HEIGHT,
    PAGE_HEIGHT,
    PAGE_NUMBER_TOP,
    PAGE_WIDTH,
    RIGHT,
    TOP_MARGIN,
    Line,
    Page,
)
from dsr.screenplay.pagination import paginate

FONT_SIZE = 12.0
BASELINE = 0.8 * FONT_SIZE  # from the top of a row to the text baseline, as fpdf2's own cells do
FONT_DIR = Path(__file__).with_name("fonts")
_PRIME_FILES = {
    "": "CourierPrime-Regular.ttf",
    "B": "CourierPrime-Bold.ttf",
    "I": "CourierPrime-Italic.ttf",
    "BI": "CourierPrime-BoldItalic.ttf",
}
REPLACEMENT = "?"


@cache
def prime_charset() -> frozenset[str]:
    cmap = TTFont(FONT_DIR / _PRIME_FILES[""], lazy=True).getBestCmap()
    return frozenset(chr(code) for code in cmap)


def _page_texts(pages: list[Page]) -> list[str]:
    return [line.text for page in pages for row in page.rows for line in row]


def _font_for(pages: list[Page]) -> tuple[str, frozenset[str] | None]:
    """('Courier', None) when every character is Latin-1, else Courier Prime and its character set."""
    if all(text.isascii() or max(text) <= "\xff" for text in _page_texts(pages) if text):
        return "Courier", None
    return "CourierPrime", prime_charset()


def _style(bold: bool, italic: bool, underline: bool) -> str:
    return ("B" if bold else "") + ("I" if italic else "") + ("U" if underline else "")


def _draw_line(pdf: FPDF, line: Line, top: float, family: str, charset: frozenset[str] | None) -> None:
    x = line.left()
    for span in line.spans:
        text = span.text
        if charset is not None:
            text = "".join(ch if ch in charset or ch == " " else REPLACEMENT for ch in text)
        pdf.set_font(family, _style(span.bold, span.italic, span.underline), FONT_SIZE)
        pdf.text(x, top + BASELINE, text)
        x += len(text) * CHAR_WIDTH


def render_pdf(doc: Screenplay, *, bold_headings: bool = False) -> bytes:
    """The screenplay as PDF bytes: optional title page, then pages numbered "2." onwards."""
    pages = paginate(doc, bold_headings=bold_headings)
    family, charset = _font_for(pages)
    pdf = FPDF(orientation="portrait", unit="pt", format=(PAGE_WIDTH, PAGE_HEIGHT))
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_creator("DSR Screenwriter")
    if doc.title():
        pdf.set_title(doc.title() or "")
    if charset is not None:
        for style, name in _PRIME_FILES.items():
            pdf.add_font(family, style, str(FONT_DIR / name))
    for page in pages:
        pdf.add_page()
        if page.number is not None and page.number > 1:
            number = f"{page.number}."
            pdf.set_font(family, "", FONT_SIZE)
            pdf.text(RIGHT - len(number) * CHAR_WIDTH, PAGE_NUMBER_TOP + BASELINE, number)
        for n, row in enumerate(page.rows):
            for line in row:
                _draw_line(pdf, line, TOP_MARGIN + n * LINE_HEIGHT, family, charset)
    return bytes(pdf.output())
