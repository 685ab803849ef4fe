"""Command-line options that several commands share, declared once (typer's ``Annotated`` style)."""

from __future__ import annotations

from typing import Annotated

import typer

Mode = Annotated[str, typer.Option(help="dsr | dsr-nocot (no planner) | e2e (one call X -> S)")]
NoRubric = Annotated[bool, typer.Option("--no-rubric", help="critic runs deterministic checks only")]
MaxRetries = Annotated[
    int, typer.Option(min=0, max=10, help="reruns per stage before a scene is accepted as is")
]
