"""Text that reaches a terminal: control characters removed on the way in, made visible on the way out.

A fact, a name or a line that came from a file, a model or a writer's ``--text`` can hold escape sequences
that retitle the window, clear the screen or recolour everything after it. What is stored keeps none of them
(``without_controls``); what is printed shows any that got through as ``\\x1b``-style escapes (``visible``).
Tab and line feed are ordinary text and stay.
"""

from __future__ import annotations

import re

# C0 controls but tab and line feed, DEL, and the C1 controls (U+0080-U+009F: U+009B is a one-character CSI).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def without_controls(text: str) -> str:
    """``text`` with the terminal control characters removed (a carriage return becomes a space)."""
    return _CONTROLS.sub(lambda m: " " if m.group() == "\r" else "", text)


def visible(text: str) -> str:
    """``text`` with each terminal control character written out as ``\\xNN``, so printing it is inert."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
