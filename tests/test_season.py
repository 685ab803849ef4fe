"""``dsr season`` (run/season.py, cli/season.py): season files and their dependency chains, episodes written
at once against shared memory, one failing episode paused on its own, a season killed with SIGKILL and
continued by another process with nothing lost and no finished model call made again.

The models are the scripted room (tests/scripted_room.py) behind ``dsr serve``'s app on 127.0.0.1 with a fixed
latency; memory and checkpoints are real (Chroma, SQLite; PostgreSQL and a Chroma server for the kill test).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsr.common.errors import BadInput
from dsr.contract.call_log import read_call_log
from dsr.run.season import load_season
from tests.conftest import ServedModel
from tests.scripted_room import episode_yaml
from tests.servers import VENV_BIN, is_user_setting, served_chat_model

LATENCY_S = 0.5


def season_dir(tmp_path: Path, episodes: dict[str, str], season: str) -> Path:
    for name, text in episodes.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    path = tmp_path / "season.yaml"
    path.write_text(season)
    return path


THREE = (
    "title: Tides\nepisodes:\n  - {file: ep1.yaml, storyline: a}\n  - {file: ep2.yaml, storyline: a}\n"
    "  - {file: ep3.yaml, storyline: b}\n"
)


# season files


def test_storylines_chain_their_episodes_and_after_adds_waits(tmp_path):
    eps = {f"ep{n}": episode_yaml("tides", n, 1) for n in (1, 2, 3, 4)}
    path = season_dir(tmp_path, eps, THREE + "  - {file: ep4.yaml, name: finale, after: [ep2, ep3]}\n")
    title, planned = load_season(path)
    assert title == "Tides"
    assert {p.name: p.needs for p in planned} == {
        "ep1": (),
        "ep2": ("ep1",),
        "ep3": (),
        "finale": ("ep2", "ep3"),
    }
    assert planned[3].spec.episode == 4 and planned[3].source == (tmp_path / "ep4.yaml").resolve()


@pytest.mark.parametrize(
    ("season", "message"),
    [
        ("episodes: []\n", "episodes: List should have at least 1 item"),
        ("episodes:\n  - {file: ep1.yaml, after: [ep9]}\n", "waits for 'ep9', which is not in the season"),
        (
            "episodes:\n  - {file: ep1.yaml, after: [ep2]}\n  - {file: ep2.yaml, after: [ep1]}\n",
            "in a circle",
        ),
        ("episodes:\n  - {file: ep1.yaml}\n  - {file: ep1.yaml}\n", "two episodes are named 'ep1'"),
        (
            "episodes:\n  - {file: ep1.yaml}\n  - {file: ep1.yaml, name: pilot}\n",
            "episodes 'ep1' and 'pilot' are both 'tides' episode 1",
        ),
        ("episodes:\n  - {file: ep1.yaml}\n  - {file: twin.yaml}\n", "are both 'tides' episode 1"),
        ("episodes:\n  - {file: ep1.yaml, name: season.json}\n", "is the season's own file or folder"),
        ("episodes:\n  - {file: ep1.yaml, name: Memory}\n", "is the season's own file or folder"),
        ("episodes:\n  - {file: missing.yaml}\n", "missing.yaml does not exist"),
        ("episodes:\n  - {file: ep1.yaml, name: ../up}\n", "episodes.0.name"),
        ("episodes:\n  - {file: ep1.yaml, colour: red}\n", "colour: Extra inputs are not permitted"),
        ("episodes: [\n", "is not valid YAML"),
        ("- just a list\n", "must be a YAML mapping"),
    ],
)
def test_a_bad_season_file_is_one_line(tmp_path, season, message):
    path = season_dir(
        tmp_path,
        {
            "ep1": episode_yaml("tides", 1, 1),
            "ep2": episode_yaml("tides", 2, 1),
            "twin": episode_yaml("tides", 1, 2),
        },
        season,
    )
    with pytest.raises(BadInput, match=message.replace("[", r"\[").replace(".", r"\.")) as info:
        load_season(path)
    assert "\n" not in str(info.value)


# seasons for real


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> Iterator[tuple[ServedModel, Path]]:
    """The scripted room; a scene marked to fail keeps failing until the 'healed' file exists."""
    healed = tmp_path_factory.mktemp("room") / "healed"
    os.environ["DSR_ROOM_HEALED"] = str(healed)
    try:
        with served_chat_model("tests.scripted_room:ScriptedRoom", "room", LATENCY_S) as url:
            yield ServedModel(url, "room", healed.parent / "requests.jsonl"), healed
    finally:
        os.environ.pop("DSR_ROOM_HEALED", None)


@pytest.fixture
def room_roles(room, monkeypatch) -> Path:
    """Every role of this process on the room; returns the file that heals the room's failing scenes."""
    from dsr.models.settings import ROLES

    served, healed = room
    for key in [k for k in os.environ if is_user_setting(k)]:
        monkeypatch.delenv(key)
    for key, value in served.env(*ROLES, max_new_tokens=2048).items():
        monkeypatch.setenv(key, value)
    return healed


def model_calls(run: Path) -> list[dict]:
    return [c for c in read_call_log(run / "calls.jsonl") if c.get("ok") is not None]


def span(run: Path) -> tuple[float, float]:
    calls = model_calls(run)
    return min(c["time"] for c in calls), max(c["time"] + c["seconds"] for c in calls)


@pytest.mark.slow
def test_a_season_runs_storylines_in_order_and_side_by_side(tmp_path, room_roles):
    from dsr.contract.context import RunContext
    from dsr.run.season import SEASON_FILE, Season

    path = season_dir(tmp_path, {f"ep{n}": episode_yaml("tides", n, 2) for n in (1, 2, 3)}, THREE)
    _, planned = load_season(path)
    out, seen = tmp_path / "out", []
    template = RunContext(memory_dir=str(out / "memory"))
    statuses = Season(planned, out, template, workers=2, on_change=seen.append).run()

    assert {s.status for s in statuses.values()} == {"done"}
    assert all((out / name / "episode.fountain").is_file() for name in ("ep1", "ep2", "ep3"))
    (start1, end1), (start2, _), (start3, end3) = (span(out / name) for name in ("ep1", "ep2", "ep3"))
    assert end1 <= start2, "episode 2 starts after episode 1 of its storyline is written"
    assert start3 < end1 and start1 < end3, "the other storyline is written at the same time"
    x = json.loads((out / "ep2" / "scenes" / "01" / "inputs.json").read_text())
    assert "tides:0001:0002" in x["previous"]["source_ids"], "episode 2 reads what episode 1 committed"
    record = json.loads((out / SEASON_FILE).read_text())
    assert [(e["name"], e["status"], e["waits_for"]) for e in record["episodes"]] == [
        ("ep1", "done", []),
        ("ep2", "done", ["ep1"]),
        ("ep3", "done", []),
    ]
    assert [s.status for s in seen if s.name == "ep2"][:2] == ["waiting", "running"]
    assert any(s.detail.startswith("scene 2/2") for s in seen if s.name == "ep3"), "progress per episode"


@pytest.mark.slow
def test_a_failing_episode_pauses_alone_and_the_season_continues_it(tmp_path, room_roles):
    from dsr.contract.context import RunContext
    from dsr.run.season import Season

    eps = {
        "ep1": episode_yaml("tides", 1, 2, fail=True),
        "ep2": episode_yaml("tides", 2, 1),
        "ep3": episode_yaml("tides", 3, 2),
    }
    _, planned = load_season(season_dir(tmp_path, eps, THREE))
    out = tmp_path / "out"
    template = RunContext(memory_dir=str(out / "memory"))
    first = Season(planned, out, template, workers=3).run()
    assert (first["ep1"].status, first["ep2"].status, first["ep3"].status) == ("paused", "held", "done")
    assert "kept failing (HTTP 500)" in first["ep1"].detail and first["ep1"].scenes_done == 1
    assert first["ep2"].detail == "waits for ep1, which is stopped" and not (out / "ep2").exists()
    calls_before = model_calls(out / "ep1")

    room_roles.touch()  # the endpoint is back
    second = Season(planned, out, template, workers=3).run()
    assert {s.status for s in second.values()} == {"done"}
    calls_after = model_calls(out / "ep1")
    assert calls_after[: len(calls_before)] == calls_before
    scene_one = [c for c in calls_after[len(calls_before) :] if c["scene"] == 1]
    assert not scene_one, "the committed scene is not written again"
    assert len(model_calls(out / "ep3")) == 10, "the finished episode is not touched"
    room_roles.unlink()


@pytest.mark.slow
def test_a_season_killed_mid_scene_continues_in_another_process(tmp_path, room, postgres_url, chroma_url):
    """``dsr season`` on PostgreSQL and a Chroma server, SIGKILLed while episodes are mid-scene, run again by a
    new process: every committed scene is kept and no finished model call is made again."""
    from dsr.models.settings import ROLES
    from dsr.run.runner import run_state

    served, _ = room
    eps = {f"ep{n}": episode_yaml("killed", n, 3) for n in (1, 2, 3)}
    path = season_dir(tmp_path, eps, THREE)
    env = {k: v for k, v in os.environ.items() if not is_user_setting(k)} | served.env(
        *ROLES, max_new_tokens=2048
    )
    out = tmp_path / "out"
    cmd = [
        str(VENV_BIN / "dsr"),
        "season",
        str(path),
        "-o",
        str(out),
        "--workers",
        "3",
        "--checkpoints",
        postgres_url,
        "--memory",
        chroma_url,
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and proc.poll() is None and len(model_calls(out / "ep3")) < 7:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read()[-2000:] if proc.stderr else "finished before the kill"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = time.time()

    before = {n: run_state(out / n, checkpoints=postgres_url)[2] for n in ("ep1", "ep3")}
    finished_before = {n: [c for c in model_calls(out / n) if c["ok"]] for n in ("ep1", "ep3")}
    assert all(len(v.get("scenes", [])) >= 1 for v in before.values())

    again = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    assert again.returncode == 0, again.stderr[-2000:]
    for name in ("ep1", "ep2", "ep3"):
        assert [s["scene"] for s in json.loads((out / name / "report.json").read_text())["scenes"]] == [
            1,
            2,
            3,
        ]
    for name, values in before.items():
        _, _, after = run_state(out / name, checkpoints=postgres_url)
        assert after["scenes"][: len(values["scenes"])] == values["scenes"], "0 committed scenes lost"
        # 0 finished calls made again: every call that had finished before the kill belongs to a node whose
        # checkpoint kept it, so nothing after the kill repeats its (scene, node, step).
        redone = {
            (c["scene"], c["node"], c["step"]) for c in model_calls(out / name) if c["time"] > killed_at
        }
        repeated = [c for c in finished_before[name] if (c["scene"], c["node"], c["step"]) in redone]
        assert not repeated, f"{name}: finished calls made again: {repeated}"
