"""``dsr evaluate packets | import-ratings | calibrate``: the human side of an evaluation.

Blind packets for human raters (DSR-SPEC 8.3), their filled sheets turned into the same records as the
LLM judge's, and the judge's calibration against human ratings (HANNA), written beside an evaluation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dsr.cli.console import console, err_console, shown
from dsr.cli.synthesize import MAX_SEED
from dsr.common.errors import BadInput


def packets_command(
    eval_dir: Annotated[Path, typer.Argument(help="an EVAL_DIR with outputs/ (dsr evaluate run)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="PACKET_DIR to write")],
    raters: Annotated[int, typer.Option("--raters", min=1, max=200, help="number of rater folders")] = 1,
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="shuffling and code seed")] = 0,
    systems: Annotated[
        str | None,
        typer.Option("--systems", help="comma-separated systems to pair (default: all, human included)"),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="write into PACKET_DIR even when it holds files that are not packets"),
    ] = False,
) -> None:
    """Anonymised, shuffled PDF pairs and a rating sheet per rater; the un-blinding key goes to PACKET_DIR/key.json."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from dsr.common.fsutil import prepare_output_dir
    from dsr.evaluation.packets import KEY_FILE, build_packets

    if not eval_dir.is_dir():
        raise BadInput(f"{eval_dir}: evaluation directory not found")
    # A killed run has rater folders but no key yet; a rerun rewrites them.
    prepare_output_dir(out, [KEY_FILE, "raters"], what="packets", force=force)
    chosen = [s.strip() for s in systems.split(",") if s.strip()] if systems else None
    with Progress(
        SpinnerColumn(), TextColumn("rendering packets"), TimeElapsedColumn(), console=err_console
    ) as progress:
        progress.add_task("packets", total=None)
        key = build_packets(eval_dir, out, raters=raters, seed=seed, systems=chosen)
    table = Table(title=f"blind packets in {shown(str(out))}")
    for column in ("rater", "folder", "pairs"):
        table.add_column(column)
    for rater, block in key["raters"].items():
        table.add_row(rater, shown(str(out / block["folder"])), str(len(block["pairs"])))
    console.print(table)
    if key["excluded"]:
        console.print(
            f"{len(key['excluded'])} output(s) left out (no screenplay); listed in key.json 'excluded'"
        )
    console.print(f"key (NOT for raters): {shown(str(out / 'key.json'))}", highlight=False)


def import_ratings_command(
    packet_dir: Annotated[Path, typer.Argument(help="the PACKET_DIR written by dsr evaluate packets")],
    sheets: Annotated[list[Path], typer.Argument(help="filled sheet.csv file(s), one per rater")],
    eval_dir: Annotated[
        Path | None, typer.Option("--eval-dir", help="EVAL_DIR to write into (default: the one in key.json)")
    ] = None,
    rater: Annotated[
        str | None, typer.Option("--rater", help="rater id for the records (default: packet id, e.g. R01)")
    ] = None,
) -> None:
    """Validate filled sheets, un-blind them and write judgments/ and pairwise/ records for judge human:<rater>."""
    from dsr.evaluation.ratings import import_ratings

    summary = import_ratings(packet_dir, sheets, eval_dir=eval_dir, rater=rater)
    table = Table(title="imported ratings")
    for column in ("judge", "pairs", "rated", "blank", "missing rows", "scripts rated", "scripts unrated"):
        table.add_column(column, justify="right")
    for label, s in summary.items():
        table.add_row(
            f"human:{shown(label)}",
            *(
                str(s[k])
                for k in ("pairs", "rated", "blank", "missing_rows", "scripts_rated", "scripts_unrated")
            ),
        )
    console.print(table)


def _judge_label(role: str) -> str:
    """The same label `dsr evaluate judge` gives this judge, so a report pairs the right calibration."""
    from dsr.evaluation.judging import default_label
    from dsr.models.settings import load_settings

    return default_label(load_settings().role(role))


def calibrate_command(
    out: Annotated[Path | None, typer.Option("-o", "--out", help="calibration JSON file to write")] = None,
    eval_dir: Annotated[
        Path | None,
        typer.Option("--eval-dir", help="write EVAL_DIR/calibration.json (reported beside the evaluation)"),
    ] = None,
    items: Annotated[
        int | None, typer.Option("--items", min=3, max=96, help="first N of HANNA's 96 stories")
    ] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, max=20, help="judge samples per story")] = 1,
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="bootstrap seed")] = 0,
    max_words: Annotated[
        int | None, typer.Option("--max-words", min=20, help="cut stories to their first N words (recorded)")
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="judge requests in flight")
    ] = 1,
    max_repairs: Annotated[
        int, typer.Option("--max-repairs", min=0, max=5, help="JSON repair turns per judge call")
    ] = 1,
    role: Annotated[str, typer.Option("--role", help="model role used as the judge")] = "judge",
) -> None:
    """Agreement of the judge with human ratings on HANNA (Spearman, pairwise accuracy, per criterion)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dsr.common.fsutil import refuse_directory, write_json
    from dsr.evaluation.calibration import calibrate
    from dsr.models.factory import get_chat_model

    if out is None and eval_dir is None:
        raise BadInput("say where to write: -o FILE or --eval-dir EVAL_DIR")
    if eval_dir is not None and not eval_dir.is_dir():
        raise BadInput(f"{eval_dir}: evaluation directory not found")
    if out is not None:
        refuse_directory(out)
    target = out or eval_dir / "calibration.json"  # type: ignore[operator]
    model = get_chat_model(role)
    progress = Progress(
        TextColumn("judging HANNA stories"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    )
    task = progress.add_task("stories", total=items or 96)
    with progress:
        result = calibrate(
            model,
            judge_label=_judge_label(role),
            items=items,
            samples=samples,
            max_words=max_words,
            seed=seed,
            concurrency=concurrency,
            max_repairs=max_repairs,
            on_done=lambda: progress.advance(task),
        )
    write_json(target, result)
    table = Table(title=f"judge calibration: {shown(result['judge'])} on {result['n_items']} HANNA stories")
    table.add_column("measure")
    table.add_column("value [95% CI]", justify="right")
    table.add_column("n", justify="right")

    def fmt(block: dict) -> str:
        if block.get("value") is None:
            return "n/a"
        ci = block.get("ci")
        return f"{block['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

    table.add_row("Spearman rho", fmt(result["spearman"]), str(result["spearman"]["n"]))
    table.add_row(
        "pairwise accuracy",
        fmt(result["pairwise_accuracy"]),
        f"{result['pairwise_accuracy']['n_pairs']} pairs",
    )
    for name, block in result["per_criterion"].items():
        table.add_row(f"rho vs {name}", fmt(block), str(block["n"]))
    table.add_row("failed stories", str(result["n_failed"]), str(result["n_items"]))
    console.print(table)
    console.print(shown(result["note"]), highlight=False)
    console.print(f"written: {shown(str(target))}", highlight=False)
    if result["n_failed"] == result["n_items"]:
        err_console.print(
            f"warning: the judge failed on every story; first reason: {json.dumps(result['items'][0]['reason'])}",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    """Adds this module's commands to ``app``."""
    app.command("packets")(packets_command)
    app.command("import-ratings")(import_ratings_command)
    app.command("calibrate")(calibrate_command)
