"""Stage 1 training throughput on CPU with the embedded SmolLM2-135M: packing vs padded batches.

Data: the real synthesis pipeline on ``data/corpus`` with the tests' rule-based teacher (6 train
rows, 525-2,282 tokens). Both variants train the same LoRA smoke configuration for the same number of
optimizer steps, 2 rows of at most ``max_length`` tokens per step: ``packed`` = rows filled by
best-fit-decreasing packing, flattened padding-free (TRL ``packing=True``); ``padded`` = one example per
row, padded to the longer of the two. Packing only helps when ``max_length`` is well above the typical
example, as with the paper's 8,192, hence the default of 2,400 (the longest example fits). Each variant runs in its
own process so its peak memory (max RSS, and CUDA peak where there is a GPU) is its own. Reports target
tokens/s (the tokens the loss is computed on), all tokens/s, seconds per step and peak memory.

Measured on the 2-core box (2026-11-23, other jobs running): padded 29.7, packed 27.5 target tokens/s
(0.93x), peak RSS 19.9 / 21.1 GB: on CPU packing saves padding but not time (probably because packed rows
need a block-diagonal mask instead of SDPA's plain causal path; not profiled); its payoff is on GPUs with varlen attention
kernels at the paper's 8,192 tokens. Use ``--max-length 1024`` on a machine with less than 24 GB.

Usage: ``.venv/bin/python benchmarks/train.py [--steps 3] [--max-length 2400]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def variant(name: str, steps: int, max_length: int) -> dict:
    """Train one variant in this process; returns its measurements."""
    import torch

    from dsr.models.settings import load_settings
    from dsr.synthesis.pipeline import synthesize
    from dsr.training.config import resolve_config
    from dsr.training.data import load_stage1
    from dsr.training.run import build_trainer, resolve_base
    from tests.test_synthesis import scripted_factory

    packed = name == "packed"
    with tempfile.TemporaryDirectory() as tmp:
        synthesize(ROOT / "data" / "corpus", Path(tmp) / "data", scripted_factory())
        config = resolve_config(
            "lora",
            None,
            max_steps=steps,
            max_length=max_length,
            packing=packed,
            per_device_batch_size=2,
            global_batch_size=2,
            learning_rate=5e-4,
            lr_scheduler="constant_with_warmup",
            precision="fp32",
            gradient_checkpointing=False,
            lora_r=16,
            lora_alpha=32,
            save_steps=10_000,
            eval_steps=10_000,
        )
        base = resolve_base(None, load_settings().cache_dir)
        trainer = build_trainer(load_stage1(Path(tmp) / "data"), base, config, Path(tmp) / "model").trainer
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    return {
        "variant": name,
        "steps": steps,
        "seconds": round(seconds, 2),
        "s_per_step": round(seconds / steps, 2),
        "target_tokens": trainer.counter.target,
        "target_tokens_per_s": round(trainer.counter.target / seconds, 1),
        "tokens_per_s": round(trainer.counter.total / seconds, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "peak_cuda_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if torch.cuda.is_available()
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=2400)
    parser.add_argument("--variant", choices=["packed", "padded"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(variant(args.variant, args.steps, args.max_length)))
        return
    from rich.console import Console
    from rich.table import Table

    rows = []
    for name in ("padded", "packed"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--variant",
                name,
                "--steps",
                str(args.steps),
                "--max-length",
                str(args.max_length),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    table = Table(
        title=f"Stage 1 training on {os.cpu_count()} CPU cores, SmolLM2-135M LoRA, max_length {args.max_length}"
    )
    for column in rows[0]:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console = Console()
    console.print(table)
    ratio = rows[1]["target_tokens_per_s"] / max(rows[0]["target_tokens_per_s"], 1e-9)
    console.print(
        f"packed / padded target tokens/s: {ratio:.2f}x; load average now: {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
