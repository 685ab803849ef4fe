"""The model card (``MODEL_DIR/README.md``): base model, data, hyperparameters, metrics, how to use it."""

from __future__ import annotations

import json
from typing import Any


def _metrics_rows(metrics: dict[str, Any]) -> list[str]:
    rows = []
    for when in ("before", "after"):
        m = metrics.get(when) or {}
        rows.append(
            f"| {when} training | {m.get('nll', '-')} | {m.get('perplexity', '-')} | {m.get('tokens', '-')} |"
        )
    return rows


_TASK = {
    1: (
        "Stage 1 novelist",
        "map a scene's task input X to creative directives and screenplay-oriented prose: "
        "`<directives>{json}</directives>` then `<novel>...</novel>`",
    ),
    2: (
        "Stage 2 screenwriter",
        "turn a scene's prose N (with the names and heading X implies) into a Fountain screenplay scene",
    ),
}
_METHOD = {
    "sft": "TRL SFTTrainer, loss on the target only",
    "dpo": "TRL DPOTrainer on (best, worst) samples ranked by the critic's verdict",
    "grpo": "TRL GRPOTrainer with the critic's verdict as the reward",
}


def _reward_lines(metrics: dict[str, Any]) -> list[str]:
    """The critic-reward section: what was sampled and rewarded, and the reward of the final samples."""
    reward = metrics.get("reward") or {}
    lines = []
    if reward:
        lines += [
            "",
            "## Critic reward",
            "",
            "The reward is the critic's verdict on a sampled answer (its deterministic checks, weighted as the",
            "critic weighs them, plus the rubric judge's score where one was configured).",
            "",
            f"Rewards of the samples trained on: `{json.dumps(reward.get('sampled'))}`.",
        ]
        if "pairs" in reward:
            lines.append(f"Preference pairs: {reward['pairs']} from {reward['prompts']} prompts.")
        if reward.get("per_step"):
            lines.append(f"Mean reward per logged step: `{json.dumps(reward['per_step'])}`.")
    if metrics.get("samples_reward"):
        lines.append(
            f"Critic reward of the generated samples after training: `{json.dumps(metrics['samples_reward'])}`."
        )
    return lines


def _nll_lines(metrics: dict[str, Any]) -> list[str]:
    if "before" not in metrics:
        return []
    return [
        f"Mean negative log-likelihood on target tokens of the `{metrics['eval_split']}` split.",
        *([f"**Note:** {metrics['note']}"] if metrics.get("note") else []),
        "",
        "| | NLL | perplexity | target tokens |",
        "|---|---|---|---|",
        *_metrics_rows(metrics),
        "",
        f"Training: {metrics.get('train_target_tokens', 0):,} target tokens, "
        f"{metrics.get('target_tokens_per_s', 0)} target tokens/s, {metrics.get('train_seconds', 0)} s. "
        "Per-step loss, learning rate and throughput are in `train_log.jsonl`.",
    ]


def _use_lines(record: dict[str, Any], lora: bool) -> list[str]:
    cfg = record["config"]
    stage = record.get("stage", 1)
    role = "NOVELIST" if stage == 1 else "SCREENWRITER"
    name = f"stage{stage}"
    prompt_env = f"  DSR_{role}__PROMPT=stage1 " if stage == 1 else "  "
    model = (
        f"DSR_{role}__PROVIDER=hf DSR_{role}__MODEL={record['base']} DSR_{role}__ADAPTER=<this directory> \\"
        if lora
        else f"DSR_{role}__PROVIDER=hf DSR_{role}__MODEL=<this directory> \\"
    )
    return [
        "## Use",
        "",
        f"In-process (`hf` provider), with the prompt it was trained on (`prompts/{record['prompt']}.md`):",
        "",
        "```bash",
        model,
        f"{prompt_env}dsr write episode.yaml -o runs/ep1",
        "```",
        "",
        "Served by vLLM:",
        "",
        "```bash",
        f"vllm serve {record['base']} --enable-lora --lora-modules {name}=<this directory> --max-lora-rank {cfg['lora_r']}"
        if lora
        else f"vllm serve <this directory> --served-model-name {name}",
        f"DSR_{role}__PROVIDER=openai DSR_{role}__BASE_URL=http://127.0.0.1:8000/v1 DSR_{role}__MODEL={name} \\",
        f"{prompt_env}dsr write episode.yaml -o runs/ep1",
        "```",
        "",
    ]


def model_card(record: dict[str, Any], datasheet: dict[str, Any], samples: list[dict[str, Any]]) -> str:
    """Markdown with Hugging Face front matter; ``record`` is what ``dsr.training.json`` holds."""
    cfg = record["config"]
    lora = cfg["method"] == "lora"
    metrics = record["metrics"]
    splits = datasheet.get("splits") or record["data"]["rows"]
    licences = datasheet.get("licences") or {}
    stage = record.get("stage", 1)
    objective = record.get("objective", "sft")
    title, task = _TASK[stage]
    lines = [
        "---",
        f"base_model: {record['base']}",
        f"library_name: {'peft' if lora else 'transformers'}",
        "pipeline_tag: text-generation",
        f"tags: [dsr-screenwriter, stage{stage}, {objective}, trl]",
        "---",
        "",
        f"# DSR {title}",
        "",
        f"Trained with `dsr train --stage {stage} --method {objective}` ({_METHOD[objective]}) to {task},",
        f"prompted with `prompts/{record['prompt']}.md` (version {record['prompt_version']}), which inference",
        "must use as well." + (f" Started from `{record['init_from']}`." if record.get("init_from") else ""),
        "",
        "## Base model",
        "",
        f"`{record['base']}`, {'LoRA adapter (not merged)' if lora else 'full fine-tuning'}.",
        "",
        "## Data",
        "",
        f"`{record['data']['dir']}` (Stage {stage} split of `dsr synthesize`); rows per split: `{json.dumps(splits)}`.",
        f"Data fingerprint: `{json.dumps(record['data']['fingerprint'])}`. "
        + (
            "See `datasheet.md` beside this card."
            if record["data"].get("datasheet")
            else "No datasheet was found."
        ),
        f"Licences of the source screenplays: `{json.dumps(licences)}`." if licences else "",
        "",
        "## Hyperparameters",
        "",
        "| setting | value |",
        "|---|---|",
        *[f"| {k} | `{json.dumps(v)}` |" for k, v in cfg.items()],
        f"| gradient accumulation (derived) | {record['trainer']['gradient_accumulation_steps']} |",
        f"| processes | {record['trainer']['world_size']} |",
        f"| precision | {record['trainer']['precision']} |",
        f"| optimizer steps | {record['trainer']['global_step']} |",
        "",
        "## Metrics",
        "",
        *_nll_lines(metrics),
        *_reward_lines(metrics),
        "",
        f"## Samples\n\n{len(samples)} generated answers to validation prompts are in `samples.jsonl` and `samples.md`.",
        "",
        *_use_lines(record, lora),
    ]
    return "\n".join(line for line in lines if line is not None)
