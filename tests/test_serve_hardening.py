"""`dsr serve` must not be taken down by one client (issue 12, class 2), over real HTTP against a real
`dsr serve` subprocess serving the embedded model: malformed bodies get 400 with a JSON error, not 500;
max_tokens is capped by the model's context; a generation stops when its client goes away, streaming
or not; requests queue one at a time in arrival order with a bounded queue (429 + Retry-After past it);
SIGTERM mid-generation exits within seconds. Every wait is bounded: a regression fails, never hangs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.servers import VENV_BIN, free_port, running

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROLE_MAX_NEW_TOKENS = 8  # the served role's max_new_tokens: the budget when a request names none
LONG = {
    "messages": [{"role": "user", "content": "Tell a very long story about a ferry crossing."}],
    "max_tokens": 4000,
    "min_tokens": 4000,  # the model may end a story in 56 tokens (a second on the int4 engine): it may not here
}
SHORT = {"messages": [{"role": "user", "content": "Name a harbour town."}], "max_tokens": 4, "temperature": 0}
# A generation of LONG takes minutes on CPU; one stopped at its next token ends well within this.
STOPS_WITHIN_S = 20.0


def _serve(port: int, *extra: str) -> list[str]:
    return [str(VENV_BIN / "dsr"), "serve", "--port", str(port), "--name", "smol", *extra]


_ENV = {"DSR_NOVELIST__MAX_NEW_TOKENS": str(ROLE_MAX_NEW_TOKENS), "HF_HUB_OFFLINE": "1"}
_PIDS: dict[str, int] = {}  # the server's process id, by its address


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    """One `dsr serve` for the module, at most two requests waiting; warmed up by a first generation."""
    port = free_port()
    with running(_serve(port, "--max-queue", "2"), f"http://127.0.0.1:{port}/health", env=_ENV) as proc:
        base = f"http://127.0.0.1:{port}"
        _PIDS[base] = proc.pid
        assert httpx.post(f"{base}/v1/chat/completions", json=SHORT, timeout=120).status_code == 200
        yield base, port


def _queue(base: str) -> dict[str, int]:
    return httpx.get(f"{base}/health", timeout=10).json()["queue"]


def _wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` until it holds; the seconds it took, or an assertion error after ``timeout``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - started


def _open(port: int, body: dict) -> socket.socket:
    """A chat request on a raw socket, so a test can cut the connection at a moment it chooses."""
    payload = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    sock.sendall(head.encode() + payload)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _post(base: str, body: dict | bytes, timeout: float = 120) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.post(f"{base}/v1/chat/completions", content=body, timeout=timeout)
    return httpx.post(f"{base}/v1/chat/completions", json=body, timeout=timeout)


def _user(content: object) -> dict:
    return {"messages": [{"role": "user", "content": content}]}


MALFORMED: dict[str, dict | bytes] = {
    "invalid_utf8": b'\xff\xfe{"messages": [{"role": "user", "content": "\xc3\x28"}]}',
    "not_json": b"{not json",
    "nan": b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
    "infinite_temperature": b'{"messages": [{"role": "user", "content": "hi"}], "temperature": 1e999}',
    "nested_too_deeply": b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "body_array": b"[1, 2]",
    "body_string": b'"hello"',
    "messages_missing": {},
    "messages_not_list": {"messages": "hi"},
    "messages_empty": {"messages": []},
    "message_string": {"messages": ["hi"]},
    "message_null": {"messages": [None]},
    "role_missing": {"messages": [{"content": "hi"}]},
    "role_unknown": {"messages": [{"role": "wizard", "content": "hi"}]},
    "role_not_string": {"messages": [{"role": ["user"], "content": "hi"}]},
    "content_missing": {"messages": [{"role": "user"}]},
    "content_number": _user(5),
    "content_object": _user({"text": "hi"}),
    "content_part_string": _user(["hi"]),
    "content_part_text_number": _user([{"type": "text", "text": 5}]),
    "content_part_image": _user([{"type": "image_url", "image_url": {"url": "http://x"}}]),
    "temperature_string": {**_user("hi"), "temperature": "hot"},
    "temperature_bool": {**_user("hi"), "temperature": True},
    "temperature_too_high": {**_user("hi"), "temperature": 5},
    "top_p_zero": {**_user("hi"), "top_p": 0},
    "top_p_string": {**_user("hi"), "top_p": "most"},
    "stop_number": {**_user("hi"), "stop": 3},
    "stop_list_of_numbers": {**_user("hi"), "stop": [1, 2]},
    "stop_empty_string": {**_user("hi"), "stop": [""]},
    "max_tokens_zero": {**_user("hi"), "max_tokens": 0},
    "max_tokens_negative": {**_user("hi"), "max_tokens": -5},
    "max_tokens_float": {**_user("hi"), "max_tokens": 1.5},
    "max_tokens_bool": {**_user("hi"), "max_tokens": True},
    "max_tokens_string": {**_user("hi"), "max_tokens": "10"},
    "max_completion_tokens_zero": {**_user("hi"), "max_completion_tokens": 0},
    "stream_string": {**_user("hi"), "stream": "yes"},
    "stream_options_list": {**_user("hi"), "stream": True, "stream_options": [1]},
    "include_usage_string": {**_user("hi"), "stream": True, "stream_options": {"include_usage": "y"}},
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_body_gets_400_json_error(server, name):
    base, _ = server
    reply = _post(base, MALFORMED[name], timeout=30)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and isinstance(error["message"], str) and error["message"]


def test_errors_name_the_parameter(server):
    base, _ = server
    assert _post(base, {**_user("hi"), "max_tokens": 0}).json()["error"]["param"] == "max_tokens"
    bad_part = {
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"text": 1}]}]
    }
    assert _post(base, bad_part).json()["error"]["param"] == "messages[1].content"


def test_body_over_the_size_limit_gets_413(server):
    base, _ = server
    huge = json.dumps(_user("a" * 5_000_000)).encode()
    reply = _post(base, huge, timeout=60)
    assert reply.status_code == 413 and "larger than" in reply.json()["error"]["message"]


@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens"])
def test_a_billion_tokens_is_refused_at_once(server, key):
    base, _ = server
    started = time.monotonic()
    reply = _post(base, {**_user("hi"), key: 10**9}, timeout=30)
    assert time.monotonic() - started < 10
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "max_tokens"
    assert error["message"].startswith("This model's maximum context length is 8192 tokens")
    assert _queue(base)["running"] == 0


def test_min_tokens_holds_the_end_and_the_stops_as_vllm_does(server):
    base, _ = server
    ask = {**SHORT, "stop": [" "], "max_tokens": 12}
    assert _post(base, ask).json()["usage"]["completion_tokens"] < 6  # the first space ends it
    held = _post(base, {**ask, "min_tokens": 12}).json()
    assert held["usage"]["completion_tokens"] == 12 and " " not in held["choices"][0]["message"]["content"]
    refused = _post(base, {**ask, "min_tokens": 13})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "min_tokens"


def test_a_prompt_longer_than_the_context_is_refused(server):
    base, _ = server
    reply = _post(base, _user("harbour " * 9000), timeout=60)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "messages"


def test_without_max_tokens_the_roles_budget_applies(server):
    base, _ = server
    reply = _post(base, _user("Write a long poem about the sea, with many verses."))
    assert reply.status_code == 200
    completion = reply.json()["usage"]["completion_tokens"]
    assert 0 < completion <= ROLE_MAX_NEW_TOKENS
    if completion == ROLE_MAX_NEW_TOKENS:
        assert reply.json()["choices"][0]["finish_reason"] == "length"


def test_a_cut_stream_stops_its_generation(server):
    base, port = server
    sock = _open(port, {**LONG, "stream": True})
    received = b""
    deadline = time.monotonic() + 120
    while received.count(b"data:") < 3 and time.monotonic() < deadline:
        received += sock.recv(4096)
    assert received.count(b"data:") >= 3, "the stream never started"
    sock.close()
    _wait_until(lambda: _queue(base)["running"] == 0, STOPS_WITHIN_S, "the generation stopping after the cut")
    assert _post(base, SHORT).status_code == 200


def test_a_non_streaming_client_that_leaves_stops_its_generation(server):
    base, port = server
    sock = _open(port, LONG)
    _wait_until(lambda: _queue(base)["running"] == 1, 60, "the generation starting")
    time.sleep(0.5)
    sock.close()
    _wait_until(
        lambda: _queue(base)["running"] == 0, STOPS_WITHIN_S, "the generation stopping after the client left"
    )
    assert _post(base, SHORT).status_code == 200


def test_requests_queue_in_order_and_past_the_cap_get_429(server):
    base, port = server
    long = _open(port, {**LONG, "stream": True})
    _wait_until(lambda: _queue(base)["running"] == 1, 60, "the long stream starting")
    finished: list[tuple[str, int]] = []

    def ask(name: str) -> None:
        finished.append((name, _post(base, SHORT).status_code))

    waiting = []
    for count, name in enumerate(("first", "second"), start=1):
        waiting.append(threading.Thread(target=ask, args=(name,), daemon=True))
        waiting[-1].start()
        _wait_until(lambda n=count: _queue(base)["waiting"] == n, 30, f"request '{name}' queueing")
    refused = _post(base, SHORT, timeout=30)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert finished == []  # the long stream still holds the model
    long.close()
    for thread in waiting:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a queued request never got its turn"
    assert finished == [("first", 200), ("second", 200)]


def test_sigterm_mid_generation_exits_within_seconds():
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(_serve(port), f"{base}/health", env=_ENV) as proc:
        # Warm up: a first generation's setup cannot be stopped, and would leave only uvicorn's timeout.
        assert _post(base, SHORT).status_code == 200
        generating = _open(port, LONG)
        _wait_until(lambda: _queue(base)["running"] == 1, 120, "the generation starting")
        queued = _open(port, {**LONG, "stream": True})
        _wait_until(lambda: _queue(base)["waiting"] == 1, 30, "the stream queueing")
        time.sleep(1)
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        took = time.monotonic() - started
        generating.settimeout(5)
        answer = _read_all(generating)
    assert took < 10, f"SIGTERM took {took:.1f} s"
    # The stopped generation is answered 503; on a loaded CPU one token can outlast uvicorn's grace
    # period, which then closes the connection: either way the client is not left waiting.
    assert answer == b"" or (answer.startswith(b"HTTP/1.1 503") and b"shutting down" in answer), answer[:200]
    queued.close()


# Schemas (issue "Hardening, third round", class 2): a schema the grammar compiler cannot take is a 400 naming
# response_format, at once, never a 500 or a stall; compiles do not hold the model; the compiled-grammar cache
# is bounded, so the server's memory stays bounded however many distinct schemas its clients send.


def _nested(depth: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
    return schema


def _wide(fields: int) -> dict:
    """A schema of ``fields`` length-bounded strings (150: 14 KB, minutes to compile on a busy CPU)."""
    names = [f"field_number_{i}" for i in range(fields)]
    return {
        "type": "object",
        "properties": {n: {"type": "string", "maxLength": 40} for n in names},
        "required": names,
    }


def _formatted(schema: dict, **extra: object) -> dict:
    spec = {"name": "answer", "schema": schema}
    return {**SHORT, "response_format": {"type": "json_schema", "json_schema": spec}, **extra}


BAD_SCHEMAS = {
    "nested_450_deep": _nested(450),
    "ref_to_root": {"$ref": "#"},
    "ref_loop": {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
    "recursive_property": {"type": "object", "properties": {"next": {"$ref": "#"}}},
    "ref_elsewhere": {"$ref": "https://example.com/schema.json"},
    "ref_missing": {"$ref": "#/$defs/nope"},
    "pattern_min_length_string": {"type": "string", "pattern": "^a+$", "minLength": "5"},
    "max_length_float": {"type": "string", "maxLength": 5.5},
    "max_length_huge": {"type": "string", "maxLength": 10**12},
    "minimum_string": {"type": "integer", "minimum": "0"},
    "properties_list": {"type": "object", "properties": [1]},
    "any_of_empty": {"anyOf": []},
    "too_large_15kb": _wide(150),
}


@pytest.mark.parametrize("name", sorted(BAD_SCHEMAS))
def test_unusable_schemas_get_400_naming_response_format_at_once(server, name):
    base, _ = server
    started = time.monotonic()
    reply = _post(base, _formatted(BAD_SCHEMAS[name]), timeout=60)
    took = time.monotonic() - started
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == "response_format" and "response_format" in error["message"]
    assert took < 15, f"{took:.1f} s to refuse"
    assert _queue(base)["running"] == 0


def test_a_deep_schema_as_a_tool_is_a_400_naming_tools(server):
    base, _ = server
    tool = {"type": "function", "function": {"name": "f", "parameters": _nested(450)}}
    body = {**SHORT, "tools": [tool], "tool_choice": "required"}
    reply = _post(base, body, timeout=60)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "tools", reply.text


def test_a_client_that_leaves_mid_compile_does_not_hold_the_model(server):
    """A schema just under the size bound compiles for a while on a busy CPU; its client gives up; a plain
    request right after is answered at once (the compile ran outside the generation turn; before: 282 s
    after three such clients)."""
    base, port = server
    sock = _open(port, _formatted(_wide(60), max_tokens=4))
    time.sleep(1.0)
    sock.close()
    started = time.monotonic()
    assert _post(base, SHORT, timeout=120).status_code == 200
    took = time.monotonic() - started
    assert took < 20, f"a plain request waited {took:.1f} s behind an abandoned compile"


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_memory_stays_bounded_after_50_distinct_schemas(server):
    base, _ = server
    pid = _PIDS[base]

    def ask(i: int) -> None:
        names = [f"name_{i}", f"note_{i}"]
        schema = {
            "type": "object",
            "properties": {
                names[0]: {"type": "string", "maxLength": 6 + i % 7},
                names[1]: {"type": "integer"},
            },
            "required": names,
        }
        reply = _post(base, _formatted(schema, max_tokens=4), timeout=120)
        assert reply.status_code == 200, reply.text

    for i in range(5):
        ask(i)
    warm = _rss_mb(pid)
    for i in range(5, 50):
        ask(i)
    after = _rss_mb(pid)
    grammars = httpx.get(f"{base}/health", timeout=10).json()["grammars"]
    print(f"RSS {warm:.0f} MB after 5 schemas, {after:.0f} MB after 50; cache {grammars}")
    assert grammars["entries"] <= 16 and grammars["bytes"] <= 128 * 1024 * 1024
    assert after - warm < 100, f"RSS grew {after - warm:.0f} MB over 45 more schemas"
