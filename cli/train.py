"""``dsr train DATA_DIR -o MODEL_DIR``: Stage 1 or Stage 2 on synthesized data, by SFT (DSR-SPEC 7) or by
preference tuning with the critic as the reward (``--method dpo|grpo``)."""

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
    stage: Annotated[
        int | None,
        typer.Option(
            "--stage",
            min=1,
            max=2,
            help="1: X -> directives + prose (novelist); 2: prose + X -> Fountain (screenwriter). Default: config, else 1",
        ),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="sft, or preference tuning with the critic's verdict as the reward: dpo or grpo (default: config, else sft)",
        ),
    ] = None,
    init_from: Annotated[
        str | None,
        typer.Option(
            "--from", help="a finished LoRA run of this stage to start from (dpo/grpo: the SFT model)"
        ),
    ] = None,
    judge_reward: Annotated[
        bool,
        typer.Option(
            "--judge-reward",
            help="add the rubric judge's score (the critic role's model; configure a capable one) to the reward",
        ),
    ] = False,
    merge: Annotated[
        bool,
        typer.Option(
            "--merge", help="also write MODEL_DIR/merged: the adapter merged into the base (see dsr export)"
        ),
    ] = False,
) -> None:
    """Fine-tune the Stage 1 model (X -> directives + prose) or the Stage 2 model (prose -> Fountain) with TRL:
    SFT (loss on the assistant target only), or DPO / GRPO with the critic's verdict as the reward."""
    from dsr.common.fsutil import prepare_output_dir
    from dsr.models.settings import load_settings
    from dsr.models.weights import TRAIN_MARKER, TRAIN_RUN
    from dsr.training.config import resolve_config
    from dsr.training.run import train

    # Before the base model loads; training refuses to mix a finished or foreign run in MODEL_DIR itself.
    prepare_output_dir(out, [TRAIN_RUN, TRAIN_MARKER], what="training run", can_force=False, create=False)
    from dsr.common.errors import BadInput

    if method is not None and method not in ("sft", "dpo", "grpo"):
        raise BadInput(f"--method {method}: expected sft, dpo or grpo")
    overrides: dict[str, Any] = {
        k: v
        for k, v in {"stage": stage, "objective": method, "init_from": init_from}.items()
        if v is not None
    }
    if judge_reward:
        overrides["judge_reward"] = True
    lora_or_full = None if lora is None else ("lora" if lora else "full")
    if lora_or_full is None and overrides.get("objective", "sft") != "sft":
        lora_or_full = "lora"  # preference tuning trains an adapter
    config = resolve_config(lora_or_full, config_file, **overrides)
    judge = None
    if config.judge_reward:
        from dsr.models.factory import get_chat_model

        judge = get_chat_model("critic")
    record = train(
        data_dir,
        out,
        base=base,
        config=config,
        cache_dir=load_settings().cache_dir,
        console=err_console,
        judge=judge,
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
    stage, objective = record.get("stage", 1), record.get("objective", "sft")
    table = Table(title=f"Stage {stage} {record['method']} {objective}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    if "before" in metrics:
        split = metrics["eval_split"]
        table.add_row(
            f"{split} NLL before / after", f"{metrics['before']['nll']} / {metrics['after']['nll']}"
        )
        table.add_row(
            f"{split} perplexity before / after",
            f"{metrics['before']['perplexity']} / {metrics['after']['perplexity']}",
        )
    reward = metrics.get("reward") or {}
    if reward.get("sampled"):
        sampled = reward["sampled"]
        table.add_row(
            "critic reward of samples (mean ± std)", f"{sampled.get('mean')} ± {sampled.get('std')}"
        )
    if "pairs" in reward:
        table.add_row("preference pairs", str(reward["pairs"]))
    if metrics.get("samples_reward"):
        table.add_row("critic reward after training", str(metrics["samples_reward"].get("mean")))
    table.add_row("optimizer steps", str(record["trainer"]["global_step"]))
    if "target_tokens_per_s" in metrics:
        table.add_row("target tokens / s", str(metrics["target_tokens_per_s"]))
    table.add_row("train seconds", str(metrics["train_seconds"]))
    console.print(table)
    if metrics.get("note"):
        err_console.print(f"warning: {metrics['note']}", markup=False)
    console.print(f"model card: {shown(str(out / 'README.md'))}", highlight=False)


def register(app: typer.Typer, panel: str) -> None:
    app.command("train", rich_help_panel=panel)(train_command)
    app.command("export", rich_help_panel=panel)(export_command)
