"""Starting real local servers for tests: free ports, waiting for readiness, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout} s")


@contextmanager
def running(cmd: list[str], ready_url: str, env: dict[str, str] | None = None, timeout: float = 180.0) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` in its own process group until the block ends."""
    proc = subprocess.Popen(
        cmd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_http(ready_url, timeout, proc)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


_CHAT_SERVER = """
import sys, uvicorn
sys.path.insert(0, {root!r})
from models.server import create_app
from {module} import {cls}
app = create_app({cls}(), {name!r}, delay_s={delay})
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning")
"""


@contextmanager
def served_chat_model(model_class: str, name: str, delay_s: float) -> Iterator[str]:
    """``dsr serve``'s OpenAI-compatible app serving ``module:Class`` (a scripted chat model) in its own
    process with a fixed latency per request; yields the base URL."""
    module, cls = model_class.split(":")
    port = free_port()
    code = _CHAT_SERVER.format(
        root=str(Path(__file__).resolve().parents[1]), module=module, cls=cls, name=name, delay=delay_s, port=port
    )
    with running([sys.executable, "-c", code], f"http://127.0.0.1:{port}/health", timeout=60):
        yield f"http://127.0.0.1:{port}/v1"
