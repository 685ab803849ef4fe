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


def model_card(record: dict[str, Any], datasheet: dict[str, Any], samples: list[dict[str, Any]]) -> str:
    """Markdown with Hugging Face front matter; ``record`` is what ``dsr.training.json`` holds."""
    cfg = record["config"]
    lora = cfg["method"] == "lora"
    metrics = record["metrics"]
    splits = datasheet.get("splits") or record["data"]["rows"]
    licences = datasheet.get("licences") or {}
    lines = [
        "---",
        f"base_model: {record['base']}",
        f"library_name: {'peft' if lora else 'transformers'}",
        "pipeline_tag: text-generation",
        "tags: [dsr-screenwriter, stage1, sft, trl]",
        "---",
        "",
        "# DSR Stage 1 novelist",
        "",
        "Fine-tuned with `dsr train` (TRL SFTTrainer) to map a scene's task input X to creative directives and",
        "screenplay-oriented prose: `<directives>{json}</directives>` then `<novel>...</novel>`, prompted with",
        f"`prompts/stage1.md` (version {record['prompt_version']}), which inference must use as well.",
        "",
        "## Base model",
        "",
        f"`{record['base']}`, {'LoRA adapter (not merged)' if lora else 'full fine-tuning'}.",
        "",
        "## Data",
        "",
        f"`{record['data']['dir']}` (Stage 1 split of `dsr synthesize`); rows per split: `{json.dumps(splits)}`.",
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
        f"Mean negative log-likelihood on target tokens (directives + prose) of the `{metrics['eval_split']}` split.",
        *([f"**Note:** {metrics['note']}"] if metrics.get("note") else []),
        "",
        "| | NLL | perplexity | target tokens |",
        "|---|---|---|---|",
        *_metrics_rows(metrics),
        "",
        f"Training: {metrics.get('train_target_tokens', 0):,} target tokens, "
        f"{metrics.get('target_tokens_per_s', 0)} target tokens/s, {metrics.get('train_seconds', 0)} s. "
        "Per-step loss, learning rate and throughput are in `train_log.jsonl`.",
        "",
        f"## Samples\n\n{len(samples)} generated answers to validation prompts are in `samples.jsonl` and `samples.md`.",
        "",
        "## Use",
        "",
        "In-process (`hf` provider), with the Stage 1 prompt:",
        "",
        "```bash",
        *(
            [
                f"DSR_NOVELIST__PROVIDER=hf DSR_NOVELIST__MODEL={record['base']} DSR_NOVELIST__ADAPTER=<this directory> \\"
            ]
            if lora
            else ["DSR_NOVELIST__PROVIDER=hf DSR_NOVELIST__MODEL=<this directory> \\"]
        ),
        "  DSR_NOVELIST__PROMPT=stage1 dsr write episode.yaml -o runs/ep1",
        "```",
        "",
        "Served by vLLM:",
        "",
        "```bash",
        f"vllm serve {record['base']} --enable-lora --lora-modules stage1=<this directory> --max-lora-rank {cfg['lora_r']}"
        if lora
        else "vllm serve <this directory> --served-model-name stage1",
        "DSR_NOVELIST__PROVIDER=openai DSR_NOVELIST__BASE_URL=http://127.0.0.1:8000/v1 DSR_NOVELIST__MODEL=stage1 \\",
        "  DSR_NOVELIST__PROMPT=stage1 dsr write episode.yaml -o runs/ep1",
        "```",
        "",
    ]
    return "\n".join(line for line in lines if line is not None)
