"""Text laid out in a column: styled text, word wrap, and the pieces and blocks pagination moves.

A :class:`Styled` string keeps a style bit-set per character, so wrapping can cut through emphasis; a
:class:`Piece` is one element's text in its column with the places it may break (sentences, hard line
breaks); a :class:`Block` is what moves from page to page as a unit and knows how it may split
(:meth:`Block.split`) by the rules in :mod:`dsr.screenplay.pagination`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cached_property

from dsr.screenplay.inline import to_runs
from dsr.screenplay.page import CHAR_WIDTH, Align, Line, Row, Span

BOLD, ITALIC, UNDERLINE = 1, 2, 4


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
