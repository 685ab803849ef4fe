"""Source licences for the datasheet: a dataset built from scripts must say under which terms each came.

Read from the corpus's own ``MANIFEST.md`` (a Markdown table with ``file`` and ``licence`` columns) and
``LICENSES.md`` (a ``## N. Licence`` section listing its files in backticks), then the script's
``Copyright`` title-page field; otherwise 'unknown', which the datasheet flags.
"""

from __future__ import annotations

import re
from pathlib import Path

from dsr.screenplay.model import Screenplay

_BACKTICKED = re.compile(r"`([^`]+)`")
_SECTION = re.compile(r"^##\s+(?:\d+\.\s*)?(.+?)\s*(?:—|-{1,2})\s*.*$|^##\s+(?:\d+\.\s*)?(.+)$")


def _manifest(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.strip().startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if set("".join(cells)) <= set("-: "):
            continue
        if "file" in header and any(h.startswith("licen") for h in header) and len(cells) == len(header):
            column = next(i for i, h in enumerate(header) if h.startswith("licen"))
            name = cells[header.index("file")].strip("`")
            out[name] = cells[column]
    return out


def _licenses(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        match = _SECTION.match(line)
        if match:
            section = (match.group(1) or match.group(2)).strip()
            continue
        for name in _BACKTICKED.findall(line):
            if section and "." in name and "/" not in name:
                out.setdefault(name, section)
    return out


def read_licences(corpus_dir: Path) -> dict[str, str]:
    """File name -> licence from the corpus's MANIFEST.md and LICENSES.md (the manifest wins)."""
    found: dict[str, str] = {}
    for name, parse in (("LICENSES.md", _licenses), ("MANIFEST.md", _manifest)):
        path = corpus_dir / name
        if path.is_file():
            found.update(parse(path.read_text(encoding="utf-8", errors="replace")))
    return found


def licence_for(file_name: str, doc: Screenplay, licences: dict[str, str]) -> str:
    if file_name in licences:
        return licences[file_name]
    for title_field in doc.title_page:
        if title_field.key.lower() in {"copyright", "license", "licence"}:
            return " ".join(title_field.value.split())
    return "unknown"
