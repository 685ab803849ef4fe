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
    client, _ = client_for(tmp_path)
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
    client, _ = client_for(tmp_path)
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
    client, _ = client_for(tmp_path)
    refused = client.get("/", headers={"Host": "attacker.example:8000"})
    assert refused.status_code == 421 and "answers only at" in refused.text
    assert post(client, "resume", key="wrong").status_code == 403
    assert client.post("/api/resume", params={"run": "run"}).status_code == 403  # no key at all

    token = "a-long-enough-token"
    guarded, _ = client_for(tmp_path, token=token)
    assert guarded.get("/").status_code == 401
    entry = guarded.get("/", params={"token": token}, follow_redirects=False)
    assert entry.status_code == 303 and "token" not in entry.headers["location"]  # out of the address bar
    assert guarded.get("/run", params={"run": "run"}).status_code == 200  # the cookie carries it now

    assert allowed_hosts("127.0.0.1", 8123) == {"127.0.0.1:8123", "localhost:8123", "[::1]:8123"}
    assert allowed_hosts("0.0.0.0", 8123) is None  # any Host: the token guards it


def test_approve_and_reject_with_a_note_through_the_api(tmp_path, fake_models, passing):
    run = make_run(tmp_path, fake_models, ["scene"])
    client, room = client_for(tmp_path)
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
    client, room = client_for(tmp_path)
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
    client, room = client_for(tmp_path)
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
    client, _ = client_for(tmp_path)
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
