"""The ``dsr`` command. Thin: it parses arguments and calls the packages.

Every command module exposes ``register(app, panel)``; heavy libraries are imported inside the commands so
``dsr --help`` stays fast. ``dsr --help`` lists the commands in the panels of :data:`PANELS`, in that order:
the main job (write, resume, room) first. Bad input anywhere surfaces as :class:`dsr.common.errors.BadInput`
and becomes one line on stderr with exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

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
from dsr.common.text import visible

# Help panels in the order `dsr --help` shows them, each with its command modules in the order their
# commands are listed.
PANELS = {
    "Writing": (write, room, edit, season),  # write, resume, room, edit, history, season
    "Screenplay formats": (formats, lint),  # parse, convert, lint
    "Data and training": (synthesize, train),  # synthesize, review, train, export
    "Evaluation": (evaluate,),
    "Servers and tools": (serve, doctor, memory),
}


class PanelOrder(TyperGroup):
    """Lists the commands panel by panel: typer alone lists sub-apps (evaluate, memory) after every command."""

    def list_commands(self, ctx: Any) -> list[str]:
        rank = {panel: i for i, panel in enumerate(PANELS)}
        of = {name: getattr(command, "rich_help_panel", None) for name, command in self.commands.items()}
        return sorted(super().list_commands(ctx), key=lambda name: rank.get(of[name], len(rank)))


app = typer.Typer(
    name="dsr",
    help="DSR Screenwriter: outline -> novel prose (Stage 1) -> formatted screenplay (Stage 2).",
    cls=PanelOrder,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for panel, modules in PANELS.items():
    for module in modules:
        module.register(app, panel)


#: Set for the ``dsr`` process unless the user set them: nothing is fetched from the Hugging Face hub (models
#: and embedder load from local directories) and Chroma sends no telemetry. Here, where the process starts,
#: before any command imports those libraries; the library modules never write the environment.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}


def main(obj: Any = None) -> None:
    """Console-script entry point: click handles usage errors (exit 2); bad input becomes one line, exit 2.

    ``obj``: what a program running ``dsr`` in-process hands the commands (cli/injection.py); the script none.
    """
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)
    try:
        app(obj=obj)
    except BadInput as exc:
        err_console.print(f"dsr: error: {visible(str(exc))}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
