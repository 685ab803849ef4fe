"""The openai provider against real OpenAI-compatible HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dsr.models.errors import ModelUnavailable, endpoint_failure
from dsr.models.factory import get_chat_model
from dsr.models.settings import load_settings
from tests.servers import VENV_BIN, free_port, running

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dsr_server():
    """`dsr serve` in its own process, serving the embedded model."""
    port = free_port()
    with running(
        [str(VENV_BIN / "dsr"), "serve", "--port", str(port), "--name", "smol"],
        f"http://127.0.0.1:{port}/health",
    ):
        yield f"http://127.0.0.1:{port}/v1"


def _openai_settings(monkeypatch, base_url: str, **extra: str):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("DSR_NOVELIST__PROVIDER", "openai")
    monkeypatch.setenv("DSR_NOVELIST__MODEL", "smol")
    monkeypatch.setenv("DSR_NOVELIST__BASE_URL", base_url)
    for key, value in extra.items():
        monkeypatch.setenv(f"DSR_NOVELIST__{key}", value)
    return load_settings()


def test_invoke_through_dsr_serve(monkeypatch, dsr_server):
    model = get_chat_model("novelist", _openai_settings(monkeypatch, dsr_server, MAX_NEW_TOKENS="12"))
    reply = model.invoke("Name a harbour town.")
    assert reply.content.strip()
    assert reply.usage_metadata["output_tokens"] <= 12 and reply.usage_metadata["input_tokens"] > 0
    assert reply.response_metadata["model_name"] == "smol"


def test_stream_through_dsr_serve(monkeypatch, dsr_server):
    model = get_chat_model("novelist", _openai_settings(monkeypatch, dsr_server, MAX_NEW_TOKENS="16"))
    chunks = list(model.stream("Write a line about fog."))
    assert len([c for c in chunks if c.content]) >= 3
    assert any(c.usage_metadata and c.usage_metadata["output_tokens"] > 0 for c in chunks)


def test_server_rejects_bad_requests(dsr_server):
    import httpx

    bad = httpx.post(f"{dsr_server}/chat/completions", content=b"{not json", timeout=10)
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]["message"]
    empty = httpx.post(f"{dsr_server}/chat/completions", json={"messages": []}, timeout=10)
    assert empty.status_code == 400


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 (then 429) before a valid completion: the client must retry with backoff."""

    failures = [503, 429]
    calls: list[int] = []

    def do_POST(self):  # noqa: N802 - http.server API
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status = self.failures[len(self.calls)] if len(self.calls) < len(self.failures) else 200
        self.calls.append(status)
        body = (
            {"error": {"message": "busy"}}
            if status != 200
            else {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "smol",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            }
        )
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_retries_on_503_and_429(monkeypatch):
    _Flaky.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        model = get_chat_model("novelist", _openai_settings(monkeypatch, url, MAX_RETRIES="3"))
        assert model.invoke("hi").content == "ok"
        assert _Flaky.calls == [503, 429, 200]
    finally:
        server.shutdown()


def test_unreachable_endpoint_becomes_one_line(monkeypatch):
    settings = _openai_settings(
        monkeypatch, f"http://127.0.0.1:{free_port()}/v1", MAX_RETRIES="0", TIMEOUT_S="5"
    )
    model = get_chat_model("novelist", settings)
    with pytest.raises(Exception) as info:
        model.invoke("hi")
    failure = endpoint_failure("novelist", settings.novelist, info.value)
    assert isinstance(failure, ModelUnavailable)
    assert "cannot reach http://127.0.0.1" in str(failure) and "DSR_NOVELIST__BASE_URL" in str(failure)
