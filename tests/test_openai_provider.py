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


# OpenAI-API conformance of `dsr serve`, checked with the official SDK and langchain-openai (issue 27, class 4).


@pytest.fixture(scope="module")
def sdk(dsr_server):
    import openai

    return openai.OpenAI(base_url=dsr_server, api_key="unused", max_retries=0, timeout=300)


def test_models_list_and_retrieve_as_the_sdk_reads_them(sdk):
    import openai

    listed = sdk.models.list().data
    assert [m.id for m in listed] == ["smol"] and listed[0].created > 0
    one = sdk.models.retrieve("smol")
    assert (one.id, one.object, one.created) == ("smol", "model", listed[0].created)
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.models.retrieve("gpt-4o")
    assert missing.value.code == "model_not_found"


def test_unknown_paths_and_methods_answer_json_errors(dsr_server):
    import httpx

    for method, path, status in (
        ("GET", "/v1/embeddings", 404),
        ("GET", "/nothing", 404),
        ("GET", "/v1/chat/completions", 405),
    ):
        response = httpx.request(method, dsr_server.removesuffix("/v1") + path, timeout=30)
        assert response.status_code == status
        assert response.headers["content-type"].startswith("application/json")
        assert path in response.json()["error"]["message"]


def test_an_unknown_model_is_404_not_the_local_one(sdk):
    import openai

    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], max_tokens=2
        )
    assert missing.value.code == "model_not_found" and missing.value.body["param"] == "model"


def test_n_gives_n_choices(sdk):
    reply = sdk.chat.completions.create(
        model="smol", messages=[{"role": "user", "content": "Name a harbour town."}], max_tokens=3, n=2
    )
    assert [c.index for c in reply.choices] == [0, 1]
    assert all(c.message.content for c in reply.choices)
    assert reply.usage.completion_tokens >= 2  # both choices' tokens are counted


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"n": 2, "stream": True}, "n"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
            "tool_choice",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": [{"type": "retrieval"}], "tool_choice": "required"}, "tools"),
    ],
)
def test_what_the_server_cannot_honour_is_a_400_naming_it(sdk, extra, param):
    import openai

    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(
            model="smol", messages=[{"role": "user", "content": "Hi"}], max_tokens=2, extra_body=extra
        )
    assert refused.value.body["param"] == param


def test_structured_output_by_function_calling_returns_the_object(dsr_server):
    """langchain-openai's ``with_structured_output(method="function_calling")`` forces a tool call: the
    arguments are decoded under the function's schema, so the parsed object comes back (not None)."""
    from langchain_openai import ChatOpenAI
    from pydantic import BaseModel, Field

    class Town(BaseModel):
        """A harbour town."""

        name: str = Field(min_length=1, max_length=16)
        population: int = Field(ge=0, le=100000)

    chat = ChatOpenAI(
        model="smol", base_url=dsr_server, api_key="unused", max_tokens=48, temperature=0, max_retries=0
    )
    town = chat.with_structured_output(Town, method="function_calling").invoke(
        "Name a harbour town and its population."
    )
    assert isinstance(town, Town) and town.name
