"""vLLM's CPU build vs the embedded provider on the same weights, measured side by side in one run.

1. vLLM start-up: seconds from launch until ``/v1/models`` answers (``--enforce-eager``, as docs/feasibility.md
   section 8 measured), with the base model only and with a LoRA adapter (``--adapter DIR``).
2. Generation speed: the same prompts, greedy, the same token budget, one request at a time: vLLM over HTTP
   vs the embedded provider in process (``LocalChatModel``, transformers bf16). Rounds alternate the two so a
   drifting machine load hits both alike; tokens/s = output tokens / wall seconds of each request (prefill of
   the short prompt included). Prints vLLM tok/s ÷ embedded tok/s.

Needs ``.venv-vllm`` (``make venv-vllm``). Usage:
``.venv/bin/python benchmarks/vllm.py [--rounds 3] [--tokens 128] [--adapter MODEL_DIR] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = [
    "Write one paragraph about a lighthouse keeper who finds a stranger on the rocks.",
    "Describe a harbour town at dawn in five sentences.",
    "Tell a short story about a ferry crossing in a storm.",
]


def measure_endpoint(base_url: str, model: str, prompts: list[str], *, max_tokens: int) -> dict[str, Any]:
    """Greedy completions one at a time: output tokens, seconds and tok/s over all prompts."""
    tokens, seconds = 0, 0.0
    for prompt in prompts:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0,
            "ignore_eos": True,
        }
        started = time.perf_counter()
        reply = httpx.post(f"{base_url}/chat/completions", json=body, timeout=900)
        seconds += time.perf_counter() - started
        reply.raise_for_status()
        tokens += reply.json()["usage"]["completion_tokens"]
    return {"output_tokens": tokens, "seconds": round(seconds, 2), "tok_s": round(tokens / seconds, 2)}


def measure_embedded(prompts: list[str], *, max_tokens: int, threads: int = 1) -> dict[str, Any]:
    """The same through the embedded provider in this process (weights loaded once, outside the timing), on
    ``threads`` torch threads: vLLM's CPU server runs one ("Reducing Torch threads from 2 to 1 for serving"),
    and on a loaded machine two threads can be ten times slower than one (measured: 0.55 vs 5.95 tok/s)."""
    import torch
    from langchain_core.messages import HumanMessage

    from dsr.models.factory import get_chat_model
    from dsr.models.settings import load_settings

    settings = load_settings(novelist={"temperature": 0, "max_new_tokens": max_tokens})
    model = get_chat_model("novelist", settings)
    model.invoke([HumanMessage("Hi")], max_new_tokens=1)  # load and warm up
    tokens, seconds = 0, 0.0
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for prompt in prompts:
            started = time.perf_counter()
            reply = model.invoke([HumanMessage(prompt)], min_new_tokens=max_tokens)
            seconds += time.perf_counter() - started
            tokens += reply.usage_metadata["output_tokens"]
    finally:
        torch.set_num_threads(before)
    return {
        "output_tokens": tokens,
        "seconds": round(seconds, 2),
        "tok_s": round(tokens / seconds, 2),
        "threads": threads,
    }


def main() -> None:
    from dsr.models.settings import load_settings
    from dsr.models.weights import ensure_embedded_safetensors
    from tests.servers import free_port
    from tests.test_vllm import VLLM_PYTHON, start_vllm, stop_vllm, vllm_command

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--adapter", type=Path, help="a dsr train LoRA run: also measure start-up with it")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the embedded side (vLLM: 1)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    if not VLLM_PYTHON.exists():
        sys.exit(f"{VLLM_PYTHON} not found; run `make venv-vllm` first")
    base = str(ensure_embedded_safetensors(load_settings().cache_dir))
    results: dict[str, Any] = {
        "tokens": args.tokens,
        "rounds": args.rounds,
        "prompts": len(PROMPTS),
        "embedded_threads": args.threads,
    }
    log = Path("/tmp/dsr-bench-vllm.log")
    if args.adapter:
        port = free_port()
        proc, seconds = start_vllm(vllm_command(base, port, args.adapter), port, log)
        stop_vllm(proc)
        results["startup_lora_s"] = round(seconds, 1)
        print(f"vLLM start-up with --enable-lora: {seconds:.1f} s", flush=True)
    port = free_port()
    proc, seconds = start_vllm(vllm_command(base, port), port, log)
    results["startup_s"] = round(seconds, 1)
    print(f"vLLM start-up: {seconds:.1f} s", flush=True)
    served, local = [], []
    try:
        url = f"http://127.0.0.1:{port}/v1"
        measure_endpoint(url, "smol", ["Hi"], max_tokens=1)  # warm-up
        for n in range(args.rounds):
            served.append(measure_endpoint(url, "smol", PROMPTS, max_tokens=args.tokens))
            local.append(measure_embedded(PROMPTS, max_tokens=args.tokens, threads=args.threads))
            print(
                f"round {n + 1}: vLLM {served[-1]['tok_s']} tok/s, embedded {local[-1]['tok_s']} tok/s",
                flush=True,
            )
    finally:
        stop_vllm(proc)
    results["vllm_tok_s"] = statistics.median(r["tok_s"] for r in served)
    results["embedded_tok_s"] = statistics.median(r["tok_s"] for r in local)
    results["ratio"] = round(results["vllm_tok_s"] / results["embedded_tok_s"], 2)
    results["rounds_detail"] = {"vllm": served, "embedded": local}
    print(
        f"median tok/s: vLLM {results['vllm_tok_s']}, embedded {results['embedded_tok_s']}; "
        f"vLLM / embedded = {results['ratio']}"
    )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
