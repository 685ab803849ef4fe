"""Training hyperparameters: the paper's defaults, LoRA defaults, and overrides from a YAML or TOML file.

Defaults are DSR-SPEC 7 (B.4.1): full fine-tuning, cosine schedule to 10% of a 5e-6 peak, 10% warmup,
one epoch, global batch 32, AdamW (0.9, 0.95), bf16 where the hardware has it, max length 8,192.
The global batch is kept whatever the number of processes: gradient accumulation is derived from it,
so the same file runs on 8 GPUs (1 x 4 x 8), one GPU (1 x 32) or the CPU.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dsr.common.bounded_yaml import load_yaml
from dsr.common.errors import BadInput

Method = Literal["full", "lora"]
Objective = Literal["sft", "dpo", "grpo"]
CONFIG_DIR = Path(__file__).parent / "configs"

# DSR-SPEC 7 "[ours]" single-GPU deviation: LoRA r=64 on all linear layers at LR 1e-4.
LORA_DEFAULTS: dict[str, Any] = {"learning_rate": 1e-4}


class TrainConfig(BaseModel):
    """Everything that decides what a run computes (stored with the checkpoints to check a resume)."""

    model_config = ConfigDict(extra="forbid")

    method: Method = "full"
    stage: Literal[1, 2] = Field(
        default=1, description="1: X -> directives + prose; 2: prose + X -> Fountain"
    )
    objective: Objective = Field(
        default="sft", description="dsr train --method: sft, or preference tuning with the critic as reward"
    )
    learning_rate: float = Field(default=5e-6, gt=0)
    lr_scheduler: Literal["cosine", "cosine_with_min_lr", "linear", "constant_with_warmup"] = (
        "cosine_with_min_lr"
    )
    min_lr_ratio: float = Field(
        default=0.1, ge=0, le=1, description="cosine_with_min_lr floor, share of peak"
    )
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    num_train_epochs: float = Field(default=1.0, gt=0)
    max_steps: int = Field(default=-1, description="> 0 overrides epochs (smoke runs)")
    global_batch_size: int = Field(default=32, ge=1)
    per_device_batch_size: int = Field(default=1, ge=1)
    adam_beta1: float = Field(default=0.9, ge=0, lt=1)
    adam_beta2: float = Field(default=0.95, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    max_length: int = Field(default=8192, ge=16)
    packing: bool = Field(default=True, description="best-fit-decreasing packing, padding-free")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    gradient_checkpointing: bool | None = Field(default=None, description="None = on for CUDA, off for CPU")
    lora_r: int = Field(default=64, ge=1)
    lora_alpha: int = Field(default=128, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    lora_target_modules: str | list[str] = "all-linear"
    logging_steps: int = Field(default=10, ge=1)
    eval_steps: int = Field(default=200, ge=1)
    save_steps: int = Field(default=200, ge=1)
    save_total_limit: int = Field(default=2, ge=1)
    samples: int = Field(default=3, ge=0, description="validation prompts generated from after training")
    sample_max_new_tokens: int = Field(default=512, ge=1)
    seed: int = 0
    # Preference tuning (objective dpo / grpo): the critic's verdict is the reward (training/reward.py).
    init_from: str | None = Field(
        default=None, description="a finished dsr train LoRA run (same stage and base) to start from (--from)"
    )
    num_generations: int = Field(default=4, ge=2, description="samples per prompt (DPO pairs, GRPO group)")
    max_completion_length: int = Field(default=256, ge=1, description="new tokens per sample")
    beta: float | None = Field(default=None, ge=0, description="KL weight; None: DPO 0.1, GRPO 0.0")
    max_prompts: int | None = Field(default=None, ge=1, description="DPO: prompts sampled (None: all)")
    judge_reward: bool = Field(
        default=False, description="add the rubric judge's score (the critic role's model) to the reward"
    )
    deepspeed: str | None = Field(
        default=None, description="DeepSpeed JSON, e.g. training/configs/deepspeed_zero3.json"
    )

    def grad_accumulation(self, world_size: int) -> int:
        """Accumulation steps that keep ``global_batch_size`` on ``world_size`` processes (at least 1)."""
        return max(1, math.ceil(self.global_batch_size / (self.per_device_batch_size * world_size)))


def read_config_file(path: Path) -> dict[str, Any]:
    """A YAML (.yaml/.yml) or TOML (.toml) mapping; anything else is bad input."""
    if not path.is_file():
        raise BadInput(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in {".yaml", ".yml"}:
            data = load_yaml(text, str(path)) or {}
        else:
            raise BadInput(f"{path}: config must be .yaml, .yml or .toml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0]
        raise BadInput(f"{path}: not valid {path.suffix.lstrip('.').upper()} ({first})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected a mapping of hyperparameters, got {type(data).__name__}")
    return data


def resolve_config(
    method: Method | None = None, config_file: Path | None = None, **overrides: Any
) -> TrainConfig:
    """Defaults for the method, then the file, then explicit overrides (the CLI's --lora/--full wins)."""
    data = read_config_file(config_file) if config_file else {}
    chosen = method or data.get("method") or "full"
    merged = {**(LORA_DEFAULTS if chosen == "lora" else {}), **data, **overrides, "method": chosen}
    try:
        return TrainConfig.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        source = f"{config_file}: " if config_file else ""
        hint = (
            f" (valid keys: {', '.join(TrainConfig.model_fields)})"
            if first["type"] == "extra_forbidden"
            else ""
        )
        raise BadInput(f"{source}'{where}': {first['msg']}{hint}") from None


def fingerprint(config: TrainConfig, base: str, data: dict[str, Any]) -> str:
    """What a resumed run must share with the interrupted one (hyperparameters, base, data)."""
    return json.dumps({"config": config.model_dump(mode="json"), "base": base, "data": data}, sort_keys=True)
