"""``make demo``'s episode on each embedded engine, side by side: wall time, model calls, and prompt tokens
prefilled vs read from a kept KV cache per accepted scene (issue 25 items 1 and 2).

Each variant runs the demo's own command (``dsr write examples/harbor-lights.yaml --max-retries 1`` with the
Makefile's DEMO_ENV token limits) in a fresh process and a fresh output directory; variants alternate round by
round so machine load drifts hit each alike. Figures come from the run's own files: ``calls.jsonl`` (every
model call: input tokens, ``cached_tokens`` a kept cache served, output tokens) and ``report.json`` (scenes
accepted).

Variants:
- ``transformers``: the engine before this change (bf16 ``generate``; a KV cache is kept for continuations only);
- ``onnx``: ONNX Runtime GenAI int4 with prefix slots (models/onnx_engine.py), on the same bare base weights;
- ``onnx+adapters``: the shipped default, the Stage 1 / Stage 2 adapters on the ONNX engine (when shipped).

Usage: ``.venv/bin/python benchmarks/demo_engines.py [--rounds 1] [--variants transformers,onnx,onnx+adapters]
[--out benchmarks/results/issue25-demo.md]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EPISODE = ROOT / "examples" / "harbor-lights.yaml"
DSR = Path(sys.executable).parent / "dsr"


def makefile_demo_env() -> dict[str, str]:
    """The Makefile's DEMO_ENV (the demo's token limits, which make it a few minutes), read from the Makefile
    so this benchmark runs what `make demo` runs."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(r"^DEMO_ENV\s*:?=(.*)$", text, re.MULTILINE)
    if match is None:
        sys.exit("benchmarks/demo_engines.py: no DEMO_ENV in the Makefile")
    return dict(item.split("=", 1) for item in match.group(1).split())


DEMO_ENV = makefile_demo_env()
VARIANTS: dict[str, dict[str, str]] = {
    "transformers": {"DSR_EMBEDDED_BACKEND": "transformers", "DSR_EMBEDDED_ADAPTERS": "false"},
    "onnx": {"DSR_EMBEDDED_BACKEND": "onnx", "DSR_EMBEDDED_ADAPTERS": "false"},
    "onnx+adapters": {"DSR_EMBEDDED_BACKEND": "onnx", "DSR_EMBEDDED_ADAPTERS": "true"},
}


def run_variant(name: str, work: Path) -> dict[str, Any]:
    out = work / name.replace("+", "-")
    shutil.rmtree(out, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSR_")} | DEMO_ENV | VARIANTS[name]
    env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    started = time.perf_counter()
    done = subprocess.run(
        [str(DSR), "write", str(EPISODE), "-o", str(out), "--max-retries", "1"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"variant": name, "failed": f"exit {done.returncode}: {tail}", "wall_s": round(wall, 1)}
    calls = [json.loads(line) for line in (out / "calls.jsonl").read_text().splitlines() if line.strip()]
    calls = [c for c in calls if "input_tokens" in c and c.get("kind") is None]
    report = json.loads((out / "report.json").read_text())
    accepted = max(1, len(report.get("scenes", [])))
    prompt = sum(int(c.get("input_tokens", 0)) for c in calls)
    cached = sum(int(c.get("cached_tokens", 0)) for c in calls)
    return {
        "variant": name,
        "wall_s": round(wall, 1),
        "calls": len(calls),
        "scenes": accepted,
        "calls_per_scene": round(len(calls) / accepted, 2),
        "prompt_tokens_per_scene": round(prompt / accepted),
        "cached_tokens_per_scene": round(cached / accepted),
        "prefilled_tokens_per_scene": round((prompt - cached) / accepted),
        "output_tokens_per_scene": round(sum(int(c.get("output_tokens", 0)) for c in calls) / accepted),
        "model_seconds": round(sum(float(c.get("seconds", 0)) for c in calls), 1),
    }


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--variants", default="transformers,onnx,onnx+adapters")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    load_before = _load()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dsr-demo-engines-") as tmp:
        for round_no in range(args.rounds):
            order = names if round_no % 2 == 0 else names[::-1]
            for name in order:
                row = run_variant(name, Path(tmp)) | {"round": round_no + 1}
                print(json.dumps(row), flush=True)
                rows.append(row)
    lines = [
        "# make demo's episode per embedded engine (benchmarks/demo_engines.py)",
        "",
        f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`; load average before {load_before}, "
        f"after {_load()} (2 cores).",
        "",
        "| variant | round | wall s | calls | scenes | calls/scene | prompt tok/scene | cached tok/scene | "
        "prefilled tok/scene | output tok/scene | model s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "failed" in r:
            lines.append(f"| {r['variant']} | {r['round']} | {r['wall_s']} | failed: {r['failed']} |")
            continue
        lines.append(
            f"| {r['variant']} | {r['round']} | {r['wall_s']} | {r['calls']} | {r['scenes']} | "
            f"{r['calls_per_scene']} | {r['prompt_tokens_per_scene']} | {r['cached_tokens_per_scene']} | "
            f"{r['prefilled_tokens_per_scene']} | {r['output_tokens_per_scene']} | {r['model_seconds']} |"
        )
    base = next((r for r in rows if r["variant"] == "transformers" and "failed" not in r), None)
    if base:
        lines += ["", "Ratios to transformers (same round):"]
        for r in rows:
            ref = next((b for b in rows if b["variant"] == "transformers" and b["round"] == r["round"]), None)
            if r["variant"] != "transformers" and "failed" not in r and ref and "failed" not in ref:
                lines.append(
                    f"- {r['variant']} round {r['round']}: wall {r['wall_s'] / ref['wall_s']:.3f}x, prefilled "
                    f"tokens per scene {r['prefilled_tokens_per_scene'] / max(1, ref['prefilled_tokens_per_scene']):.3f}x"
                )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
