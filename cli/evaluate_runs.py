"""``dsr evaluate build-set | run | judge | report | all``: the judge-driven half of an evaluation.

build-set makes a test set with human references; run writes every item with every system (cached,
resumable); judge scores every output on the rubric and compares systems pairwise in both orders;
report computes metrics.json and renders the Markdown/HTML/plots report. ``all`` = run, judge, report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dsr.cli.console import console, err_console, shown
from dsr.cli.synthesize import MAX_SEED
from dsr.common.errors import BadInput

SystemOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--system", help="NAME or NAME=MODE (mode: dsr, dsr-nocot, e2e); repeatable; default dsr and e2e"
    ),
]
SystemsFileOpt = Annotated[
    Path | None, typer.Option("--systems", help="YAML/TOML file of systems with per-role model settings")
]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="only the first N items of the set")]
RetriesOpt = Annotated[int, typer.Option("--max-retries", min=0, max=10, help="critic reruns per stage")]
NoRubricOpt = Annotated[
    bool, typer.Option("--no-rubric", help="the systems' critic runs deterministic checks only")
]
SamplesOpt = Annotated[
    int, typer.Option("--samples", min=1, max=20, help="judge samples per output (variance)")
]
PairwiseOpt = Annotated[bool, typer.Option("--pairwise/--no-pairwise", help="pairwise judging, both orders")]
PairHumanOpt = Annotated[
    bool, typer.Option("--pairwise-human", help="also compare every system with the human scene")
]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", min=1, max=64, help="judge calls in flight")]
LabelOpt = Annotated[str | None, typer.Option("--label", help="judge label (default: <provider>-<model>)")]
RepairsOpt = Annotated[
    int, typer.Option("--max-repairs", min=0, max=5, help="JSON repair turns per judge call")
]
JudgeOpt = Annotated[
    str | None, typer.Option("--judge", help="which LLM judge's records to report (when several)")
]
PartialOpt = Annotated[
    bool, typer.Option("--allow-partial", help="restrict every figure to the items all systems have")
]
ForceOpt = Annotated[
    bool,
    typer.Option("--force", help="write into -o even when it holds files that are not this command's output"),
]


def _progress(label: str) -> Progress:
    return Progress(
        TextColumn(label),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


def build_set_command(
    corpus_dir: Annotated[
        Path | None, typer.Argument(help="folder of Fountain/FDX screenplays (omit with --from-synthesis)")
    ] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="SET_DIR to write")] = None,
    teacher: Annotated[
        str, typer.Option("--teacher", help="model role used for reverse synthesis")
    ] = "teacher",
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=256, help="teacher requests in flight")
    ] = 4,
    limit: LimitOpt = None,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=MAX_SEED, help="sampling seed (part of every cache key)")
    ] = 0,
    max_repairs: Annotated[
        int, typer.Option("--max-repairs", min=0, max=5, help="JSON repair turns per call")
    ] = 1,
    from_synthesis: Annotated[
        Path | None,
        typer.Option("--from-synthesis", help="DATA_DIR of `dsr synthesize`: take its examples instead"),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="with --from-synthesis: the split to take")] = "test",
    force: ForceOpt = False,
) -> None:
    """A test set: X by reverse synthesis from real scenes, the original scene as the human reference S*.

    Exits 0 even when no scene survives (the summary says so loudly and set.json lists every reason).
    """
    from dsr.common.fsutil import prepare_output_dir
    from dsr.evaluation import records
    from dsr.evaluation.items import CACHE_FILE, build_from_corpus, build_from_synthesis

    if out is None:
        raise BadInput("give the output test set directory with -o SET_DIR")
    if (corpus_dir is None) == (from_synthesis is None):
        raise BadInput("give either CORPUS_DIR or --from-synthesis DATA_DIR (exactly one)")
    # A killed reverse synthesis has only its cache; rerunning into it resumes from the cache.
    markers = [records.set_manifest_path(out).name, CACHE_FILE]
    if from_synthesis is not None:
        if not from_synthesis.is_dir():
            raise BadInput(f"{from_synthesis}: synthesis output directory not found")
        prepare_output_dir(out, markers, what="test set", force=force)
        manifest = build_from_synthesis(from_synthesis, out, split=split, limit=limit)
    else:
        from dsr.models.settings import load_settings
        from dsr.synthesis.teacher import build_teacher

        assert corpus_dir is not None
        if not corpus_dir.is_dir():
            raise BadInput(
                f"{corpus_dir}: {'is not a directory' if corpus_dir.exists() else 'corpus directory not found'}"
            )
        settings = load_settings()
        settings.role(teacher)
        from dsr.models.factory import validate_role

        validate_role(teacher, settings)
        prepare_output_dir(out, markers, what="test set", force=force)
        with _progress("reverse synthesis") as progress:
            task = progress.add_task("scenes", total=None)
            manifest = build_from_corpus(
                corpus_dir,
                out,
                lambda cache: build_teacher(
                    teacher,
                    cache,
                    concurrency=concurrency,
                    seed=seed,
                    max_repairs=max_repairs,
                    settings=settings,
                ),
                limit=limit,
                on_start=lambda total: progress.update(task, total=total),
                on_done=lambda: progress.advance(task),
            )
    _set_summary(manifest, out)


def _set_summary(manifest: dict[str, Any], out: Path) -> None:
    table = Table(title=f"test set {shown(str(out))}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in manifest["counts"].items():
        table.add_row(key.replace("_", " "), str(value))
    for reason, n in list(manifest["rejections_by_reason"].items())[:8]:
        table.add_row(f"rejected: {shown(reason)}", str(n))
    console.print(table)
    if manifest["counts"]["items"] == 0:
        err_console.print(
            f"WARNING: the test set has 0 items; every scene was rejected (reasons in {out / 'set.json'}). "
            "Point the teacher role at a stronger model (DSR_TEACHER__PROVIDER=openai ...).",
            markup=False,
        )
    else:
        console.print(
            f"wrote {manifest['counts']['items']} items to {shown(str(out / 'items.jsonl'))}",
            highlight=False,
        )


def _systems(system: list[str] | None, systems_file: Path | None, no_rubric: bool) -> list[Any]:
    from dsr.evaluation.runs import load_systems_file, parse_system_option, unique_systems

    chosen = [parse_system_option(s, rubric=not no_rubric) for s in system or []]
    if systems_file is not None:
        chosen += load_systems_file(systems_file, rubric=not no_rubric)
    if not chosen:
        chosen = [
            parse_system_option("dsr", rubric=not no_rubric),
            parse_system_option("e2e", rubric=not no_rubric),
        ]
    return unique_systems(chosen)


def _do_run(
    set_dir: Path, out: Path, chosen: list[Any], limit: int | None, max_retries: int, force: bool
) -> None:
    from dsr.common.fsutil import prepare_output_dir
    from dsr.evaluation import records
    from dsr.evaluation.runs import run_systems

    items = records.read_items(set_dir)
    prepare_output_dir(out, [records.eval_config_path(out).name], what="evaluation", force=force)
    total = len(items[:limit] if limit else items) * len(chosen)
    with _progress("runs") as progress:
        task = progress.add_task("", total=total)

        def on_item(system: str, item: str, status: str) -> None:
            progress.update(task, description=f"{system} / {item}: {status}")
            progress.advance(task)

        summary = run_systems(set_dir, out, chosen, limit=limit, max_retries=max_retries, on_item=on_item)
    table = Table(title=f"runs in {shown(str(out))}")
    for column in ("system", "new", "cached", "failed"):
        table.add_column(column, justify="right")
    for name, counts in summary.items():
        table.add_row(shown(name), str(counts["done"]), str(counts["cached"]), str(counts["failed"]))
    console.print(table)
    if any(c["failed"] for c in summary.values()):
        err_console.print(
            f"some items failed (reasons in {out}/outputs/<system>.jsonl); rerun the same command to retry them",
            markup=False,
        )


def run_command(
    set_dir: Annotated[Path, typer.Argument(help="a SET_DIR from `dsr evaluate build-set`")],
    out: Annotated[Path, typer.Option("-o", "--out", help="EVAL_DIR (created, or resumed when it exists)")],
    system: SystemOpt = None,
    systems_file: SystemsFileOpt = None,
    limit: LimitOpt = None,
    max_retries: RetriesOpt = 2,
    no_rubric: NoRubricOpt = False,
    force: ForceOpt = False,
) -> None:
    """Write every test item with every system; a rerun skips finished items and resumes unfinished ones."""
    _do_run(set_dir, out, _systems(system, systems_file, no_rubric), limit, max_retries, force)


def _do_judge(
    eval_dir: Path,
    samples: int,
    pairwise: bool,
    pairwise_human: bool,
    concurrency: int,
    label: str | None,
    retry_failed: bool,
    max_repairs: int,
) -> str:
    from dsr.evaluation.judging import judge_eval

    with _progress("judging") as progress:
        task = progress.add_task("", total=None)
        summary = judge_eval(
            eval_dir,
            samples=samples,
            pairwise=pairwise,
            pairwise_human=pairwise_human,
            concurrency=concurrency,
            label=label,
            retry_failed=retry_failed,
            max_repairs=max_repairs,
            on_start=lambda total, cached: progress.update(
                task, total=total, completed=cached, description=f"{cached} cached"
            ),
            on_done=lambda: progress.advance(task),
        )
    console.print(
        f"judge {summary['label']}: {summary['judged']} new judgments, {summary['cached']} cached; "
        f"scores {summary['scores'] - summary['scores_failed']} of {summary['scores']} usable, "
        f"pairwise {summary['pairs'] - summary['pairs_failed']} of {summary['pairs']} usable",
        highlight=False,
    )
    return summary["label"]


def judge_command(
    eval_dir: Annotated[Path, typer.Argument(help="an EVAL_DIR from `dsr evaluate run`")],
    samples: SamplesOpt = 3,
    pairwise: PairwiseOpt = True,
    pairwise_human: PairHumanOpt = False,
    concurrency: ConcurrencyOpt = 1,
    label: LabelOpt = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="ask again where the judge's answer was unusable")
    ] = False,
    max_repairs: RepairsOpt = 1,
) -> None:
    """Score every output on the 12-point rubric (role `judge`) and compare systems pairwise; cached."""
    _do_judge(eval_dir, samples, pairwise, pairwise_human, concurrency, label, retry_failed, max_repairs)


def _do_report(eval_dir: Path, judge: str | None, allow_partial: bool) -> None:
    from dsr.evaluation import records
    from dsr.evaluation.metrics import compute_metrics
    from dsr.evaluation.report import write_report

    metrics = compute_metrics(eval_dir, judge=judge, allow_partial=allow_partial)
    records.write_metrics(eval_dir, metrics)
    paths = write_report(eval_dir, metrics)
    table = Table(title=f"Table 1 ({metrics['items']} items; judge {metrics['judge'] or 'none'})")
    for column in ("system", "score", "Δ", "var", "ratio to human %", "win %", "scored / items"):
        table.add_column(column, justify="right")

    def show(value: Any) -> str:
        return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)

    for row in metrics["table1"]:
        table.add_row(
            shown(row["system"]),
            show(row["score"]),
            show(row["delta_vs_baseline"]),
            show(row["var"]),
            show(row["ratio_to_human_pct"]),
            show(row["win_pct"]),
            f"{row['n_scored']} / {row['n_items']}",
        )
    console.print(table)
    for note in metrics["coverage_notes"]:
        err_console.print(f"note: {note}", markup=False)
    console.print(
        f"wrote {records.metrics_path(eval_dir)} and " + ", ".join(str(p) for p in paths.values()),
        highlight=False,
    )


def report_command(
    eval_dir: Annotated[Path, typer.Argument(help="an EVAL_DIR (runs and judgments)")],
    judge: JudgeOpt = None,
    allow_partial: PartialOpt = False,
) -> None:
    """metrics.json (Table 1, ablation, judge-free metrics, CIs) and report.md / report.html / plots."""
    _do_report(eval_dir, judge, allow_partial)


def all_command(
    set_dir: Annotated[Path, typer.Argument(help="a SET_DIR from `dsr evaluate build-set`")],
    out: Annotated[Path, typer.Option("-o", "--out", help="EVAL_DIR")],
    system: SystemOpt = None,
    systems_file: SystemsFileOpt = None,
    limit: LimitOpt = None,
    max_retries: RetriesOpt = 2,
    no_rubric: NoRubricOpt = False,
    samples: SamplesOpt = 3,
    pairwise: PairwiseOpt = True,
    pairwise_human: PairHumanOpt = False,
    concurrency: ConcurrencyOpt = 1,
    label: LabelOpt = None,
    max_repairs: RepairsOpt = 1,
    allow_partial: PartialOpt = False,
    force: ForceOpt = False,
) -> None:
    """run, then judge, then report, with the same options."""
    _do_run(set_dir, out, _systems(system, systems_file, no_rubric), limit, max_retries, force)
    used = _do_judge(out, samples, pairwise, pairwise_human, concurrency, label, False, max_repairs)
    _do_report(out, used, allow_partial)


def register(app: typer.Typer) -> None:
    """Adds this module's commands to ``app``."""
    app.command("build-set")(build_set_command)
    app.command("run")(run_command)
    app.command("judge")(judge_command)
    app.command("report")(report_command)
    app.command("all")(all_command)
