"""Starting real local servers for tests: free ports, waiting for readiness, clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

VENV_BIN = Path(sys.executable).parent
#: Settings the test session itself sets (tests/conftest.py) and every dsr it starts keeps: the shipped adapters
#: are off unless a test turns them on, so tests see the bare base model whatever adapters the checkout ships.
HARNESS_SETTINGS = frozenset({"DSR_EMBEDDED_ADAPTERS"})


def is_user_setting(key: str) -> bool:
    """A ``DSR_`` variable a test must not inherit from the shell that runs it (the harness's own are kept)."""
    return key.startswith("DSR_") and key not in HARNESS_SETTINGS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"server exited early with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
            )
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout} s")


def stop_group(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """Stop a server started in its own session: SIGTERM to its process group, SIGKILL after ``grace`` s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def running(
    cmd: list[str], ready_url: str, env: dict[str, str] | None = None, timeout: float = 180.0
) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` in its own process group until the block ends."""
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_http(ready_url, timeout, proc)
        yield proc
    finally:
        stop_group(proc)


_CHAT_SERVER = """
import sys, uvicorn
sys.path.insert(0, {root!r})
from dsr.models.server import create_app
from tests.servers import record_requests
from {module} import {cls}
app = create_app({cls}(), {name!r}, delay_s={delay})
if {log!r}:
    app = record_requests(app, {log!r})
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning")
"""


def record_requests(app: Any, log: str) -> Any:
    """ASGI wrapper appending each request (path, Authorization header, JSON body) as one line to ``log``:
    what a client really sent, for tests that check prompts and keys on the wire."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        chunks: list[bytes] = []
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}

        async def recording_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    raw = b"".join(chunks).decode("utf-8", "replace")
                    entry = {
                        "path": scope["path"],
                        "authorization": headers.get("authorization"),
                        "body": raw,
                    }
                    with open(log, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(entry) + "\n")
            return message

        await app(scope, recording_receive, send)

    return wrapped


@contextmanager
def served_chat_model(
    model_class: str,
    name: str,
    delay_s: float,
    *,
    port: int | None = None,
    log: Path | None = None,
    timeout: float = 60,
) -> Iterator[str]:
    """``dsr serve``'s OpenAI-compatible app serving ``module:Class`` (a chat model class or factory) in its own
    process with a fixed latency per request; yields the base URL. ``port`` picks the port (a test can bring
    an endpoint back where a run saw it fail); ``log`` records every request (see :func:`record_requests`)."""
    module, cls = model_class.split(":")
    port = port or free_port()
    code = _CHAT_SERVER.format(
        root=str(Path(__file__).resolve().parents[1]),
        module=module,
        cls=cls,
        name=name,
        delay=delay_s,
        port=port,
        log=str(log) if log else "",
    )
    with running([sys.executable, "-c", code], f"http://127.0.0.1:{port}/health", timeout=timeout):
        yield f"http://127.0.0.1:{port}/v1"


def read_requests(log: Path) -> list[dict[str, Any]]:
    """The requests :func:`record_requests` logged, with ``body`` parsed (messages, max_tokens, ...)."""
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        with suppress(json.JSONDecodeError):
            row["body"] = json.loads(row["body"])
    return rows
