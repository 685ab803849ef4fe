"""Preference tuning with the critic as the reward: ``dsr train --method dpo|grpo`` (either stage).

The reward of an answer is the critic's verdict on it (training/reward.py: the critic's deterministic
checks, weighted as the critic weighs them, plus the rubric judge's score with ``--judge-reward``).

- **GRPO**: TRL's ``GRPOTrainer`` samples ``num_generations`` answers per prompt from the policy and uses
  :class:`~dsr.training.reward.CriticReward` as its reward function (each row's X, and for Stage 2 its
  prose, reach it as dataset columns).
- **DPO**: ``num_generations`` answers per prompt are sampled through the project's own chat model for the
  role (:func:`dsr.models.factory.build_chat_model` with the ``--from`` adapter, so a faster engine for the
  role serves sampling too), scored, and the best and the worst make a (chosen, rejected) pair when their
  rewards differ; TRL's ``DPOTrainer`` trains on the pairs. With ``--from`` the policy continues that
  run's adapter and the reference is that adapter frozen (TRL copies it); without, a new LoRA on the base
  is trained against the base. The pairs are kept in ``MODEL_DIR/pairs.jsonl``, so a resumed run does not
  sample again.

Both write the same directory as SFT (adapter, tokenizer, card, ``train_log.jsonl`` with the reward per
step, ``dsr.training.json`` last), with the reward statistics in the record.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from dsr.common.errors import BadInput
from dsr.common.fsutil import atomic_write
from dsr.training.config import TrainConfig
from dsr.training.data import Stage1Data
from dsr.training.reward import ROLE_OF_STAGE, CriticReward, reward_stats
from dsr.training.run import (
    LOG_FILE,
    _load_model,
    _load_tokenizer,
    _peft_config,
    _write_outputs,
    common_args,
    fitting_rows,
    run_record,
    score_samples,
)

PAIRS_FILE = "pairs.jsonl"


def _prompt_rows(data: Stage1Data, tokenizer: Any, config: TrainConfig) -> tuple[list[dict[str, Any]], int]:
    """Training rows whose prompt leaves room for a whole sampled answer within ``max_length``."""
    room = config.max_length - config.max_completion_length
    if room < 16:
        raise BadInput(
            f"max_length {config.max_length} leaves no room for a prompt next to max_completion_length "
            f"{config.max_completion_length}; raise max_length or lower max_completion_length"
        )
    rows, dropped = fitting_rows(data.train, tokenizer, room)
    if not rows:
        raise BadInput(
            f"every training prompt is longer than max_length - max_completion_length = {room} tokens; raise max_length"
        )
    return rows, dropped


def sampling_role(base: str, adapter: str | None, config: TrainConfig, cuda: bool) -> Any:
    """The role's chat model that samples DPO answers: the base (and ``--from`` adapter) at the paper's
    sampling settings, without the Fountain grammar (the policy's own answers are what DPO compares)."""
    from dsr.models.factory import build_chat_model
    from dsr.models.settings import RoleConfig, load_settings
    from dsr.models.weights import ensure_embedded_safetensors

    settings = load_settings()
    common = {
        "max_new_tokens": config.max_completion_length,
        "fountain_grammar": False,
        "temperature": 0.7,
        "top_p": 0.9,
    }
    embedded = str(ensure_embedded_safetensors(settings.cache_dir)) == base
    if embedded and not cuda:
        # the embedded engine a run itself would use (ONNX int4 where installed: ~5x transformers' tokens/s
        # on a CPU), with the --from adapter baked in
        cfg = RoleConfig(provider="embedded", adapter=adapter, **common)
    else:
        cfg = RoleConfig(
            provider="hf", model=base, adapter=adapter, device="cuda" if cuda else "cpu", **common
        )
    return build_chat_model(ROLE_OF_STAGE[config.stage], cfg, settings)


def sample_pairs(
    rows: list[dict[str, Any]],
    chat: Any,
    reward: CriticReward,
    config: TrainConfig,
    console: Console,
    log: Any,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """k sampled answers per prompt, scored by the critic; (chosen, rejected) = (best, worst) where they differ."""
    import torch
    from langchain_core.messages import HumanMessage, SystemMessage
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dsr.models.messages import message_text

    torch.manual_seed(config.seed)
    pairs: list[dict[str, Any]] = []
    started = time.perf_counter()
    spread: list[float] = []
    with Progress(
        TextColumn("sampling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("reward {task.fields[reward]}  pairs {task.fields[pairs]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("prompts", total=len(rows), reward="-", pairs=0)
        for row in rows:
            messages = [
                SystemMessage(m["content"]) if m["role"] == "system" else HumanMessage(m["content"])
                for m in row["prompt"]
            ]
            texts = [message_text(chat.invoke(messages)) for _ in range(config.num_generations)]
            rewards = [reward.score(row["x"], t, row.get("prose")).reward for t in texts]
            best, worst = rewards.index(max(rewards)), rewards.index(min(rewards))
            spread.append(max(rewards) - min(rewards))
            if rewards[best] != rewards[worst]:
                pairs.append(
                    {
                        "id": row["id"],
                        "prompt": row["prompt"],
                        "chosen": [{"role": "assistant", "content": texts[best]}],
                        "rejected": [{"role": "assistant", "content": texts[worst]}],
                        "chosen_reward": rewards[best],
                        "rejected_reward": rewards[worst],
                    }
                )
            log({"event": "samples", "step": 0, "id": row["id"], "rewards": rewards, "time": time.time()})
            bar.update(
                task, advance=1, reward=f"{sum(reward.history) / len(reward.history):.2f}", pairs=len(pairs)
            )
    stats = {
        "sampled": reward_stats(reward.history),
        "prompts": len(rows),
        "samples_per_prompt": config.num_generations,
        "pairs": len(pairs),
        "mean_spread": round(sum(spread) / len(spread), 4) if spread else 0.0,
        "sampling_seconds": round(time.perf_counter() - started, 2),
    }
    return pairs, stats


def _dpo_trainer(
    data: Stage1Data,
    model_dir: Path,
    base: str,
    config: TrainConfig,
    console: Console,
    judge: Any,
    progress: Any,
) -> tuple[Any, dict[str, Any]]:
    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    cuda = torch.cuda.is_available()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    tokenizer = _load_tokenizer(base)
    rows, dropped = _prompt_rows(data, tokenizer, config)
    rows = rows[: config.max_prompts] if config.max_prompts else rows
    pairs_file = model_dir / PAIRS_FILE
    if pairs_file.is_file():  # a resumed run trains on the pairs it sampled before
        pairs = [json.loads(line) for line in pairs_file.read_text(encoding="utf-8").splitlines() if line]
        stats = json.loads((model_dir / (PAIRS_FILE + ".json")).read_text(encoding="utf-8"))
    else:
        chat = sampling_role(base, config.init_from, config, cuda)
        reward = CriticReward(stage=config.stage, judge=judge)
        pairs, stats = sample_pairs(rows, chat, reward, config, console, progress.add_event)
        atomic_write(pairs_file, "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))
        atomic_write(model_dir / (PAIRS_FILE + ".json"), json.dumps(stats))
    stats["train_rows_prompt_too_long"] = dropped
    console.print(
        f"critic reward of {stats['sampled'].get('n', 0)} samples: mean {stats['sampled'].get('mean')}, "
        f"{stats['pairs']} preference pairs from {stats['prompts']} prompts",
        highlight=False,
    )
    if not pairs:
        raise BadInput(
            f"the critic gave all {config.num_generations} samples of every prompt the same reward, so there is "
            "no preference pair; raise num_generations or max_completion_length, or use --method grpo"
        )
    args = common_args(config, model_dir, cuda=cuda, world_size=world_size, has_eval=False)
    args = DPOConfig(**args, max_length=config.max_length, beta=0.1 if config.beta is None else config.beta)
    columns = ("prompt", "chosen", "rejected")
    trainer = DPOTrainer(
        model=_load_model(base, config, cuda, world_size),
        ref_model=None,
        args=args,
        train_dataset=Dataset.from_list([{k: p[k] for k in columns} for p in pairs]),
        processing_class=tokenizer,
        peft_config=_peft_config(config),
    )
    return trainer, {"reward": stats}


def _grpo_trainer(
    data: Stage1Data, model_dir: Path, base: str, config: TrainConfig, judge: Any
) -> tuple[Any, dict[str, Any], CriticReward]:
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    cuda = torch.cuda.is_available()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    tokenizer = _load_tokenizer(base)
    rows, dropped = _prompt_rows(data, tokenizer, config)
    rows = rows[: config.max_prompts] if config.max_prompts else rows
    args = common_args(config, model_dir, cuda=cuda, world_size=world_size, has_eval=False)
    # One prompt's group of num_generations answers per micro-batch; global_batch_size counts answers.
    args["per_device_train_batch_size"] = config.num_generations
    args["gradient_accumulation_steps"] = max(
        1, math.ceil(config.global_batch_size / (config.num_generations * world_size))
    )
    grpo = GRPOConfig(
        **args,
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        beta=0.0 if config.beta is None else config.beta,
        temperature=1.0,
        top_p=1.0,
    )
    reward = CriticReward(stage=config.stage, judge=judge)
    columns = ["prompt", "x"] + (["prose"] if config.stage == 2 else [])
    trainer = GRPOTrainer(
        model=_load_model(base, config, cuda, world_size),
        reward_funcs=reward,
        args=grpo,
        train_dataset=Dataset.from_list([{k: r[k] for k in columns} for r in rows]),
        processing_class=tokenizer,
        peft_config=_peft_config(config),
    )
    return trainer, {"reward": {"prompts": len(rows), "train_rows_prompt_too_long": dropped}}, reward


def train_preference(
    data: Stage1Data,
    data_dir: Path,
    model_dir: Path,
    base: str,
    config: TrainConfig,
    resume: str | None,
    console: Console,
    judge: Any = None,
) -> dict[str, Any]:
    """DPO or GRPO for ``config.stage`` with the critic's reward; returns the ``dsr.training.json`` record."""
    from datasets.utils.logging import disable_progress_bar
    from transformers import PrinterCallback

    from dsr.training.evaluate import generate_samples
    from dsr.training.progress import TokenCounter, TrainProgress

    disable_progress_bar()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    progress = TrainProgress(TokenCounter(), model_dir / LOG_FILE, console, world_size)
    grpo_reward = None
    if config.objective == "dpo":
        trainer, metrics = _dpo_trainer(data, model_dir, base, config, console, judge, progress)
    else:
        trainer, metrics, grpo_reward = _grpo_trainer(data, model_dir, base, config, judge)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(progress)
    if resume:
        console.print(f"resuming from {resume}")
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - started
    if grpo_reward is not None:
        metrics["reward"]["sampled"] = reward_stats(grpo_reward.history)
    steps = [e for e in progress.events if "loss" in e]
    metrics["reward"]["per_step"] = [e["reward"] for e in steps if "reward" in e]
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
    if not trainer.is_world_process_zero():
        return {}
    trainer.processing_class.save_pretrained(str(model_dir))
    global_step = max(trainer.state.global_step, 1)
    metrics |= {
        "train_loss": round(float(result.training_loss), 5),
        "train_seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / global_step, 2),
        **score_samples(samples, sample_rows, config, judge),
    }
    record = run_record(config, base, data, data_dir, trainer, world_size, resume, metrics)
    _write_outputs(model_dir, record, data, samples)
    return record
