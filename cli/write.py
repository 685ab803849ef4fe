"""``dsr write`` and ``dsr resume``: durable episode runs with live progress and review prompts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.prompt import Prompt
from rich.table import Table

from dsr.cli.console import console, err_console
from dsr.cli.options import MaxRetries, Mode, NoRubric
from dsr.common.text import visible


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


class _PlainProgress:
    """One plain line per node finished, on stdout, where no live bar can be drawn (a log file, a pipe, CI):
    the scene, the node, its model calls and seconds, and the critic's verdict. stderr keeps only problems."""

    def __init__(self, run_dir: Path, total_scenes: int, done: int):
        from dsr.contract.call_log import CALL_LOG

        self.total, self.scene = total_scenes, done + 1
        self.log = run_dir / CALL_LOG
        self.seen = self._calls(self.log)

    @staticmethod
    def _calls(path: Path) -> int:
        from dsr.contract.call_log import read_call_log

        return len(read_call_log(path)) if path.exists() else 0

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        # A node that starts a scene names it; the others belong to the scene last named.
        if scene_no := (update.get("x") or {}).get("meta", {}).get("scene_no"):
            self.scene = scene_no
        elif "scene_index" in update:
            self.scene = update["scene_index"] + 1
        now = self._calls(self.log)
        calls, self.seen = now - self.seen, now
        seconds = sum(t["seconds"] for t in update.get("timings") or [] if t.get("node") == node)
        line = f"dsr: scene {min(self.scene, self.total)}/{self.total} {node} done in {seconds:.1f} s, {calls} model call(s)"
        if node == "critic" and update.get("verdicts"):
            verdict = update["verdicts"][-1]
            line += f", verdict {verdict['decision']}" + (
                f" -> {verdict['route']}" if verdict["route"] else ""
            )
        console.print(visible(line), markup=False, highlight=False, soft_wrap=True)


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
    spec: Any,
    done: int,
    context: Any,
    reviewer: Any,
    checkpoints: str | None = None,
    start_over: bool = False,
) -> None:
    from dsr.models.errors import ModelUnavailable
    from dsr.run.setup import drive_held

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=err_console, transient=True) as progress:
            live = err_console.is_terminal and console.is_terminal  # else one plain line per node instead
            result = drive_held(
                run_dir,
                spec,
                context,
                holder="a dsr write or resume",
                on_update=(
                    _LiveProgress(progress, len(spec.scenes), done)
                    if live
                    else _PlainProgress(run_dir, len(spec.scenes), done)
                ),
                reviewer=reviewer,
                checkpoints=checkpoints,
                start_over=start_over,
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
    ctx: typer.Context,
    episode: Annotated[Path, typer.Argument(help="episode YAML (see examples/harbor-lights.yaml)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="run directory")],
    mode: Mode = "dsr",
    review: Annotated[str, typer.Option(help="comma list of review points: directives,prose,scene")] = "",
    memory: Annotated[
        str | None,
        typer.Option(
            help="story memory: a directory, or a Chroma server http://HOST:PORT (share it across a series' episodes)",
        ),
    ] = None,
    checkpoints: Annotated[
        str | None,
        typer.Option(
            help="checkpoint store: postgresql://USER@HOST:PORT/DB (default $DSR_CHECKPOINTS, else SQLite in OUT)",
        ),
    ] = None,
    max_scenes: Annotated[
        int | None, typer.Option("--scenes", min=1, help="write only the first N scenes")
    ] = None,
    no_rubric: NoRubric = False,
    max_retries: MaxRetries = 2,
    force: Annotated[
        bool, typer.Option("--force", help="write into OUT even when it holds files that are not a run")
    ] = False,
) -> None:
    """Write an episode: per-scene artefacts, episode.fountain/.fdx/.pdf and report.json in OUT."""
    from dsr.cli.injection import model_factory
    from dsr.run.runner import RUN_FILE
    from dsr.run.setup import RunOptions, begin_run, plan_runs
    from dsr.story.episode_spec import load_episode

    spec = load_episode(episode)
    if max_scenes:
        spec.scenes = spec.scenes[:max_scenes]
    options = RunOptions(
        mode=mode,
        review=tuple(p.strip() for p in review.split(",") if p.strip()),
        use_rubric=not no_rubric,
        max_retries=max_retries,
        memory=memory,
        checkpoints=checkpoints,
        force=force,
        model_factory=model_factory(ctx),
    )
    template = plan_runs(out, options, marker=RUN_FILE, what="run of dsr write")
    context = begin_run(spec, out, template, checkpoints)
    _run(out, spec, 0, context, interactive_reviewer, checkpoints)


def resume(
    ctx: typer.Context,
    run_dir: Annotated[Path, typer.Argument(help="a run directory made by `dsr write`")],
    approve: Annotated[bool, typer.Option("--approve", help="approve the pending review")] = False,
    reject: Annotated[
        str | None, typer.Option("--reject", help="reject the pending review with this note")
    ] = None,
    stage: Annotated[
        str, typer.Option(help="with --reject at scene review: the stage to send it back to")
    ] = "novelist",
    edit: Annotated[
        Path | None, typer.Option("--edit", help="replace the reviewed text with this file")
    ] = None,
    reconfigure: Annotated[
        bool,
        typer.Option(
            "--reconfigure",
            help="go on with the models configured now instead of the run's own (recorded in run.json)",
        ),
    ] = False,
    checkpoints: Annotated[
        str | None,
        typer.Option(
            help="the run's checkpoint database again, with its password (else $DSR_CHECKPOINTS, PGPASSWORD, ~/.pgpass)",
        ),
    ] = None,
    start_over: Annotated[
        bool,
        typer.Option(
            "--start-over",
            help="the run's checkpoints are lost: write the episode again from scene 1 (its finished model calls are repeated)",
        ),
    ] = False,
) -> None:
    """Continue a run after a crash, a kill, an endpoint failure or a review pause."""
    from dsr.cli.injection import model_factory
    from dsr.common.errors import BadInput
    from dsr.run.runner import load_run, refuse_lost_checkpoints, run_state
    from dsr.run.setup import reopen_run

    load_run(run_dir)  # a missing or damaged run.json is one line, before its checkpoints are opened
    finished, payload, values = run_state(run_dir, checkpoints=checkpoints)
    if not values and not start_over:
        refuse_lost_checkpoints(run_dir)  # before any model is loaded
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
    spec, context = reopen_run(run_dir, reconfigure=reconfigure, model_factory=model_factory(ctx))
    answers = [scripted] if scripted else []

    def reviewer(p: dict[str, Any]) -> Any:
        return answers.pop(0) if answers else interactive_reviewer(p)

    done = len(values.get("scenes", []))
    # Killed before the first checkpoint: the driver starts from the beginning with the recorded spec.
    _run(run_dir, spec, done, context, reviewer, checkpoints, start_over)


def register(app: typer.Typer, panel: str) -> None:
    app.command("write", rich_help_panel=panel)(write)
    app.command("resume", rich_help_panel=panel)(resume)
