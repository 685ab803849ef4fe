"""Scene headings: the INT./EXT. prefix both readers (Fountain and FDX) accept, and the split.

A heading starts INT., EXT., EST., INT./EXT. (or INT/EXT, EXT./INT) or I/E, in any case; the time of
day follows the last `` - `` (or ``--``). Whether a Fountain line *is* a heading is the reader's own
rule, :func:`dsr.screenplay.fountain_reader.is_scene_heading`, which every caller uses. The linter alone
also looks for headings a writer *meant* but the readers do not take (``INT / EXT``, ``E/I``):
``MEANT_HEADING_PREFIX``.
"""

from __future__ import annotations

import re

_PREFIXES = r"INT\.?/EXT|INT/EXT|EXT\.?/INT|I/E|INT|EXT|EST"
HEADING_PREFIX = re.compile(rf"({_PREFIXES})(?:\.|(?=\s)|$)\s*", re.IGNORECASE)
HEADING_START = re.compile(rf"(?:{_PREFIXES})[.\s]", re.IGNORECASE)  # how a Fountain heading line starts
_TIME_SPLIT = re.compile(r"\s+-+\s+|\s*--\s*")
# Looser, for the linter only: spaces around the slash and E/I too, so SP003/SP007 can name what went wrong.
MEANT_HEADING_PREFIX = re.compile(
    r"^(?:INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|I\s*/\s*E|E\s*/\s*I|INT|EXT|EST)(?:\.|\s)", re.IGNORECASE
)


def split_heading(text: str) -> tuple[str | None, str | None, str | None]:
    """``'INT. HOUSE - DAY'`` -> ``('INT.', 'HOUSE', 'DAY')``; the split both readers make."""
    match = HEADING_PREFIX.match(text)
    int_ext = None
    rest = text
    if match:
        parts = match.group(1).upper().split("/")
        int_ext = "I/E" if parts == ["I", "E"] else "/".join(part.rstrip(".") + "." for part in parts)
        rest = text[match.end() :]
    separators = list(_TIME_SPLIT.finditer(rest))
    if not separators:
        return int_ext, rest.strip() or None, None
    last = separators[-1]
    return int_ext, rest[: last.start()].strip() or None, rest[last.end() :].strip() or None
