"""``dsr evaluate ...``: the paper's evaluation protocol as a sub-command group.

Judge-driven commands (build-set, run, judge, report) live in :mod:`dsr.cli.evaluate_runs`; the human side
(blind packets, imported ratings, judge calibration) in :mod:`dsr.cli.evaluate_human`.
"""

from __future__ import annotations

import typer

from dsr.cli import evaluate_human, evaluate_runs

evaluate_app = typer.Typer(
    name="evaluate",
    help="Evaluate systems the way the paper does: test sets, runs, rubric judge, win rates, reports.",
    no_args_is_help=True,
)
evaluate_runs.register(evaluate_app)
evaluate_human.register(evaluate_app)


def register(app: typer.Typer, panel: str) -> None:
    app.add_typer(evaluate_app, name="evaluate", rich_help_panel=panel)
