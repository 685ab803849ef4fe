"""Screenplay files: decode text safely, read and write documents by file extension.

Input limits (documented choice for the "huge file" case): a file over :data:`MAX_BYTES` (20 MiB) is
refused with one line naming its size. A feature script in Fountain is 100-300 kB; 20 MB is about
70 full-length scripts, so anything larger is not one screenplay, and parsing it would hold
millions of elements in memory (the reader parses about 7 MB/s, so 20 MiB still reads in seconds).
Callers that really need more pass ``max_bytes``.

Decoding: UTF-8 with or without BOM; UTF-16 when it carries a BOM; otherwise Windows-1252 (what
"Latin-1" files from Windows editors really are), and ISO-8859-1 for the five bytes cp1252 leaves
undefined, so any byte string decodes. A NUL byte without a UTF-16 BOM means a binary file.

The FDX and PDF modules are imported inside the functions: they pull lxml and fpdf2, which a
Fountain-only caller does not need.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

from dsr.common.fsutil import atomic_write
from dsr.screenplay.errors import ScreenplayError
from dsr.screenplay.fountain_reader import parse_fountain
from dsr.screenplay.fountain_writer import write_fountain
from dsr.screenplay.model import Screenplay

MAX_BYTES = 20 * 1024 * 1024
FOUNTAIN_SUFFIXES = frozenset({".fountain", ".spmd", ".txt"})
READ_SUFFIXES = FOUNTAIN_SUFFIXES | {".fdx"}
WRITE_SUFFIXES = FOUNTAIN_SUFFIXES | {".fdx", ".pdf", ".html"}


def _describe(suffixes: frozenset[str]) -> str:
    return ", ".join(sorted(suffixes))


def read_bytes(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> bytes:
    """The file's bytes, refusing missing, unreadable, empty and oversize files with one line."""
    target = Path(path)
    try:
        size = target.stat().st_size
        if target.is_dir():
            raise ScreenplayError(f"{target}: is a directory, not a screenplay file")
        if size > max_bytes:
            raise ScreenplayError(
                f"{target}: file is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:g} MiB limit for a "
                "screenplay file (a feature script is well under 1 MiB)"
            )
        data = target.read_bytes()
    except FileNotFoundError:
        raise ScreenplayError(f"{target}: file not found") from None
    except PermissionError:
        raise ScreenplayError(f"{target}: permission denied") from None
    except OSError as exc:
        raise ScreenplayError(
            f"{target}: cannot read file ({exc.strerror or exc.__class__.__name__})"
        ) from None
    if not data.strip():
        raise ScreenplayError(f"{target}: file is empty")
    return data


def decode_text(data: bytes, name: str = "input") -> str:
    """Decode screenplay bytes (see the module docstring for the order of encodings tried)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ScreenplayError(
                f"{name}: broken UTF-16 text (starts with a UTF-16 byte-order mark)"
            ) from None
    if b"\x00" in data:
        raise ScreenplayError(f"{name}: binary file (contains NUL bytes), not a text screenplay")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_text(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> str:
    """A text screenplay file as str (BOM removed, line ends as in the file)."""
    text = decode_text(read_bytes(path, max_bytes=max_bytes), str(path))
    if not text.strip("\ufeff \t\r\n"):
        raise ScreenplayError(f"{path}: file is empty")
    return text


def _looks_like_fdx(text: str) -> bool:
    head = text.lstrip("\ufeff \t\r\n")[:4096]
    return head.startswith("<") and "<FinalDraft" in head


def read_document(path: str | os.PathLike[str]) -> Screenplay:
    """Read a screenplay by extension: .fountain/.spmd/.txt (Fountain, or FDX XML inside) or .fdx."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".fdx":
        from dsr.screenplay.fdx_reader import parse_fdx

        return parse_fdx(read_bytes(target))
    if suffix in FOUNTAIN_SUFFIXES:
        text = read_text(target)
        if _looks_like_fdx(text):
            from dsr.screenplay.fdx_reader import parse_fdx

            return parse_fdx(text)
        return parse_fountain(text)
    if suffix == ".pdf":
        raise ScreenplayError(f"{target}: reading PDF is not supported; use the .fountain or .fdx source")
    raise ScreenplayError(
        f"{target}: unknown screenplay extension {suffix or '(none)'!r}; expected one of {_describe(READ_SUFFIXES)}"
    )


def render_document(doc: Screenplay, suffix: str) -> bytes:
    """The file contents for ``doc`` in the format named by ``suffix`` ('.fountain', '.fdx', ...)."""
    suffix = suffix.lower()
    if suffix in FOUNTAIN_SUFFIXES:
        return write_fountain(doc).encode("utf-8")
    if suffix == ".fdx":
        from dsr.screenplay.fdx_writer import write_fdx

        return write_fdx(doc)
    if suffix == ".pdf":
        from dsr.screenplay.pdf import render_pdf

        return render_pdf(doc)
    if suffix == ".html":
        from dsr.screenplay.html import render_html

        return render_html(doc).encode("utf-8")
    raise ScreenplayError(
        f"unknown output extension {suffix or '(none)'!r}; expected one of {_describe(WRITE_SUFFIXES)}"
    )


def write_document(doc: Screenplay, path: str | os.PathLike[str]) -> Path:
    """Write ``doc`` to ``path`` in the format its extension names, atomically; returns the path."""
    target = Path(path)
    try:
        data = render_document(doc, target.suffix)
    except ScreenplayError as exc:
        raise ScreenplayError(f"{target}: {exc}") from None
    try:
        return atomic_write(target, data)
    except OSError as exc:
        raise ScreenplayError(
            f"{target}: cannot write file ({exc.strerror or exc.__class__.__name__})"
        ) from None
