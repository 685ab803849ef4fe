"""``dsr season``: several episodes at once against shared checkpoints and memory, one live display."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from dsr.cli.console import console, err_console, shown
from dsr.cli.options import MaxRetries, Mode, NoRubric

_STYLE = {"waiting": "dim", "running": "cyan", "done": "green", "paused": "red", "held": "yellow"}


class _Display:
    """One row per episode: scenes committed, and what it is doing (or why it stopped)."""

    def __init__(self, progress: Progress, planned: list) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {
            p.name: progress.add_task(p.name, total=len(p.spec.scenes), status="[dim]waiting[/]")
            for p in planned
        }

    def __call__(self, status) -> None:  # type: ignore[no-untyped-def]
        style = _STYLE[status.status]
        text = status.status if status.status in ("waiting", "done") and not status.detail else status.detail
        label = f"[{style}]{status.status}[/]" + (f" {shown(text)}" if text and text != status.status else "")
        self.progress.update(self.tasks[status.name], completed=status.scenes_done, status=label)


def season(
    ctx: typer.Context,
    season_file: Annotated[
        Path, typer.Argument(help="season YAML: the episode files and what each waits for")
    ],
    out: Annotated[
        Path,
        typer.Option("-o", "--out", help="season directory: one run directory per episode, season.json"),
    ],
    workers: Annotated[int, typer.Option(min=1, max=64, help="episodes written at once")] = 4,
    mode: Mode = "dsr",
    memory: Annotated[
        str | None,
        typer.Option(
            help="shared story memory: a directory (default OUT/memory) or a Chroma server http://HOST:PORT"
        ),
    ] = None,
    checkpoints: Annotated[
        str | None,
        typer.Option(
            help="shared checkpoint store: postgresql://USER@HOST:PORT/DB (default $DSR_CHECKPOINTS, else SQLite per episode)",
        ),
    ] = None,
    no_rubric: NoRubric = False,
    max_retries: MaxRetries = 2,
    force: Annotated[
        bool, typer.Option("--force", help="write into OUT even when it holds files that are not a season")
    ] = False,
) -> None:
    """Write a season: episodes of one storyline in order, independent storylines at once; run it again to
    continue every unfinished episode from its last checkpoint."""
    from dsr.cli.injection import model_factory
    from dsr.run.season import SEASON_FILE, Season, load_season
    from dsr.run.setup import RunOptions, plan_runs

    title, planned = load_season(season_file)
    options = RunOptions(
        mode=mode,
        use_rubric=not no_rubric,
        max_retries=max_retries,
        memory=memory,
        checkpoints=checkpoints,
        force=force,
        model_factory=model_factory(ctx),
    )
    template = plan_runs(out, options, marker=SEASON_FILE, what="season of dsr season")

    width = max(len(p.name) for p in planned)
    columns = (
        TextColumn("{task.description}", style="bold", table_column=Column(min_width=width, no_wrap=True)),
        BarColumn(bar_width=12),
        MofNCompleteColumn(),
        TextColumn("scenes"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
    )
    err_console.print(
        f"{title or season_file.name}: {len(planned)} episode(s), {workers} at once; memory {template.memory_dir}"
    )
    try:
        with Progress(*columns, console=err_console, transient=False) as progress:
            runner = Season(
                planned, out, template, workers, checkpoints, on_change=_Display(progress, planned)
            )
            statuses = runner.run()
    except KeyboardInterrupt:
        # Episode threads cannot be stopped politely; every finished node is checkpointed, so leave now.
        err_console.print(f"interrupted; continue with `dsr season {season_file} -o {out}`")
        os._exit(130)
    table = Table(title=f"{title or season_file.name}: {out}")
    for column in ("episode", "status", "scenes", "detail"):
        table.add_column(column)
    for status in statuses.values():
        table.add_row(
            status.name,
            f"[{_STYLE[status.status]}]{status.status}[/]",
            f"{status.scenes_done}/{status.scenes_total}",
            shown(status.detail if status.status != "done" else str(out / status.name)),
        )
    console.print(table)
    stopped = [s for s in statuses.values() if s.status != "done"]
    if stopped:
        err_console.print(
            f"{len(stopped)} episode(s) not finished ({', '.join(s.name for s in stopped)}); fix what stopped them "
            f"and run `dsr season {season_file} -o {out}` again to continue from their last checkpoints"
        )
        raise typer.Exit(3)


def register(app: typer.Typer, panel: str) -> None:
    app.command("season", rich_help_panel=panel)(season)
