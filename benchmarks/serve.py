"""`dsr serve` under a careless client, against a real `dsr serve` subprocess on 127.0.0.1 with the
embedded model, measured side by side in one run (this machine is shared and noisy):

1. How long a normal request takes on an idle server vs right after another client cut off a long
   stream (the cut generation must stop, not keep the model; target: within 2x of idle). Rounds
   alternate idle/cut so drifting machine load hits both sides equally; medians and their ratio.
2. SIGTERM to process exit while a long generation runs and another request waits (target: seconds).

Usage: ``.venv/bin/python benchmarks/serve.py [--rounds 5] [--tokens 16]``
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
console = Console()
LONG = {
    "messages": [{"role": "user", "content": "Tell a very long story about a ferry crossing."}],
    "max_tokens": 4000,
}


def normal_request(base: str, tokens: int) -> float:
    """Seconds for a short greedy completion of exactly ``tokens`` tokens at most."""
    body = {
        "messages": [{"role": "user", "content": "Name a harbour town."}],
        "max_tokens": tokens,
        "temperature": 0,
    }
    started = time.perf_counter()
    reply = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=300)
    reply.raise_for_status()
    return time.perf_counter() - started


def cut_long_stream(base: str) -> None:
    """Start a 4000-token stream, read its first tokens, and hang up."""
    with httpx.stream(
        "POST", f"{base}/v1/chat/completions", json={**LONG, "stream": True}, timeout=300
    ) as reply:
        for n, _ in enumerate(reply.iter_lines()):
            if n >= 6:
                break


def queue(base: str) -> dict[str, int]:
    return httpx.get(f"{base}/health", timeout=10).json()["queue"]


def wait_for(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not reach the expected state")
        time.sleep(0.05)


def sigterm_to_exit(proc: subprocess.Popen, base: str) -> tuple[float, list[str]]:
    """Seconds from SIGTERM to exit with one generation running and one waiting; what the two clients got."""
    answers: list[str] = []

    def ask(body: dict) -> None:
        try:
            answers.append(str(httpx.post(f"{base}/v1/chat/completions", json=body, timeout=120).status_code))
        except httpx.HTTPError as exc:
            answers.append(type(exc).__name__)

    clients = [threading.Thread(target=ask, args=(LONG,), daemon=True) for _ in range(2)]
    clients[0].start()
    wait_for(lambda: queue(base)["running"] == 1, 120)
    clients[1].start()
    wait_for(lambda: queue(base)["waiting"] == 1, 30)
    time.sleep(1)
    started = time.perf_counter()
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=120)
    took = time.perf_counter() - started
    for client in clients:
        client.join(timeout=30)
    return took, answers


def main() -> None:
    from tests.servers import VENV_BIN, free_port, running

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=16, help="completion length of the normal request")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(VENV_BIN / "dsr"), "serve", "--port", str(port), "--name", "smol"]
    with running(cmd, f"{base}/health", env={"HF_HUB_OFFLINE": "1"}) as proc:
        normal_request(base, args.tokens)  # warm-up: the first generation sets things up
        idle, after_cut = [], []
        for _ in range(args.rounds):
            idle.append(normal_request(base, args.tokens))
            cut_long_stream(base)
            after_cut.append(normal_request(base, args.tokens))
        left_running = queue(base)["running"]
        term_s, answers = sigterm_to_exit(proc, base)
    table = Table(title=f"dsr serve, embedded model, {args.rounds} rounds (medians)")
    for column in ("measure", "value"):
        table.add_column(column)
    ratio = statistics.median(after_cut) / statistics.median(idle)
    per_round = statistics.median(cut / free for cut, free in zip(after_cut, idle, strict=True))
    table.add_row("normal request, idle server", f"{statistics.median(idle):.2f} s")
    table.add_row(
        "normal request, right after a cut 4000-token stream", f"{statistics.median(after_cut):.2f} s"
    )
    table.add_row("ratio of the medians (target <= 2x)", f"{ratio:.2f}x")
    table.add_row("median of the per-round ratios", f"{per_round:.2f}x")
    table.add_row("generations still running after the rounds", str(left_running))
    table.add_row("SIGTERM to exit, mid-generation", f"{term_s:.2f} s")
    table.add_row("what the running and the waiting client got", ", ".join(answers))
    console.print(table)
    console.print(
        f"idle rounds: {[round(t, 2) for t in idle]}; after-cut rounds: {[round(t, 2) for t in after_cut]}"
    )


if __name__ == "__main__":
    main()
