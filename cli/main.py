"""The ``dsr`` command. Thin: it parses arguments and calls the packages.

Every command module exposes ``register(app)``; heavy libraries are imported inside the commands so
``dsr --help`` stays fast. Bad input anywhere surfaces as :class:`dsr.common.errors.BadInput` and becomes
one line on stderr with exit status 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from dsr.cli import (
    doctor,
    edit,
    evaluate,
    formats,
    lint,
    memory,
    room,
    season,
    serve,
    synthesize,
    train,
    write,
)
from dsr.cli.console import err_console
from dsr.common.errors import BadInput

app = typer.Typer(
    name="dsr",
    help="DSR Screenwriter: outline -> novel prose (Stage 1) -> formatted screenplay (Stage 2).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (doctor, edit, evaluate, formats, lint, memory, room, season, serve, synthesize, train, write):
    module.register(app)


def main() -> None:
    """Console-script entry point: click handles usage errors (exit 2); bad input becomes one line, exit 2."""
    try:
        app()
    except BadInput as exc:
        err_console.print(f"dsr: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
