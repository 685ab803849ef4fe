"""``dsr export`` / ``dsr train --merge``: a finished ``dsr train`` LoRA run -> one merged full model directory.

Engines without adapter support (llama.cpp's converter, an ``hf`` role without ``adapter``, vLLM without
``--enable-lora``) need the fine-tuned weights as a plain checkpoint: the base model with the adapter merged
in (``merge_and_unload``), saved as ``model.safetensors`` with ``config.json``, ``generation_config.json``, the
tokenizer and its chat template (``chat_template.jinja`` and in ``tokenizer_config.json``), a model card and
``merged.json`` (where it came from). Written into a staging directory and renamed, so a directory that
exists is complete. A full fine-tuning run already is such a directory; it is copied as it is.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from dsr.common.errors import BadInput
from dsr.common.fsutil import atomic_write, write_json
from dsr.models.weights import TRAIN_MARKER

MERGED_RECORD = "merged.json"
# What a complete merged directory must hold (one weights file or a sharded index).
_REQUIRED = ("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def _finished_run(model_dir: Path) -> dict[str, Any]:
    marker = model_dir / TRAIN_MARKER
    if not model_dir.is_dir():
        raise BadInput(f"{model_dir} is not a directory; give the -o directory of a finished dsr train run")
    if not marker.is_file():
        raise BadInput(
            f"{model_dir} is not a finished dsr train run (no {TRAIN_MARKER}); finish or rerun dsr train"
        )
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{marker} is damaged ({exc}); rerun dsr train") from None


def export_merged(
    model_dir: Path, out: Path, *, base: str | None = None, force: bool = False
) -> dict[str, Any]:
    """Write the merged model of the run in ``model_dir`` to ``out``; returns the ``merged.json`` record.

    ``base`` overrides the base model the run recorded (the same weights moved elsewhere).
    """
    record = _finished_run(model_dir)
    base_path = Path(base or record.get("base") or "").expanduser()
    if not (base_path / "config.json").is_file():
        raise BadInput(f"base model {base_path} not found (no config.json); pass --base with its directory")
    if out.exists() and not (out.is_dir() and (force or not any(out.iterdir()))):
        raise BadInput(f"{out} exists and is not an empty directory; choose another -o or pass --force")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    started = time.perf_counter()
    try:
        info = _write(model_dir, record, base_path, staging)
        info |= {"seconds": round(time.perf_counter() - started, 2), "created": time.time()}
        write_json(staging / MERGED_RECORD, info)
        atomic_write(staging / "README.md", _card(info, record))
        missing = [name for name in _REQUIRED if not (staging / name).is_file()]
        weights = list(staging.glob("*.safetensors"))
        if missing or not weights:
            raise BadInput(
                f"the merged model is incomplete (missing {missing or 'safetensors'}); nothing written"
            )
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info


def _write(model_dir: Path, record: dict[str, Any], base: Path, target: Path) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dsr.models.weights import quiet_transformers

    quiet_transformers()
    method = record.get("method", "lora")
    source = model_dir if method == "full" else base
    model = AutoModelForCausalLM.from_pretrained(
        str(source), dtype="auto", use_safetensors=True, trust_remote_code=False, local_files_only=True
    )
    if method != "full":
        if not (model_dir / "adapter_config.json").is_file():
            raise BadInput(f"{model_dir} has no adapter_config.json; not a LoRA run")
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(model_dir), is_trainable=False).merge_and_unload()
    with torch.no_grad():
        model.save_pretrained(target, safe_serialization=True)
    # The run's tokenizer: the base's, saved by dsr train with the chat template the model was trained on.
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False, local_files_only=True)
    if not tokenizer.chat_template:
        raise BadInput(f"{model_dir}'s tokenizer has no chat template; the Stage 1 prompt cannot be rendered")
    tokenizer.save_pretrained(target)
    if not (
        target / "chat_template.jinja"
    ).is_file():  # older transformers keep it only in tokenizer_config.json
        atomic_write(target / "chat_template.jinja", tokenizer.chat_template)
    return {
        "from": str(model_dir.resolve()),
        "method": method,
        "base": str(base.resolve()),
        "dtype": str(model.dtype).removeprefix("torch."),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def _card(info: dict[str, Any], record: dict[str, Any]) -> str:
    metrics = record.get("metrics", {})
    after = (metrics.get("after") or {}).get("nll")
    return (
        "---\nlibrary_name: transformers\npipeline_tag: text-generation\n"
        f"base_model: {info['base']}\ntags: [dsr, stage1, merged]\n---\n\n"
        "# DSR Stage 1 model (merged)\n\n"
        f"The `dsr train` {info['method']} run in `{info['from']}` with its adapter merged into the base model "
        f"`{info['base']}` ({info['parameters']:,} parameters, {info['dtype']}). It answers the Stage 1 prompt "
        "(`prompts/stage1.md` with X) with `<directives>{json}</directives>` then `<novel>...</novel>`.\n\n"
        f"Validation NLL on target tokens after training: {after}. See the run's own README.md for data, "
        "hyperparameters and metrics.\n\n"
        "```bash\n"
        "# hf provider, planner + novelist as one model (split decoding)\n"
        "DSR_PLANNER__PROVIDER=hf DSR_PLANNER__MODEL=THIS_DIR DSR_NOVELIST__PROVIDER=hf DSR_NOVELIST__MODEL=THIS_DIR \\\n"
        "  DSR_NOVELIST__PROMPT=stage1 dsr write EPISODE.yaml -o RUN_DIR\n"
        "# vLLM without --enable-lora\n"
        "vllm serve THIS_DIR --served-model-name stage1\n"
        "# llama.cpp\n"
        "python convert_hf_to_gguf.py THIS_DIR --outfile stage1.gguf\n"
        "```\n"
    )
