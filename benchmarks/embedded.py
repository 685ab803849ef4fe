"""Embedded provider speed, measured side by side in one run (this machine is shared and noisy).

1. Provider tokens/s as a ratio to raw ``model.generate`` on the same prompt and settings (target >= 0.95).
2. The llama.cpp backend's tokens/s as a ratio to the transformers backend (expected ~3x), when
   llama-cpp-python is installed (``pip install '.[llamacpp]'``).
3. Cold load (GGUF -> safetensors conversion) vs warm load (cached), each in a fresh process.

Runs alternate A/B so drifting machine load hits both sides equally; the ratio is the median of the
per-round ratios. Usage: ``.venv/bin/python benchmarks/embedded.py [--rounds 5] [--tokens 128]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

PROMPT = [
    ("system", "You are a professional screenwriter."),
    (
        "user",
        "Write the opening of a scene: an old lighthouse keeper finds a young sailor on the rocks at night.",
    ),
]
LOAD_SNIPPET = """
import time, pathlib, sys
import torch, transformers  # imports are not part of the load
from dsr.models.settings import load_settings
from dsr.models.factory import get_chat_model
t = time.perf_counter()
settings = load_settings(cache_dir=pathlib.Path(sys.argv[1]), embedded_backend="transformers")
get_chat_model("novelist", settings)
print(time.perf_counter() - t)
"""

console = Console()


def _time(fn: Callable[[], int]) -> float:
    """Tokens per second of one call of ``fn`` (which returns the number of new tokens)."""
    started = time.perf_counter()
    tokens = fn()
    return tokens / (time.perf_counter() - started)


def _load_seconds(cache_dir: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", LOAD_SNIPPET, cache_dir], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--skip-load", action="store_true", help="skip the cold/warm load measurement")
    args = parser.parse_args()

    import torch
    from langchain_core.messages import HumanMessage, SystemMessage

    from dsr.models import llamacpp, weights
    from dsr.models.factory import get_chat_model
    from dsr.models.settings import load_settings

    settings = load_settings(embedded_backend="transformers")
    provider = get_chat_model("novelist", settings)
    loaded = provider.loaded
    messages = [SystemMessage(PROMPT[0][1]), HumanMessage(PROMPT[1][1])]
    # Greedy with the provider's repetition penalty: identical work on both sides, no sampling noise.
    gen_kwargs = {
        "max_new_tokens": args.tokens,
        "do_sample": False,
        "repetition_penalty": provider.config.repetition_penalty,
    }
    ids = loaded.tokenizer.apply_chat_template(
        [{"role": r, "content": c} for r, c in PROMPT],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]

    def raw() -> int:
        with torch.inference_mode():
            out = loaded.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **gen_kwargs)
        return int(out.shape[1] - ids.shape[1])

    def via_provider() -> int:
        reply = provider.invoke(messages, max_new_tokens=args.tokens, temperature=0)
        return reply.usage_metadata["output_tokens"]

    llama_model = None
    if llamacpp.available():
        llama_model = llamacpp.LlamaCppChatModel(
            llama=llamacpp.load_llama(weights.gguf_path()),
            config=settings.novelist.model_copy(update={"temperature": 0}),
        )

    def via_llama() -> int:
        reply = llama_model.invoke(messages, max_new_tokens=args.tokens)
        return reply.usage_metadata["output_tokens"]

    raw()  # warm-up: first generate pays one-off allocation costs
    rows, provider_ratios, llama_ratios = [], [], []
    for round_no in range(1, args.rounds + 1):
        r, p = _time(raw), _time(via_provider)
        provider_ratios.append(p / r)
        row = [str(round_no), f"{r:.1f}", f"{p:.1f}", f"{p / r:.3f}"]
        if llama_model is not None:
            lc = _time(via_llama)
            llama_ratios.append(lc / p)
            row += [f"{lc:.1f}", f"{lc / p:.2f}"]
        rows.append(row)

    table = Table(
        title=f"Embedded model, {args.tokens} new tokens, greedy, torch threads={torch.get_num_threads()}"
    )
    for col in ["round", "raw generate tok/s", "provider tok/s", "provider/raw"]:
        table.add_column(col, justify="right")
    if llama_model is not None:
        table.add_column("llama.cpp tok/s", justify="right")
        table.add_column("llama.cpp/transformers", justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(
        f"provider / raw generate (median of {args.rounds}): [bold]{statistics.median(provider_ratios):.3f}[/] (target >= 0.95)"
    )
    if llama_ratios:
        console.print(
            f"llama.cpp / transformers (median): [bold]{statistics.median(llama_ratios):.2f}x[/] (expected ~3x)"
        )
    else:
        console.print("llama.cpp backend: not installed (pip install '.\\[llamacpp]'), ratio not measured")

    if not args.skip_load:
        with tempfile.TemporaryDirectory() as cache:
            cold = _load_seconds(cache)
            warm = statistics.median(_load_seconds(cache) for _ in range(3))
        console.print(
            f"load in a fresh process: cold (GGUF conversion) {cold:.1f} s, warm (cached safetensors) "
            f"{warm:.1f} s -> cold/warm [bold]{cold / warm:.1f}x[/]"
        )


if __name__ == "__main__":
    main()
