"""``dsr write``: an episode file -> a run directory with the episode in Fountain, FDX and PDF."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cli.console import console, err_console


def write(
    episode: Path = typer.Argument(..., help="episode YAML (see examples/harbor-lights.yaml)"),
    out: Path = typer.Option(..., "-o", "--out", help="run directory"),
    mode: str = typer.Option("direct", help="direct: Stage 1 -> Stage 2 per scene"),
    scenes: int | None = typer.Option(None, min=1, help="write only the first N scenes"),
) -> None:
    """Write an episode: per-scene artefacts, episode.fountain/.fdx/.pdf and report.json in OUT."""
    from common.errors import BadInput
    from graph.direct_run import run_direct
    from graph.episode_spec import load_episode
    from models.settings import load_settings

    if mode != "direct":
        raise BadInput(f"unknown mode '{mode}'; available: direct")
    spec = load_episode(episode)
    settings = load_settings()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        report = run_direct(spec, out, settings, max_scenes=scenes, progress=progress)
    total = report["total"]
    console.print(
        f"wrote {len(report['scenes'])} scene(s) to {out}/episode.fountain, .fdx, .pdf "
        f"in {total['wall_seconds']} s; report: {out}/report.json"
    )


def register(app: typer.Typer) -> None:
    app.command("write")(write)
