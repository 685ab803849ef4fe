"""The writers' room over HTTP (room/): the episode page, scene details, who may connect, reviews and edits
through the API with the same values ``dsr resume`` takes, progress as server-sent events, ``dsr room``'s
refusals.

The runs are real (SQLite checkpoints, files, the run driver in the room's background thread); the models are
the recording fakes (tests/recording.py), so what each answer re-runs can be counted. The room in a real
browser against the real embedded model is tests/test_room_browser.py.
"""

# ruff: noqa: F811 - the fake_models fixture is a parameter of most tests

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dsr.contract.context import RunContext
from dsr.room.app import create_app
from dsr.room.guard import allowed_hosts
from dsr.run.runlock import holding
from dsr.run.runner import drive, initial_input, run_state, start_run
from dsr.story.episode_spec import load_episode
from tests.recording import RecordingModels, fake_models, script_checks  # noqa: F401 - fixture by name
from tests.test_writer_edit import NEW_PROSE, THREE, dsr

KEY = "test-key"


def make_run(root: Path, models: RecordingModels, review: list[str]) -> Path:
    run = root / "run"
    spec = load_episode(THREE)
    context = RunContext(
        mode="dsr",
        use_rubric=False,
        run_dir=str(run),
        review=review,
        max_retries_per_stage=0,
        max_retries_per_scene=0,
    )
    drive(run, replace(start_run(spec, run, context), model_factory=models), initial_input(spec))
    models.requests.clear()
    return run


@pytest.fixture
def passing(monkeypatch):
    return script_checks(monkeypatch, [])


def client_for(root: Path, **options) -> tuple[TestClient, object]:
    app = create_app(root, hosts={"testserver"}, key=KEY, ping=0.2, **options)
    return TestClient(app), app.state.room


def post(client: TestClient, kind: str, body: dict | None = None, key: str = KEY):
    return client.post(f"/api/{kind}", params={"run": "run"}, json=body or {}, headers={"X-Room-Key": key})


def finish_job(room) -> object:
    job = room.jobs.wait("run", timeout=60)
    assert job is not None and job.state != "running"
    return job


def test_the_page_shows_the_episode_the_pending_review_and_ships_its_own_script(
    tmp_path, fake_models, passing
):
    make_run(tmp_path, fake_models, ["scene"])
    client, _ = client_for(tmp_path, model_factory=fake_models)
    page = client.get("/")
    assert page.status_code == 200 and page.url.path == "/run"  # one run: straight to it
    html = page.text
    assert "Review: the screenplay of scene 1" in html and 'id="approve"' in html
    assert [f'id="scene-{n}"' in html for n in (1, 2, 3)] == [True, True, True]
    assert '<p class="heading">' in html  # the screenplay as the HTML export lays it out
    assert 'src="/static/room.js"' in html and 'src="http' not in html and 'href="http' not in html  # no CDN
    script = client.get("/static/room.js")
    assert (
        page.headers["content-encoding"] == script.headers["content-encoding"] == "gzip"
    )  # httpx asks for it
    assert (
        client.get("/static/room.js").status_code == 200
        and "EventSource" in client.get("/static/room.js").text
    )


def test_scene_details_are_one_click_away(tmp_path, fake_models, passing):
    make_run(tmp_path, fake_models, [])
    client, _ = client_for(tmp_path, model_factory=fake_models)
    detail = client.get("/scene", params={"run": "run", "n": 2})
    assert detail.status_code == 200
    html = detail.text
    assert "Critique timeline (1 verdict)" in html and "critic #1: pass" in html
    assert (
        'data-stage="prose"' in html
        and 'data-stage="directives"' in html
        and 'data-stage="screenplay"' in html
    )
    assert "harbor-lights-E01-02" in html  # X as retrieved
    assert "<td>novelist</td>" in html and "2.1" in html and "written by dsr write" in html
    assert client.get("/scene", params={"run": "run", "n": 9}).status_code == 404
    assert client.get("/run", params={"run": "../elsewhere"}).status_code == 404


def test_the_guard_refuses_other_hosts_changes_from_elsewhere_and_visitors_without_the_token(
    tmp_path, fake_models, passing
):
    make_run(tmp_path, fake_models, [])
    client, _ = client_for(tmp_path, model_factory=fake_models)
    refused = client.get("/", headers={"Host": "attacker.example:8000"})
    assert refused.status_code == 421 and "answers only at" in refused.text
    assert post(client, "resume", key="wrong").status_code == 403
    assert client.post("/api/resume", params={"run": "run"}).status_code == 403  # no key at all

    token = "a-long-enough-token"
    guarded, _ = client_for(tmp_path, token=token, model_factory=fake_models)
    assert guarded.get("/").status_code == 401
    entry = guarded.get("/", params={"token": token}, follow_redirects=False)
    assert entry.status_code == 303 and "token" not in entry.headers["location"]  # out of the address bar
    assert guarded.get("/run", params={"run": "run"}).status_code == 200  # the cookie carries it now

    assert allowed_hosts("127.0.0.1", 8123) == {"127.0.0.1:8123", "localhost:8123", "[::1]:8123"}
    assert allowed_hosts("0.0.0.0", 8123) is None  # any Host: the token guards it


def test_approve_and_reject_with_a_note_through_the_api(tmp_path, fake_models, passing):
    run = make_run(tmp_path, fake_models, ["scene"])
    client, room = client_for(tmp_path, model_factory=fake_models)
    reply = post(client, "review", {"action": "approve"})
    assert reply.status_code == 200 and reply.json()["job"] == "approve the scene of scene 1"
    assert finish_job(room).message == "paused for review of the scene of scene 2"

    bad = post(client, "review", {"action": "reject", "note": " "})
    assert bad.status_code == 400 and bad.json()["error"] == "a rejection needs a note saying what to change"
    assert post(client, "review", {"action": "maybe"}).status_code == 400

    note = "Brennan should notice the second teacup."
    reply = post(client, "review", {"action": "reject", "note": note, "stage": "novelist"})
    assert reply.status_code == 200
    assert finish_job(room).message == "paused for review of the scene of scene 2"
    asked = [p for p in fake_models.prompts("novelist") if note in p]
    assert len(asked) == 1 and fake_models.calls == {
        "planner": 1,
        "novelist": 2,
        "screenwriter": 2,
    }  # scene 2, then the rerun
    state = client.get("/api/state", params={"run": "run"}).json()
    assert [s["status"] for s in state["scenes"]] == [
        "approved_by_human",
        "waiting for review",
        "not written",
    ]
    assert state["pending"]["scene"] == 2
    _, pending, values = run_state(run)
    assert pending["scene"] == 2 and values["last_review"]["action"] == "reject"
    # The timeline shows where the draft went: the critic, your rejection and its note, the critic again.
    html = client.get("/scene", params={"run": "run", "n": 2}).text
    assert (
        html.index("critic #1: pass") < html.index("you: reject the scene</b> → novelist") < html.index(note)
    )
    assert html.index(note) < html.index("critic #2: pass")


def test_edit_through_the_api_shows_the_diff_and_reruns_only_downstream(tmp_path, fake_models, passing):
    make_run(tmp_path, fake_models, [])
    client, room = client_for(tmp_path, model_factory=fake_models)
    reply = post(client, "edit", {"scene": 2, "stage": "prose", "text": NEW_PROSE})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert "+" + NEW_PROSE in body["diff"] and body["stale"] == {
        "2": "screenplay, critic, commit",
        "3": "all",
    }
    assert finish_job(room).state == "finished"
    assert fake_models.calls == {"screenwriter": 2, "planner": 1, "novelist": 1}
    assert post(client, "edit", {"scene": 2, "stage": "prose", "text": NEW_PROSE}).json() == {
        "unchanged": True
    }
    bad = post(client, "edit", {"scene": 2, "stage": "directives", "text": "{not json"})
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
    html = client.get("/scene", params={"run": "run", "n": 3}).text
    assert (
        "re-run after edit #1 (scene 2 prose edit)" in html and 'class="restore" data-version="3.1"' in html
    )

    reply = post(client, "restore", {"version": "2.1"})
    assert reply.status_code == 200 and reply.json()["edit"]["restored"] == "2.1"
    assert finish_job(room).state == "finished"


def test_progress_streams_as_server_sent_events(tmp_path, fake_models, passing):
    make_run(tmp_path, fake_models, [])
    client, room = client_for(tmp_path, model_factory=fake_models)
    post(client, "edit", {"scene": 3, "stage": "prose", "text": NEW_PROSE})
    finish_job(room)
    events = []
    with client.stream("GET", "/events", params={"run": "run", "after": 0}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in stream.headers  # never gzipped: a buffered stream would stall
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["type"] == "job" and events[-1]["state"] != "running":
                    break
    nodes = [e["node"] for e in events if e["type"] == "node"]
    assert events[0] == {**events[0], "type": "job", "state": "running"}
    assert nodes == ["screenwriter", "critic", "commit", "assemble"]
    assert events[-1]["state"] == "finished"


def test_a_run_driven_elsewhere_is_refused(tmp_path, fake_models, passing):
    run = make_run(tmp_path, fake_models, ["scene"])
    client, _ = client_for(tmp_path, model_factory=fake_models)
    with holding(run, "dsr resume in a terminal"):
        reply = post(client, "review", {"action": "approve"})
        assert reply.status_code == 409 and "dsr resume in a terminal" in reply.json()["error"]
        assert post(client, "edit", {"scene": 1, "stage": "prose", "text": NEW_PROSE}).status_code == 409


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "refusing to serve on 0.0.0.0"),
        (["--host", "0.0.0.0", "--token", "short"], "at least 16 characters"),
    ],
)
def test_dsr_room_refuses_other_hosts_without_a_token(
    tmp_path, fake_models, passing, monkeypatch, capsys, args, message
):
    make_run(tmp_path, fake_models, [])
    code, out = dsr(monkeypatch, capsys, "room", str(tmp_path), *args)
    assert code == 2 and message in out and len(out.strip().splitlines()) == 1


def test_dsr_room_needs_runs(tmp_path, monkeypatch, capsys):
    code, out = dsr(monkeypatch, capsys, "room", str(tmp_path))
    assert code == 2 and "holds no run" in out
    code, out = dsr(monkeypatch, capsys, "room", str(tmp_path / "missing"))
    assert code == 2 and "not a directory" in out


# Hardening (issue "Hardening, third round", class 2): every body shape a client can send is a 400 with one
# message, never a 500; a body past the limit is refused without being read whole; open event streams do not
# hold a worker thread each, so pages stay quick while many tabs follow a run.


@pytest.mark.parametrize(
    ("kind", "body", "says"),
    [
        ("edit", b'{"scene": null, "stage": "prose", "text": "x"}', "'scene' must be an integer"),
        ("edit", b'{"scene": [1], "stage": "prose", "text": "x"}', "'scene' must be an integer"),
        ("edit", b'{"scene": 1e400, "stage": "prose", "text": "x"}', "finite"),
        ("edit", b'{"scene": NaN, "stage": "prose", "text": "x"}', "not JSON"),
        ("edit", b'{"scene": true, "stage": "prose", "text": "x"}', "'scene' must be an integer"),
        ("edit", b'{"scene": 2.5, "stage": "prose", "text": "x"}', "'scene' must be an integer"),
        ("edit", b'{"scene": -3, "stage": "prose", "text": "x"}', "'scene' must be"),
        ("edit", b'{"scene": 99999999999999999999, "stage": "prose", "text": "x"}', "'scene' must be"),
        ("edit", b'{"scene": 2, "stage": ["prose"], "text": "x"}', "'stage' must be a string"),
        ("edit", b'{"scene": 2, "stage": "prose", "text": {"a": 1}}', "'text' must be a string"),
        ("edit", b'{"scene": 2, "stage": "prose"}', "needs 'text'"),
        ("edit", b'{"scene": 2, "stage": "prose", "text": "x", "extra": 1}', "unknown field 'extra'"),
        ("edit", b"[1]", "must be a JSON object"),
        ("edit", b"1e400", "finite"),
        ("edit", b"null", "must be a JSON object"),
        ("edit", b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        ("edit", b'\xff{"scene": 2}', "not JSON"),
        (
            "edit",
            b'{"scene": 2, "stage": "directives", "text": "' + b"[" * 50_000 + b'"}',
            "nested too deeply",
        ),
        ("review", b'{"action": null}', "action must be one of"),
        ("review", b'{"action": ["approve"]}', "action must be one of"),
        ("review", b'{"action": "reject", "note": 5}', "'note' must be a string"),
        ("review", b'{"action": "edit", "value": {"x": 1}}', "'value' must be a string"),
        ("review", b'{"action": "reject", "note": "n", "stage": 3}', "'stage' must be a string"),
        ("restore", b'{"version": 2.1}', "'version' must be a string"),
        ("restore", b'{"version": null}', "'version' must be a string"),
        ("restore", b"{}", "needs 'version'"),
        ("resume", b'{"now": true}', "unknown field 'now'"),
    ],
)
def test_every_body_shape_is_a_400_with_one_message(tmp_path, fake_models, passing, kind, body, says):
    make_run(tmp_path, fake_models, ["scene"] if kind == "review" else [])
    client, room = client_for(tmp_path, model_factory=fake_models)
    reply = client.post(
        f"/api/{kind}",
        params={"run": "run"},
        content=body,
        headers={"X-Room-Key": KEY, "Content-Type": "application/json"},
    )
    assert reply.status_code == 400, reply.text
    message = reply.json()["error"]
    assert says in message and "\n" not in message and "Traceback" not in message
    assert room.jobs.job("run") is None  # nothing was started


def test_a_body_past_the_limit_is_refused_before_it_is_read(tmp_path, fake_models, passing):
    from dsr.room.app import MAX_BODY

    make_run(tmp_path, fake_models, [])
    client, _ = client_for(tmp_path, model_factory=fake_models)
    headers = {"X-Room-Key": KEY, "Content-Type": "application/json"}
    declared = client.post(
        "/api/edit", params={"run": "run"}, content=b"{" + b" " * (MAX_BODY + 10) + b"}", headers=headers
    )
    assert declared.status_code == 413 and "at most" in declared.json()["error"]

    # No Content-Length (chunked): the room stops reading once the limit is passed, answers, and hangs up
    # long before a 300 MiB body has been sent.
    app = create_app(tmp_path, hosts=None, key=KEY, model_factory=fake_models)
    with _LiveRoom(app) as live:
        sent, answer = _send_chunked(live.port, "/api/edit?run=run", total_mib=300)
    assert answer.startswith(b"HTTP/1.1 413") and b"at most" in answer, answer[:300]
    assert sent < 64 * 1024 * 1024, f"{sent} bytes were taken before the refusal"


def _send_chunked(port: int, path: str, total_mib: int) -> tuple[int, bytes]:
    """POST ``total_mib`` MiB in chunks until the server answers or hangs up: (bytes sent, its answer)."""
    import select
    import socket

    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Room-Key: {KEY}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    sock.sendall(head.encode())
    chunk = b"100000\r\n" + b" " * 0x100000 + b"\r\n"
    sent = 0
    try:
        for _ in range(total_mib):
            if select.select([sock], [], [], 0)[0]:
                break
            sock.sendall(chunk)
            sent += 0x100000
    except OSError:  # the room hung up mid-body
        pass
    answer = b""
    try:  # the status line and headers, then the body its Content-Length gives
        while b"\r\n\r\n" not in answer and (data := sock.recv(65536)):
            answer += data
        head, _, body = answer.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length")
            ),
            0,
        )
        while len(body) < length and (data := sock.recv(65536)):
            body += data
        answer = head + b"\r\n\r\n" + body
    except OSError:
        pass
    sock.close()
    return sent, answer


class _LiveRoom:
    """The room served by uvicorn in a thread (the event streams and thread pool as `dsr room` runs them)."""

    def __init__(self, app) -> None:
        import socket
        import threading

        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> _LiveRoom:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the room did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()

    def open_stream(self):
        import socket

        sock = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        sock.sendall(f"GET /events?run=run HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode())
        return sock


def _page_seconds(port: int, times: int = 5) -> float:
    """The median time a page request takes (each bounded: a stall fails, never hangs)."""
    import statistics
    import time

    import httpx

    took = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
        for _ in range(times):
            started = time.monotonic()
            assert http.get("/api/state", params={"run": "run"}).status_code == 200
            took.append(time.monotonic() - started)
    return statistics.median(took)


def test_open_event_streams_do_not_slow_the_pages(tmp_path, fake_models, passing):
    """60 tabs following the run (the threads-per-stream room: 11-15 s a page) keep pages within 2x of idle;
    past the room's stream limit a stream is refused with a clear 503, not queued."""
    from dsr.room.app import MAX_STREAMS

    make_run(tmp_path, fake_models, [])
    app = create_app(tmp_path, hosts=None, key=KEY, ping=0.5, model_factory=fake_models)
    with _LiveRoom(app) as live:
        _page_seconds(live.port, 2)  # warm up
        idle = _page_seconds(live.port)
        streams = [live.open_stream() for _ in range(60)]
        try:
            for sock in streams:  # every stream has started (and answered its first line)
                assert b"text/event-stream" in sock.recv(4096)
            busy = _page_seconds(live.port)
            print(f"page: {idle * 1000:.0f} ms idle, {busy * 1000:.0f} ms with 60 event streams open")
            assert busy <= 2 * idle + 0.1, f"{busy:.3f} s with 60 streams open vs {idle:.3f} s idle"
            streams += [live.open_stream() for _ in range(MAX_STREAMS - 60)]
            refused = live.open_stream()
            answer = refused.recv(4096)
            refused.close()
            assert answer.startswith(b"HTTP/1.1 503") and b"event streams" in answer, answer[:300]
        finally:
            for sock in streams:
                sock.close()
        # Closed streams are given back: a new one is served.
        import time

        deadline = time.monotonic() + 10
        while app.state.room.streams and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.room.streams == 0
