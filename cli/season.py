"""``dsr season``: several episodes at once against shared checkpoints and memory, one live display."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from dsr.cli.console import console, err_console

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
        label = f"[{style}]{status.status}[/]" + (
            f" {escape(text)}" if text and text != status.status else ""
        )
        self.progress.update(self.tasks[status.name], completed=status.scenes_done, status=label)


def season(
    season_file: Path = typer.Argument(..., help="season YAML: the episode files and what each waits for"),
    out: Path = typer.Option(
        ..., "-o", "--out", help="season directory: one run directory per episode, season.json"
    ),
    workers: int = typer.Option(4, min=1, max=64, help="episodes written at once"),
    mode: str = typer.Option("dsr", help="dsr | dsr-nocot (no planner) | e2e (one call X -> S)"),
    memory: str | None = typer.Option(
        None, help="shared story memory: a directory (default OUT/memory) or a Chroma server http://HOST:PORT"
    ),
    checkpoints: str | None = typer.Option(
        None,
        help="shared checkpoint store: postgresql://USER@HOST:PORT/DB (default $DSR_CHECKPOINTS, else SQLite per episode)",
    ),
    no_rubric: bool = typer.Option(False, "--no-rubric", help="critic runs deterministic checks only"),
    max_retries: int = typer.Option(
        2, min=0, max=10, help="reruns per stage before a scene is accepted as is"
    ),
    force: bool = typer.Option(
        False, "--force", help="write into OUT even when it holds files that are not a season"
    ),
) -> None:
    """Write a season: episodes of one storyline in order, independent storylines at once; run it again to
    continue every unfinished episode from its last checkpoint."""
    from dsr.common.errors import BadInput
    from dsr.common.fsutil import prepare_output_dir
    from dsr.contract.context import MODES, RunContext, retry_caps, roles_for
    from dsr.memory.client import memory_location
    from dsr.models.factory import validate_role
    from dsr.models.settings import load_settings
    from dsr.run.checkpoints import choose, prepare
    from dsr.run.season import SEASON_FILE, Season, load_season

    if mode not in MODES:
        raise BadInput(f"unknown mode '{mode}'; use one of: {', '.join(MODES)}")
    title, planned = load_season(season_file)
    settings = load_settings()
    for role in roles_for(mode, use_rubric=not no_rubric):
        validate_role(role, settings)
    memory_at = memory_location(memory, force=force) if memory else str(out / "memory")
    prepare(choose(checkpoints), checkpoints)  # an unreachable database stops the season before it starts
    prepare_output_dir(out, [SEASON_FILE], what="season of dsr season", force=force)
    template = RunContext(
        mode=mode, review=[], use_rubric=not no_rubric, memory_dir=memory_at, **retry_caps(max_retries)
    )

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
        f"{title or season_file.name}: {len(planned)} episode(s), {workers} at once; memory {memory_at}"
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
            escape(status.detail if status.status != "done" else str(out / status.name)),
        )
    console.print(table)
    stopped = [s for s in statuses.values() if s.status != "done"]
    if stopped:
        err_console.print(
            f"{len(stopped)} episode(s) not finished ({', '.join(s.name for s in stopped)}); fix what stopped them "
            f"and run `dsr season {season_file} -o {out}` again to continue from their last checkpoints"
        )
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.command("season")(season)
