"""What a program that runs ``dsr`` in-process hands its commands: click's context object (``obj``).

``CliRunner().invoke(app, args, obj=Injected(model_factory=...))`` (typer.testing) makes every run that
``dsr write``, ``dsr resume`` or ``dsr season`` drives in that invocation build its models with the factory
instead of the configured providers: tests script models so, through the same parameter any caller of the run
set-up (run/setup.py) passes. The ``dsr`` script hands nothing: each run uses the providers it recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from dsr.contract.context import ModelFactory


@dataclass(frozen=True)
class Injected:
    model_factory: ModelFactory | None = None


def model_factory(ctx: typer.Context) -> ModelFactory | None:
    """The model factory this invocation was handed, or None."""
    injected = ctx.find_object(Injected)
    return injected.model_factory if injected is not None else None
