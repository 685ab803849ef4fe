"""Control characters: the ones no FDX (XML 1.0) can hold and no PDF prints, removed with a warning."""

from __future__ import annotations

import re
import warnings

# Characters XML 1.0 cannot hold (so no FDX can), which print as nothing or as boxes: C0 controls but
# tab and line ends, the two non-characters, lone surrogates. Vertical tab and form feed separate words.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_CONTROL_SPACES = {"\x0b": " ", "\x0c": " "}


class ControlCharacterWarning(UserWarning):
    """Control characters were removed from a screenplay's text; the message says how many."""


def strip_control_characters(text: str) -> tuple[str, list[str]]:
    """``text`` without the characters no FDX can hold (see ``_CONTROL``), and the ones removed."""
    found = _CONTROL.findall(text)
    return (_CONTROL.sub(lambda m: _CONTROL_SPACES.get(m.group(), ""), text) if found else text), found


def warn_control_characters(found: list[str]) -> None:
    """One :class:`ControlCharacterWarning` for the control characters a reader or writer removed."""
    if found:
        kinds = ", ".join(f"U+{ord(c):04X}" for c in sorted(set(found))[:4])
        warnings.warn(
            f"removed {len(found)} control character(s) ({kinds}) that FDX cannot hold and PDF cannot print",
            ControlCharacterWarning,
            stacklevel=3,
        )
