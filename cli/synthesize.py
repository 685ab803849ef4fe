"""``dsr synthesize CORPUS_DIR -o DATA_DIR`` and ``dsr review DATA_DIR``: hybrid data synthesis + review."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.panel import Panel
from rich.table import Table

from dsr.cli.console import console, err_console, shown
from dsr.common.errors import BadInput

# A seed every sampler accepts (llama.cpp and numpy take 32 bits; a 50-digit one failed every call).
MAX_SEED = 2**32 - 1


def synthesize_command(
    corpus_dir: Annotated[
        Path, typer.Argument(help="folder of Fountain/FDX screenplays (searched recursively)")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="output DATA_DIR (splits, datasheet, cache)")],
    teacher: Annotated[
        str,
        typer.Option(
            "--teacher",
            help="model role used as the teacher, or 'rules': no model, X, I_c and N derived from each scene",
        ),
    ] = "teacher",
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=256, help="teacher requests in flight")
    ] = 4,
    limit: Annotated[
        int | None, typer.Option("--limit", min=0, help="process only the first N kept scenes")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=MAX_SEED, help="sampling seed (part of every cache key)")
    ] = 0,
    max_repairs: Annotated[
        int, typer.Option("--max-repairs", min=0, max=5, help="JSON repair turns per call")
    ] = 1,
    usd_in: Annotated[
        float, typer.Option("--usd-per-mtok-in", min=0, help="price per million input tokens")
    ] = 0.0,
    usd_out: Annotated[
        float, typer.Option("--usd-per-mtok-out", min=0, help="price per million output tokens")
    ] = 0.0,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="write into DATA_DIR even when it holds files that are not a synthesis output"
        ),
    ] = False,
) -> None:
    """Real screenplays -> Stage 1 (X -> I_c + N) and Stage 2 (N + X -> S) training data, with a datasheet."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dsr.common.fsutil import prepare_output_dir
    from dsr.models.settings import load_settings
    from dsr.synthesis.pipeline import CACHE_FILE, synthesize
    from dsr.synthesis.records import RUN_FILE
    from dsr.synthesis.rules_teacher import NAME as RULES
    from dsr.synthesis.rules_teacher import RulesTeacher
    from dsr.synthesis.teacher import build_teacher

    if not corpus_dir.is_dir():
        problem = "is not a directory" if corpus_dir.exists() else "corpus directory not found"
        raise BadInput(f"{corpus_dir}: {problem}")
    # A killed synthesis has only its cache; rerunning into it resumes from the cache.
    prepare_output_dir(out, [RUN_FILE, CACHE_FILE], what="synthesis output", force=force)
    rules = teacher == RULES  # reserved: never a role name
    settings = None if rules else load_settings()
    if settings is not None:
        try:
            settings.role(teacher)
        except BadInput as exc:
            raise BadInput(f"{exc}; or --teacher {RULES} (no model)") from None
    progress = Progress(
        TextColumn("synthesizing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    )
    task = progress.add_task("scenes", total=None)
    with progress:
        sheet = synthesize(
            corpus_dir,
            out,
            (lambda cache: RulesTeacher())
            if rules
            else lambda cache: build_teacher(
                teacher, cache, concurrency=concurrency, seed=seed, max_repairs=max_repairs, settings=settings
            ),
            limit=limit,
            seed=seed,
            on_start=lambda total: progress.update(task, total=total),
            on_done=lambda: progress.advance(task),
        )
    _summary(sheet, out, usd_in, usd_out)
    if not sheet["counts"]["scripts_read"]:
        err_console.print(
            f"warning: no readable screenplay in {corpus_dir}; see {out / 'rejections.jsonl'}", markup=False
        )
    usage = sheet["teacher_usage"]
    if usage["failures"] and not usage["calls"] and not usage["cache_hits"]:
        raise BadInput(f"teacher role '{teacher}' failed on every call: {_first_failure(out)}")


def _first_failure(out: Path) -> str:
    for line in (out / "rejections.jsonl").read_text(encoding="utf-8").splitlines():
        rejection = json.loads(line)
        if rejection["reason"] == "teacher-call-failed":
            return rejection["detail"]
    return "no detail recorded"


def _summary(sheet: dict[str, Any], out: Path, usd_in: float, usd_out: float) -> None:
    usage = sheet["teacher_usage"]
    cost = (usage["input_tokens"] * usd_in + usage["output_tokens"] * usd_out) / 1e6
    saved = (usage["cached_input_tokens"] * usd_in + usage["cached_output_tokens"] * usd_out) / 1e6
    table = Table(title="synthesis summary")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("teacher", shown(sheet.get("teacher") or "-"))
    for key, value in sheet["counts"].items():
        table.add_row(key.replace("_", " "), str(value))
    for split, n in sheet["splits"].items():
        table.add_row(f"{split} examples", str(n))
    table.add_row("teacher calls (new)", str(usage["calls"]))
    table.add_row("cache hits", str(usage["cache_hits"]))
    table.add_row("tokens in / out", f"{usage['input_tokens']:,} / {usage['output_tokens']:,}")
    table.add_row("estimated cost (USD)", f"{cost:.4f} (cache saved {saved:.4f})")
    table.add_row("wall time (s)", f"{usage['wall_seconds']:.1f}")
    console.print(table)
    console.print(f"datasheet: {shown(str(out / 'datasheet.md'))}", highlight=False)


def _show(example: Any) -> None:
    from dsr.story.schemas import render_x

    console.print(Panel(shown(render_x(example.x)), title=f"X  {shown(example.id)}"))
    console.print(Panel(shown(example.directives.model_dump_json(indent=1)), title="I_c (directives)"))
    console.print(Panel(shown(example.prose), title="N (prose)"))
    console.print(Panel(shown(example.screenplay), title="S (original scene)"))


def _edit(example: Any, *, prose: bool) -> dict[str, Any]:
    """The reviewer's change in $EDITOR as a decision's ``edits``; no change or invalid directives: none."""
    from pydantic import ValidationError

    from dsr.story.schemas import CreativeDirectives

    before = example.prose if prose else example.directives.model_dump_json(indent=1)
    edited = click.edit(before)
    if edited is None or not edited.strip() or edited.strip() == before.strip():
        console.print("no change; not recorded")
        return {}
    if prose:
        return {"prose": edited.strip()}
    try:
        directives = CreativeDirectives.model_validate_json(edited)
    except ValidationError as exc:
        err_console.print(
            f"directives not recorded: {exc.error_count()} problem(s), e.g. {exc.errors()[0]['msg']}"
        )
        return {}
    return {"directives": directives.model_dump(mode="json")}


def review_command(
    data_dir: Annotated[Path, typer.Argument(help="a DATA_DIR written by dsr synthesize")],
    all_examples: Annotated[
        bool, typer.Option("--all", help="also show examples that already have a decision")
    ] = False,
) -> None:
    """Show each example (X, I_c, N, original S) and record accept / reject / edit; the datasets follow."""
    from dsr.synthesis.pipeline import rebuild
    from dsr.synthesis.records import read_examples
    from dsr.synthesis.review import ReviewDecision, load_decisions, record

    if not (data_dir / "run.json").exists():
        raise BadInput(
            f"{data_dir}: not a synthesis output directory (no run.json); run dsr synthesize first"
        )
    decisions = load_decisions(data_dir)
    pending = [e for e in read_examples(data_dir) if all_examples or e.id not in decisions]
    if not pending:
        console.print("nothing to review")
    for example in pending:
        _show(example)
        choice = (
            typer.prompt(
                "[a]ccept / [r]eject / [e]dit prose / edit [d]irectives / [s]kip / [q]uit", default="s"
            )
            .strip()
            .lower()[:1]
        )
        if choice == "q":
            break
        if choice == "a":
            record(data_dir, ReviewDecision(id=example.id, decision="accept"))
        elif choice == "r":
            note = typer.prompt("reason", default="")
            record(data_dir, ReviewDecision(id=example.id, decision="reject", note=note))
        elif choice in {"e", "d"}:
            edits = _edit(example, prose=choice == "e")
            if edits:
                record(data_dir, ReviewDecision(id=example.id, decision="edit", edits=edits))
    sheet = rebuild(data_dir)
    console.print(json.dumps({"splits": sheet["splits"], "review": sheet["review"]}), highlight=False)


def register(app: typer.Typer, panel: str) -> None:
    app.command("synthesize", rich_help_panel=panel)(synthesize_command)
    app.command("review", rich_help_panel=panel)(review_command)
