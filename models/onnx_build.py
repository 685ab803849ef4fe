"""Building the embedded model's ONNX Runtime GenAI files on first use, as the GGUF → safetensors conversion is.

ONNX Runtime GenAI's model builder turns a transformers checkpoint (plus, optionally, a PEFT LoRA adapter, whose
A and B matrices it adds to the graph beside the base weights) into an int4 ONNX model in seconds, offline. The
result is cached under ``<cache>/models/onnx/`` in a directory named after what it was built from (the base
directory, the adapter's weights and the precision), so a retrained adapter gets new files and an unchanged one
reuses them. Built once per machine under a file lock, into a staging directory renamed into place: a killed
build leaves nothing that looks finished.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from dsr.models.settings import ConfigError

#: int4 weights with int8 activations (the builder's CPU default): ~80 MB read per token for SmolLM2-135M.
PRECISION = "int4"
_DONE = "genai_config.json"
_BUILDER_ID = (
    "HuggingFaceTB/SmolLM2-135M-Instruct"  # the builder's name for the architecture; weights come from -i
)


def available() -> bool:
    """Whether ONNX Runtime GenAI and its model builder's dependencies are installed."""
    return all(
        importlib.util.find_spec(name) is not None for name in ("onnxruntime_genai", "onnx", "onnx_ir")
    )


def _digest(path: Path) -> str:
    """A content hash of a directory's weight and config files (what the built model depends on)."""
    sha = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.suffix in {".safetensors", ".json"} and file.is_file():
            sha.update(file.name.encode())
            with file.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    sha.update(chunk)
    return sha.hexdigest()[:16]


def built_dir(cache_root: Path, base: Path, adapter: Path | None = None) -> Path:
    """Where the ONNX files for ``base`` (+ ``adapter``) live, named by what they are built from."""
    key = _digest(base) + (f"-lora-{_digest(adapter)}" if adapter else "")
    return cache_root / "models" / "onnx" / f"{base.name}-{PRECISION}-{key}"


def ensure_onnx_model(cache_root: Path, base: Path, adapter: Path | None = None) -> Path:
    """The ONNX Runtime GenAI model directory for ``base`` (+ ``adapter``), built on first use (about 15 s of CPU)."""
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"adapter '{adapter}' is not a saved PEFT adapter (no adapter_config.json)")
    target = built_dir(cache_root, base, adapter)
    if (target / _DONE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / _DONE).is_file():
            _build(base, adapter, target)
    return target


def _build(base: Path, adapter: Path | None, target: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    command = [
        sys.executable,
        "-m",
        "onnxruntime_genai.models.builder",
        "-m",
        _BUILDER_ID,
        "-i",
        str(base),
        "-o",
        str(staging / "model"),
        "-p",
        PRECISION,
        "-e",
        "cpu",
        "-c",
        str(staging / "hf-cache"),
    ]
    if adapter is not None:
        command += ["--extra_options", f"adapter_path={adapter}"]
    # The builder reads the config and tokenizer through transformers: offline, like everything at run time.
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0 or not (staging / "model" / _DONE).is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise ConfigError(
                f"building the ONNX model from {base} failed ({last}); set DSR_EMBEDDED_BACKEND=transformers"
            )
        if target.exists():  # a half-finished earlier build
            shutil.rmtree(target)
        (staging / "model").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
