"""``dsr train DATA_DIR -o MODEL_DIR``: Stage 1 supervised fine-tuning on synthesized data (DSR-SPEC 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dsr.cli.console import console, err_console, shown


def train_command(
    data_dir: Annotated[
        Path, typer.Argument(help="a DATA_DIR written by dsr synthesize (uses its stage1/ splits)")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="MODEL_DIR; rerun with the same one to resume")],
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="base model: local directory or a hub id already in the HF cache (default: embedded SmolLM2)",
        ),
    ] = None,
    lora: Annotated[
        bool | None,
        typer.Option(
            "--lora/--full", help="LoRA adapter or full fine-tuning (default: config file, else full)"
        ),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", help="YAML or TOML hyperparameters, e.g. training/configs/lora_1gpu.yaml"),
    ] = None,
    merge: Annotated[
        bool,
        typer.Option(
            "--merge", help="also write MODEL_DIR/merged: the adapter merged into the base (see dsr export)"
        ),
    ] = False,
) -> None:
    """Fine-tune the Stage 1 model (X -> directives + prose) with TRL; loss on the assistant target only."""
    from dsr.common.fsutil import prepare_output_dir
    from dsr.models.settings import load_settings
    from dsr.models.weights import TRAIN_MARKER, TRAIN_RUN
    from dsr.training.config import resolve_config
    from dsr.training.run import train

    # Before the base model loads; training refuses to mix a finished or foreign run in MODEL_DIR itself.
    prepare_output_dir(out, [TRAIN_RUN, TRAIN_MARKER], what="training run", can_force=False, create=False)
    method = None if lora is None else ("lora" if lora else "full")
    config = resolve_config(method, config_file)
    record = train(
        data_dir, out, base=base, config=config, cache_dir=load_settings().cache_dir, console=err_console
    )
    if record:
        _summary(record, out)
        if merge:
            _export(out, out / MERGED_DIR, None, force=False)


MERGED_DIR = "merged"


def export_command(
    model_dir: Annotated[Path, typer.Argument(help="the -o directory of a finished dsr train run")],
    out: Annotated[Path, typer.Option("-o", "--out", help="the merged model directory to write")],
    base: Annotated[
        str | None, typer.Option("--base", help="the base model's directory, if it moved since training")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing directory")] = False,
) -> None:
    """Merge a LoRA run into its base: one full model directory (safetensors, tokenizer, chat template) for
    vLLM without --enable-lora, the hf provider without adapter, and llama.cpp's converter."""
    _export(model_dir, out, base, force=force)


def _export(model_dir: Path, out: Path, base: str | None, *, force: bool) -> None:
    from dsr.training.export import export_merged

    with err_console.status("merging the adapter into the base model"):
        info = export_merged(model_dir, out, base=base, force=force)
    console.print(
        f"merged model ({info['method']}, {info['parameters']:,} parameters, {info['dtype']}): {shown(str(out))}",
        highlight=False,
    )


def _summary(record: dict[str, Any], out: Path) -> None:
    metrics = record["metrics"]
    table = Table(title=f"Stage 1 {record['method']} fine-tuning")
    table.add_column("measure")
    table.add_column("value", justify="right")
    split = metrics["eval_split"]
    table.add_row(f"{split} NLL before / after", f"{metrics['before']['nll']} / {metrics['after']['nll']}")
    table.add_row(
        f"{split} perplexity before / after",
        f"{metrics['before']['perplexity']} / {metrics['after']['perplexity']}",
    )
    table.add_row("optimizer steps", str(record["trainer"]["global_step"]))
    table.add_row("target tokens / s", str(metrics["target_tokens_per_s"]))
    table.add_row("train seconds", str(metrics["train_seconds"]))
    console.print(table)
    if metrics.get("note"):
        err_console.print(f"warning: {metrics['note']}", markup=False)
    console.print(f"model card: {shown(str(out / 'README.md'))}", highlight=False)


def register(app: typer.Typer, panel: str) -> None:
    app.command("train", rich_help_panel=panel)(train_command)
    app.command("export", rich_help_panel=panel)(export_command)
