"""Shared rich consoles: results to stdout, diagnostics and progress to stderr.

Text that came from a file, a model or the story memory goes through :func:`shown` before it is printed:
rich markup in it is escaped and terminal control characters are made visible (see ``dsr.common.text``).
"""

from rich.console import Console
from rich.markup import escape

from dsr.common.text import visible

console = Console()
err_console = Console(stderr=True)


def shown(text: str) -> str:
    """``text`` safe to hand to ``console.print``: neither markup nor an escape sequence takes effect."""
    return escape(visible(text))
