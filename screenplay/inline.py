"""Fountain inline markup (emphasis, escapes, inline notes) <-> styled runs.

Written by hand because no maintained library implements Fountain's emphasis rules; screenplain
does it inside its HTML renderer only. Rules: ``***bold italic***``, ``**bold**``, ``*italic*``,
``_underline_``; a delimiter opens only when the same delimiter closes it later in the text;
``\\*`` and ``\\_`` are literal; ``[[notes]]`` are never printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARKUP_CHARS = re.compile(r"[*_\\\[]")


@dataclass(frozen=True)
class Run:
    text: str
    bold: bool = False
    italic: bool = False
    underline: bool = False


def _has_closer(text: str, start: int, delim: str) -> bool:
    i = start
    while True:
        j = text.find(delim, i)
        if j == -1:
            return False
        if j == 0 or text[j - 1] != "\\":
            return True
        i = j + 1


def to_runs(text: str) -> list[Run]:
    """Split marked-up text into runs with their emphasis; notes are dropped."""
    if not _MARKUP_CHARS.search(text):  # most screenplay text has no markup: skip the scanner
        return [Run(text)] if text else []
    runs: list[Run] = []
    buf: list[str] = []
    bold = italic = underline = False

    def flush() -> None:
        if buf:
            runs.append(Run("".join(buf), bold, italic, underline))
            buf.clear()

    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "*_\\[]":
            buf.append(text[i + 1])
            i += 2
            continue
        if text.startswith("[[", i):
            end = text.find("]]", i + 2)
            if end != -1:
                i = end + 2
                continue
        if ch == "*":
            width = 3 if text.startswith("***", i) else 2 if text.startswith("**", i) else 1
            delim = "*" * width
            want_bold = width >= 2
            want_italic = width != 2
            closing = (not want_bold or bold) and (not want_italic or italic)
            if closing or _has_closer(text, i + width, delim):
                flush()
                if want_bold:
                    bold = not bold
                if want_italic:
                    italic = not italic
                i += width
                continue
        if ch == "_" and (underline or _has_closer(text, i + 1, "_")):
            flush()
            underline = not underline
            i += 1
            continue
        buf.append(ch)
        i += 1
    flush()
    return runs


def plain(text: str) -> str:
    """The printable text with markup and inline notes removed."""
    return "".join(run.text for run in to_runs(text))


def escape(text: str) -> str:
    """Escape literal emphasis characters so Fountain keeps them as text."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")


def from_runs(runs: list[Run]) -> str:
    """Inverse of :func:`to_runs` for runs without notes.

    Delimiters nest (underline outside bold outside italic) and stay open across neighbouring runs
    that share a style, so ``**THE _LAST_ FERRY**`` comes back as written; emitting each run in its
    own delimiters would glue them into ``****`` sequences that :func:`to_runs` reads differently.
    Bold turning off exactly where italic turns on (or the reverse) has no unambiguous markup.
    """
    out: list[str] = []
    stack: list[str] = []
    for run in runs:
        if not run.text:
            continue
        want = [d for d, on in (("_", run.underline), ("**", run.bold), ("*", run.italic)) if on]
        while stack and any(d not in want for d in stack):
            out.append(stack.pop())
        for delim in want:
            if delim not in stack:
                stack.append(delim)
                out.append(delim)
        out.append(escape(run.text))
    out.extend(reversed(stack))
    return "".join(out)
