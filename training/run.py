"""``train``: Stage 1 JSONL -> a fine-tuned model directory that only looks finished when it is.

Order of work: check the data, the base model and the output directory (bad input leaves nothing
behind), write ``train_run.json`` (what this run computes), evaluate the base on the validation split,
train with checkpoints in ``MODEL_DIR/checkpoints`` (a rerun with the same ``-o`` resumes from the last
one), evaluate again, save weights + tokenizer + samples + card, and write ``dsr.training.json`` last. The
``hf`` provider refuses a directory that has ``train_run.json`` but no ``dsr.training.json``.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from dsr import prompts
from dsr.common.errors import BadInput
from dsr.common.fsutil import atomic_write, write_json
from dsr.models.weights import TRAIN_MARKER, TRAIN_RUN
from dsr.training.config import TrainConfig, fingerprint
from dsr.training.data import Stage1Data

CHECKPOINTS = "checkpoints"
LOG_FILE = "train_log.jsonl"
_OOM = re.compile(r"out of memory|can't allocate memory|DefaultCPUAllocator", re.IGNORECASE)


def resolve_base(base: str | None, cache_dir: Path) -> str:
    """A local checkpoint directory for ``base``: a path, a hub id already in the HF cache, or the embedded model."""
    if base is None:
        from dsr.models.weights import ensure_embedded_safetensors

        return str(ensure_embedded_safetensors(cache_dir))
    local = Path(base).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise BadInput(f"--base {base}: not a transformers checkpoint directory (no config.json)")
        return str(local.resolve())
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return snapshot_download(base, local_files_only=True)
    except (LocalEntryNotFoundError, HFValidationError, OSError):
        raise BadInput(
            f"--base {base}: not a local directory and not in the Hugging Face cache (offline); "
            "download it first or pass a local path"
        ) from None


def prepare_model_dir(model_dir: Path, run: dict[str, Any]) -> str | None:
    """Create or reopen ``model_dir``; returns the checkpoint to resume from, if any."""
    if (model_dir / TRAIN_MARKER).exists():
        raise BadInput(f"{model_dir}: already holds a finished model ({TRAIN_MARKER}); choose another -o")
    if model_dir.exists() and not model_dir.is_dir():
        raise BadInput(f"{model_dir}: exists and is not a directory")
    previous = model_dir / TRAIN_RUN
    resume = last_checkpoint(model_dir / CHECKPOINTS)
    if previous.exists():
        if (
            resume
            and json.loads(previous.read_text(encoding="utf-8")).get("fingerprint") != run["fingerprint"]
        ):
            raise BadInput(
                f"{model_dir}: holds an interrupted run with a different base, data or config; "
                "rerun it unchanged to resume, or choose another -o"
            )
    elif model_dir.exists() and any(model_dir.iterdir()):
        raise BadInput(f"{model_dir}: exists and is not empty; choose a new or empty -o")
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{model_dir}: cannot create the output directory ({exc.strerror})") from None
    write_json(previous, run)
    return resume


def last_checkpoint(checkpoints: Path) -> str | None:
    """The newest ``checkpoint-N`` whose trainer state was written (the Trainer writes it last)."""
    found = []
    for path in checkpoints.glob("checkpoint-*"):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
            found.append((int(path.name.rsplit("-", 1)[1]), path))
        except (OSError, ValueError):
            continue  # killed while saving it
    return str(max(found)[1]) if found else None


def _precision(config: TrainConfig, cuda: bool) -> str:
    if config.precision != "auto":
        if config.precision != "fp32" and not cuda:
            raise BadInput(
                f"precision {config.precision} needs a CUDA GPU; use precision: fp32 (or auto) on CPU"
            )
        return config.precision
    if not cuda:
        return "fp32"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def common_args(
    config: TrainConfig, model_dir: Path, *, cuda: bool, world_size: int, has_eval: bool
) -> dict[str, Any]:
    """The TrainingArguments every objective shares (SFT, DPO, GRPO): schedule, optimizer, precision, saving."""
    precision = _precision(config, cuda)
    checkpointing = cuda if config.gradient_checkpointing is None else config.gradient_checkpointing
    scheduler_kwargs = (
        {"min_lr_rate": config.min_lr_ratio} if config.lr_scheduler == "cosine_with_min_lr" else {}
    )
    return {
        "output_dir": str(model_dir / CHECKPOINTS),
        "learning_rate": config.learning_rate,
        "lr_scheduler_type": config.lr_scheduler,
        "lr_scheduler_kwargs": scheduler_kwargs,
        "warmup_steps": config.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps (transformers 5)
        "num_train_epochs": config.num_train_epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.per_device_batch_size,
        "per_device_eval_batch_size": 1,
        "gradient_accumulation_steps": config.grad_accumulation(world_size),
        "adam_beta1": config.adam_beta1,
        "adam_beta2": config.adam_beta2,
        "weight_decay": config.weight_decay,
        "max_grad_norm": config.max_grad_norm,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": not cuda,
        "activation_checkpointing": checkpointing,
        "activation_checkpointing_kwargs": {"use_reentrant": False} if checkpointing else None,
        "logging_steps": config.logging_steps,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": config.eval_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "report_to": "none",
        "seed": config.seed,
        "data_seed": config.seed,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
        "deepspeed": config.deepspeed,
    }


def sft_args(config: TrainConfig, model_dir: Path, *, cuda: bool, world_size: int, has_eval: bool) -> Any:
    """The TRL ``SFTConfig`` for ``config`` (CUDA: mixed precision and gradient checkpointing by default)."""
    from trl import SFTConfig

    return SFTConfig(
        **common_args(config, model_dir, cuda=cuda, world_size=world_size, has_eval=has_eval),
        max_length=config.max_length,
        packing=config.packing,
        packing_strategy="bfd",
        eval_packing=False,
        completion_only_loss=True,
    )


def _load_tokenizer(base: str) -> Any:
    from transformers import AutoTokenizer

    from dsr.models.weights import quiet_transformers

    quiet_transformers()
    return AutoTokenizer.from_pretrained(base, trust_remote_code=False, local_files_only=True)


def _load_model(base: str, config: TrainConfig, cuda: bool, world_size: int) -> Any:
    """Loaded after the trainer's config exists: under ZeRO-3 that config makes ``from_pretrained`` shard the
    weights. With ``init_from`` the model is the base plus that run's adapter, trainable (no new adapter)."""
    import torch
    from transformers import AutoModelForCausalLM

    # LoRA keeps the frozen base in the compute dtype; full fine-tuning keeps fp32 master weights.
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(_precision(config, cuda), torch.float32)
    single_gpu = cuda and world_size == 1 and not config.deepspeed
    model = AutoModelForCausalLM.from_pretrained(
        base,
        dtype=dtype if config.method == "lora" else torch.float32,
        use_safetensors=True,
        trust_remote_code=False,
        local_files_only=True,
        # one GPU: place it directly; several: accelerate/DeepSpeed place (and ZeRO-3 shards) it
        device_map={"": torch.cuda.current_device()} if single_gpu else None,
    )
    if config.init_from:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, config.init_from, is_trainable=True)
    return model


def _peft_config(config: TrainConfig) -> Any:
    """A new LoRA adapter for ``--lora``; none for full fine-tuning or when continuing ``init_from``'s."""
    if config.method != "lora" or config.init_from:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def resolve_init(init_from: str | None, stage: int, base: str | None) -> tuple[str | None, str | None]:
    """(adapter directory, its base) of ``--from``: a finished ``dsr train`` LoRA run of the same stage; the
    base defaults to the one it was trained on, and another ``--base`` is refused."""
    if init_from is None:
        return None, base
    from dsr.models.weights import TRAIN_MARKER

    directory = Path(init_from).expanduser()
    marker = directory / TRAIN_MARKER
    if not marker.is_file():
        raise BadInput(f"--from {init_from}: not a finished dsr train run (no {TRAIN_MARKER})")
    record = json.loads(marker.read_text(encoding="utf-8"))
    if record.get("method") != "lora":
        raise BadInput(f"--from {init_from}: a {record.get('method')} run; --from takes a LoRA run")
    if int(record.get("stage", 1)) != stage:
        raise BadInput(f"--from {init_from}: trained for Stage {record.get('stage', 1)}, not Stage {stage}")
    trained_on = str(record.get("base"))
    if base is not None and resolve_base(base, Path()) != trained_on:
        raise BadInput(f"--from {init_from}: its adapter belongs to {trained_on}, not --base {base}")
    return str(directory.resolve()), trained_on


@dataclass(frozen=True)
class PreparedTraining:
    """What :func:`build_trainer` sets up: the trainer and what it learnt about the rows on the way."""

    trainer: Any  # training.trainer.CountingSFTTrainer (imported lazily: it pulls in TRL)
    eval_split: str  # "validation", or "train" when no validation row fits max_length
    train_rows_prompt_too_long: int  # training rows dropped: the prompt alone fills max_length

    @property
    def eval_note(self) -> str | None:
        if self.eval_split == "validation":
            return None
        return (
            "no usable validation rows (empty split, or prompts longer than max_length): metrics are on the TRAIN "
            "split and say nothing about generalisation"
        )


def build_trainer(data: Stage1Data, base: str, config: TrainConfig, model_dir: Path) -> PreparedTraining:
    """The SFT trainer on the Stage 1 rows (also used by the tests to inspect the exact batches).

    The trainer's eval dataset is what the NLL before and after training is measured on, tokenized by TRL
    one example per row: the validation rows, or the training rows when no validation row fits (then
    ``eval_strategy`` is "no", so training never evaluates on them).
    """
    import torch
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar
    from transformers import PrinterCallback

    from dsr.training.trainer import CountingSFTTrainer

    disable_progress_bar()  # our own progress display is the only one
    cuda = torch.cuda.is_available()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    tokenizer = _load_tokenizer(base)
    train_rows, dropped = fitting_rows(data.train, tokenizer, config.max_length)
    if not train_rows:
        raise BadInput(
            f"every training prompt is longer than max_length {config.max_length} tokens; raise max_length"
        )
    eval_rows, _ = fitting_rows(data.validation, tokenizer, config.max_length)
    args = sft_args(config, model_dir, cuda=cuda, world_size=world_size, has_eval=bool(eval_rows))
    model = _load_model(base, config, cuda, world_size)
    columns = ("id", "prompt", "completion")
    trainer = CountingSFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list([{k: r[k] for k in columns} for r in train_rows]),
        eval_dataset=Dataset.from_list([{k: r[k] for k in columns} for r in eval_rows or train_rows]),
        processing_class=tokenizer,
        peft_config=_peft_config(config),
    )
    trainer.remove_callback(PrinterCallback)
    return PreparedTraining(trainer, "validation" if eval_rows else "train", dropped)


def fitting_rows(
    rows: list[dict[str, Any]], tokenizer: Any, max_length: int
) -> tuple[list[dict[str, Any]], int]:
    """Rows whose prompt leaves room for target tokens; the others could only be truncated to no target at all."""
    kept = [
        r
        for r in rows
        if len(
            tokenizer.apply_chat_template(
                r["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
        )
        < max_length - 1
    ]
    return kept, len(rows) - len(kept)


def _too_long(rows: Any, max_length: int) -> int:
    return sum(1 for r in rows if len(r["input_ids"]) >= max_length)


def train(
    data_dir: Path,
    model_dir: Path,
    *,
    base: str | None,
    config: TrainConfig,
    cache_dir: Path,
    console: Console,
    judge: Any = None,
) -> dict[str, Any]:
    """Train, evaluate and write ``model_dir``; returns the ``dsr.training.json`` record.

    ``config.stage`` picks the data and prompt (1: X -> directives + prose, 2: prose + X -> Fountain),
    ``config.objective`` the method: SFT, or DPO / GRPO with the critic's verdict as the reward
    (training/preference.py); ``judge`` is the rubric's model when ``config.judge_reward`` is on.
    """
    from dsr.training.data import load_stage

    if config.objective != "sft" and config.method != "lora":
        raise BadInput(f"--method {config.objective} trains a LoRA adapter; use --lora (or method: lora)")
    if config.judge_reward and (config.objective == "sft" or config.stage != 2):
        raise BadInput("--judge-reward scores Stage 2 screenplays for --method dpo or grpo")
    data = load_stage(data_dir, config.stage, with_x=config.objective != "sft")
    _, base = resolve_init(config.init_from, config.stage, base)
    base_path = resolve_base(base, cache_dir)
    if config.deepspeed:
        import importlib.util

        if not Path(config.deepspeed).is_file():
            raise BadInput(
                f"deepspeed config {config.deepspeed} not found (paths are relative to the working directory)"
            )
        if importlib.util.find_spec("deepspeed") is None:
            raise BadInput(
                "the config asks for DeepSpeed, which is not installed; pip install deepspeed on the GPU machine"
            )
    run = {
        "stage": config.stage,
        "objective": config.objective,
        "base": base_path,
        "data_dir": str(data_dir.resolve()),
        "config": config.model_dump(mode="json"),
        "fingerprint": fingerprint(config, base_path, data.fingerprint),
        "started": time.time(),
    }
    resume = prepare_model_dir(model_dir, run)
    try:
        if config.objective == "sft":
            return _train(data, data_dir, model_dir, base_path, config, resume, console)
        from dsr.training.preference import train_preference

        return train_preference(data, data_dir, model_dir, base_path, config, resume, console, judge)
    except (MemoryError, RuntimeError) as exc:
        if isinstance(exc, MemoryError) or _OOM.search(str(exc)):
            raise BadInput(
                f"not enough memory to train {base_path} (max_length {config.max_length}, per-device batch "
                f"{config.per_device_batch_size}); lower them or use --lora; rerunning resumes from {model_dir / CHECKPOINTS}"
            ) from None
        raise


def _train(
    data: Stage1Data,
    data_dir: Path,
    model_dir: Path,
    base: str,
    config: TrainConfig,
    resume: str | None,
    console: Console,
) -> dict[str, Any]:
    import torch

    from dsr.training.evaluate import generate_samples, target_nll
    from dsr.training.progress import TrainProgress

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    prepared = build_trainer(data, base, config, model_dir)
    trainer = prepared.trainer
    progress = TrainProgress(trainer.counter, model_dir / LOG_FILE, console, world_size)
    trainer.add_callback(progress)
    main = trainer.is_world_process_zero()
    eval_rows, eval_split, note = trainer.eval_dataset, prepared.eval_split, prepared.eval_note
    if note and main:
        console.print(f"warning: {note}", style="bold yellow")
    before = target_nll(trainer.model, eval_rows)
    if main:
        console.print(
            f"{eval_split} NLL on target tokens before training: {before['nll']} ({before['tokens']} tokens)"
        )
        if resume:
            console.print(f"resuming from {resume}")
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - started
    after = target_nll(trainer.model, eval_rows)
    sample_rows = (data.validation or data.train)[: config.samples]
    samples = generate_samples(
        trainer.model,
        trainer.processing_class,
        sample_rows,
        max_new_tokens=config.sample_max_new_tokens,
        seed=config.seed,
        synced_gpus=world_size > 1,
    )
    trainer.save_model(str(model_dir))
    if not main:
        return {}
    trainer.processing_class.save_pretrained(str(model_dir))
    metrics = {
        "eval_split": eval_split,
        "note": note,
        "before": before,
        "after": after,
        "train_loss": round(float(result.training_loss), 5),
        "train_seconds": round(seconds, 2),
        "train_target_tokens": trainer.counter.target
        * world_size,  # this session's (after a resume: since it)
        "target_tokens_per_s": round(trainer.counter.target * world_size / max(seconds, 1e-9), 2),
        "train_rows_prompt_too_long": prepared.train_rows_prompt_too_long,
        "eval_rows_truncated": _too_long(eval_rows, config.max_length),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 3)
        if torch.cuda.is_available()
        else None,
    }
    metrics |= score_samples(samples, sample_rows, config)
    record = run_record(config, base, data, data_dir, trainer, world_size, resume, metrics)
    _write_outputs(model_dir, record, data, samples)
    return record


def prompt_of(stage: int) -> str:
    """The prompt file a stage's model is trained and served with."""
    from dsr.story.stage2 import PROMPT

    return "stage1" if stage == 1 else PROMPT


def score_samples(
    samples: list[dict[str, Any]], rows: list[dict[str, Any]], config: TrainConfig, judge: Any = None
) -> dict[str, Any]:
    """The critic's reward of each generated sample (where its row has X), added to the sample; the stats."""
    from dsr.training.reward import CriticReward, reward_stats

    reward = CriticReward(stage=config.stage, judge=judge)
    for sample, row in zip(samples, rows, strict=True):
        if row.get("x"):
            scored = reward.score(row["x"], sample["generated"], row.get("prose"))
            sample |= {"reward": scored.reward, "findings": scored.checks}
    return {"samples_reward": reward_stats(reward.history)} if reward.history else {}


def run_record(
    config: TrainConfig,
    base: str,
    data: Stage1Data,
    data_dir: Path,
    trainer: Any,
    world_size: int,
    resume: str | None,
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """What ``dsr.training.json`` holds (any stage, any method)."""
    import torch

    from dsr.training.reward import ROLE_OF_STAGE

    prompt = prompt_of(config.stage)
    return {
        "base": base,
        "method": config.method,
        "stage": config.stage,
        "objective": config.objective,
        "role": ROLE_OF_STAGE[config.stage],
        "prompt": prompt,
        "prompt_version": prompts.version(prompt),
        "init_from": config.init_from,
        "config": config.model_dump(mode="json"),
        "data": {
            "dir": str(data_dir.resolve()),
            "stage": f"stage{config.stage}",
            "rows": {"train": len(data.train), "validation": len(data.validation)},
            "fingerprint": data.fingerprint,
            "datasheet": data.datasheet_md is not None,
        },
        "trainer": {
            "global_step": trainer.state.global_step,
            "gradient_accumulation_steps": trainer.args.gradient_accumulation_steps,
            "world_size": world_size,
            "precision": _precision(config, torch.cuda.is_available()),
            "resumed_from": resume,
        },
        "metrics": metrics,
    }


def _write_outputs(
    model_dir: Path, record: dict[str, Any], data: Stage1Data, samples: list[dict[str, Any]]
) -> None:
    """Samples, datasheet copy and card, then the marker last: only now does the directory look finished."""
    from dsr.training.card import model_card

    atomic_write(
        model_dir / "samples.jsonl", "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
    )
    atomic_write(
        model_dir / "samples.md",
        "\n\n".join(
            f"## {s['id']}\n\n### generated\n\n{s['generated']}\n\n### reference\n\n{s['reference']}"
            for s in samples
        )
        + "\n",
    )
    if data.datasheet_md is not None:
        atomic_write(model_dir / "datasheet.md", data.datasheet_md)
    atomic_write(model_dir / "README.md", model_card(record, data.datasheet, samples))
    # Optimizer states of a finished run are dead weight (full fine-tuning: three times the model).
    shutil.rmtree(model_dir / CHECKPOINTS, ignore_errors=True)
    write_json(model_dir / TRAIN_MARKER, record)
