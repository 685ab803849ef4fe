"""``dsr write`` and ``dsr resume``: durable episode runs with live progress and review prompts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.prompt import Prompt
from rich.table import Table

from dsr.cli.console import console, err_console


class _LiveProgress:
    """One bar per episode; the description names the scene and node that just finished."""

    def __init__(self, progress: Progress, total_scenes: int, done: int):
        self.progress = progress
        self.task = progress.add_task("starting", total=total_scenes, completed=done)
        self.total = total_scenes

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        if node == "commit":
            self.progress.advance(self.task)
        scene = (update.get("x") or {}).get("meta", {}).get("scene_no") or update.get("scene_index", 0) + 1
        extra = ""
        if node == "critic" and update.get("verdicts"):
            verdict = update["verdicts"][-1]
            extra = f" -> {verdict['decision']}" + (f" ({verdict['route']})" if verdict["route"] else "")
        self.progress.update(self.task, description=f"scene {scene}/{self.total}: {node} done{extra}")


def _edit_text(initial: str, suffix: str) -> str:
    """Open $EDITOR on ``initial``; returns the saved text."""
    editor = os.environ.get("EDITOR") or os.environ.get("VISUAL") or "vi"
    with tempfile.NamedTemporaryFile("w+", suffix=suffix, delete=False, encoding="utf-8") as handle:
        handle.write(initial)
        path = handle.name
    try:
        subprocess.run([*editor.split(), path], check=True)
        return Path(path).read_text(encoding="utf-8")
    finally:
        Path(path).unlink(missing_ok=True)


def interactive_reviewer(payload: dict[str, Any]) -> Any:
    """Show the payload; approve / edit ($EDITOR) / reject with a note. Non-interactive: stay paused."""
    point = payload["point"]
    body = {
        "directives": lambda: json.dumps(payload.get("directives"), indent=1, ensure_ascii=False),
        "prose": lambda: payload.get("prose") or "",
        "scene": lambda: payload.get("screenplay") or "",
    }[point]()
    if not sys.stdin.isatty():
        return None
    console.print(Panel(body, title=f"review {point}: scene {payload['scene']}", expand=False))
    for finding in payload.get("findings", []):
        console.print(f"  [{finding['severity']}] {finding['check']}: {finding['message']}", markup=False)
    choice = Prompt.ask("approve, edit or reject?", choices=["approve", "edit", "reject"], default="approve")
    if choice == "approve":
        return {"action": "approve"}
    if choice == "edit":
        suffix = {"directives": ".json", "prose": ".md", "scene": ".fountain"}[point]
        return {"action": "edit", "value": _edit_text(body, suffix)}
    answer: dict[str, Any] = {"action": "reject", "note": Prompt.ask("note for the rewrite")}
    if point == "scene":
        answer["stage"] = Prompt.ask(
            "send back to", choices=["planner", "novelist", "screenwriter"], default="novelist"
        )
    return answer


def _summary(run_dir: Path) -> None:
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    table = Table(title=f"{report['title']} ({report['mode']})")
    for column in ("scene", "status", "retries", "lint errors", "rubric", "model calls", "tokens out"):
        table.add_column(column, justify="right")
    for scene in report["scenes"]:
        roles = scene["roles"].values()
        score = (scene["rubric"] or {}).get("score")
        rubric = (
            "unjudged"
            if scene.get("rubric_status") == "unjudged"
            else "-"
            if score is None
            else f"{score:.1f}"
        )
        table.add_row(
            str(scene["scene"]),
            scene["status"],
            str(sum(len(v) for v in scene["retries"].values())),
            str(scene["lint"]["errors"]),
            rubric,
            str(int(sum(r["calls"] for r in roles))),
            str(int(sum(r["output_tokens"] for r in roles))),
        )
    console.print(table)
    total = report["total"]
    if total.get("unjudged"):
        console.print(
            f"{total['unjudged']} of {total['scenes']} scene(s) unjudged: the rubric judge gave no usable verdict, "
            "so they went on from the deterministic checks alone (reasons in scenes/NN/critique.json)"
        )
    console.print(
        f"wrote {run_dir}/episode.fountain, .fdx, .pdf and report.json; wall {total['wall_seconds']} s, "
        f"of which model calls {total['model_seconds']} s"
    )


def _run(
    run_dir: Path,
    first_input: Any,
    total_scenes: int,
    done: int,
    context: Any,
    reviewer: Any,
    checkpoints: str | None = None,
) -> None:
    from dsr.models.errors import ModelUnavailable
    from dsr.run.runlock import holding
    from dsr.run.runner import drive

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    try:
        with (
            holding(run_dir, "a dsr write or resume"),
            Progress(*columns, console=err_console, transient=True) as progress,
        ):
            result = drive(
                run_dir,
                context,
                first_input,
                on_update=_LiveProgress(progress, total_scenes, done),
                reviewer=reviewer,
                checkpoints=checkpoints,
            )
    except ModelUnavailable as exc:
        raise ModelUnavailable(
            f"{exc}; the run is paused with its state kept, continue with `dsr resume {run_dir}`"
        ) from None
    if result.paused_for is not None:
        point = result.paused_for["point"]
        err_console.print(
            f"paused for review of the {point} of scene {result.paused_for['scene']}; continue with "
            f"`dsr resume {run_dir}` (interactive) or `dsr resume {run_dir} --approve | --reject NOTE | --edit FILE`"
        )
        raise typer.Exit(3)
    _summary(run_dir)


def write(
    episode: Path = typer.Argument(..., help="episode YAML (see examples/harbor-lights.yaml)"),
    out: Path = typer.Option(..., "-o", "--out", help="run directory"),
    mode: str = typer.Option("dsr", help="dsr | dsr-nocot (no planner) | e2e (one call X -> S)"),
    review: str = typer.Option("", help="comma list of review points: directives,prose,scene"),
    memory: str | None = typer.Option(
        None,
        help="story memory: a directory, or a Chroma server http://HOST:PORT (share it across a series' episodes)",
    ),
    checkpoints: str | None = typer.Option(
        None,
        help="checkpoint store: postgresql://USER@HOST:PORT/DB (default $DSR_CHECKPOINTS, else SQLite in OUT)",
    ),
    max_scenes: int | None = typer.Option(None, "--scenes", min=1, help="write only the first N scenes"),
    no_rubric: bool = typer.Option(False, "--no-rubric", help="critic runs deterministic checks only"),
    max_retries: int = typer.Option(
        2, min=0, max=10, help="reruns per stage before a scene is accepted as is"
    ),
    force: bool = typer.Option(
        False, "--force", help="write into OUT even when it holds files that are not a run"
    ),
) -> None:
    """Write an episode: per-scene artefacts, episode.fountain/.fdx/.pdf and report.json in OUT."""
    from dsr.common.errors import BadInput
    from dsr.common.fsutil import prepare_output_dir
    from dsr.contract.context import MODES, REVIEW_POINTS, RunContext, retry_caps, roles_for
    from dsr.memory.client import memory_location
    from dsr.models.factory import validate_role
    from dsr.models.settings import load_settings
    from dsr.run.runner import RUN_FILE, initial_input, start_run
    from dsr.story.episode_spec import load_episode

    if mode not in MODES:
        raise BadInput(f"unknown mode '{mode}'; use one of: {', '.join(MODES)}")
    points = [p.strip() for p in review.split(",") if p.strip()]
    if unknown := [p for p in points if p not in REVIEW_POINTS]:
        raise BadInput(f"unknown review point '{unknown[0]}'; use: {', '.join(REVIEW_POINTS)}")
    spec = load_episode(episode)
    if max_scenes:
        spec.scenes = spec.scenes[:max_scenes]
    settings = load_settings()  # configuration problems surface before anything is written
    for role in roles_for(mode, use_rubric=not no_rubric):
        validate_role(role, settings)
    memory_at = memory_location(memory, force=force) if memory else str(out / "memory")
    prepare_output_dir(out, [RUN_FILE], what="run of dsr write", force=force)
    context = RunContext(
        mode=mode,
        review=points,
        use_rubric=not no_rubric,
        run_dir=str(out),
        **retry_caps(max_retries),
        memory_dir=memory_at,
    )
    context = start_run(spec, out, context, checkpoints)
    _run(out, initial_input(spec), len(spec.scenes), 0, context, interactive_reviewer, checkpoints)


def resume(
    run_dir: Path = typer.Argument(..., help="a run directory made by `dsr write`"),
    approve: bool = typer.Option(False, "--approve", help="approve the pending review"),
    reject: str | None = typer.Option(None, "--reject", help="reject the pending review with this note"),
    stage: str = typer.Option("novelist", help="with --reject at scene review: the stage to send it back to"),
    edit: Path | None = typer.Option(None, "--edit", help="replace the reviewed text with this file"),
    reconfigure: bool = typer.Option(
        False,
        "--reconfigure",
        help="go on with the models configured now instead of the run's own (recorded in run.json)",
    ),
    checkpoints: str | None = typer.Option(
        None,
        help="the run's checkpoint database again, with its password (else $DSR_CHECKPOINTS, PGPASSWORD, ~/.pgpass)",
    ),
) -> None:
    """Continue a run after a crash, a kill, an endpoint failure or a review pause."""
    from dsr.common.errors import BadInput
    from dsr.run.runner import initial_input, keep_models, load_run, run_state

    spec, context = load_run(run_dir)
    finished, payload, values = run_state(run_dir, checkpoints=checkpoints)
    if finished and values:
        console.print(f"{run_dir} is already complete")
        _summary(run_dir)
        return
    if sum(bool(x) for x in (approve, reject, edit)) > 1:
        raise BadInput("give at most one of --approve, --reject, --edit")
    scripted: Any = None
    if approve:
        scripted = {"action": "approve"}
    elif reject:
        scripted = {"action": "reject", "note": reject, "stage": stage}
    elif edit:
        from dsr.screenplay.io import read_text

        # Sized, decoded and refused (binary, unreadable) the way every screenplay input is.
        scripted = {"action": "edit", "value": read_text(edit)}
    if scripted is not None and payload is None:
        raise BadInput(f"{run_dir} is not waiting for a review; run `dsr resume {run_dir}` without options")
    context = keep_models(run_dir, context, reconfigure=reconfigure)
    answers = [scripted] if scripted else []

    def reviewer(p: dict[str, Any]) -> Any:
        return answers.pop(0) if answers else interactive_reviewer(p)

    done = len(values.get("scenes", []))
    # Killed before the first checkpoint: the driver starts from the beginning with the recorded spec.
    _run(run_dir, initial_input(spec), len(spec.scenes), done, context, reviewer, checkpoints)


def register(app: typer.Typer) -> None:
    app.command("write")(write)
    app.command("resume")(resume)
