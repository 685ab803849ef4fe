"""The DSR graph for real: embedded model, Chroma memory, SQLite checkpoints, kill + resume, langgraph dev.

Token limits are small so each model call takes a second or two; the quality is the embedded model's
(poor), the machinery is the product's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pdfplumber
import pytest

from graph.call_log import read_call_log
from graph.runner import run_state
from screenplay.fdx import parse_fdx
from screenplay.fountain import parse_fountain
from tests.servers import VENV_BIN, free_port, running

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "harbor-lights.yaml"
SMALL = {
    "DSR_PLANNER__MAX_NEW_TOKENS": "64",
    "DSR_NOVELIST__MAX_NEW_TOKENS": "64",
    "DSR_SCREENWRITER__MAX_NEW_TOKENS": "64",
    "DSR_CRITIC__MAX_NEW_TOKENS": "48",
    "DSR_NOVELIST__SEED": "7",
    "DSR_SCREENWRITER__SEED": "7",
}


def _env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DSR_")}
    return {**clean, **SMALL}


def dsr(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "dsr"), *args], env=_env(), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def report_calls(report: dict) -> int:
    return int(sum(role["calls"] for role in report["total"]["roles"].values()))


def test_episode_end_to_end(tmp_path):
    run = tmp_path / "run"
    result = dsr("write", str(EXAMPLE), "-o", str(run), "--scenes", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    doc = parse_fountain((run / "episode.fountain").read_text())
    assert len(doc.scenes) == 2 and [s.heading.scene_number for s in doc.scenes] == ["1", "2"]
    assert doc.title() == "Harbor Lights"
    assert len(parse_fdx((run / "episode.fdx").read_bytes()).scenes) == 2
    with pdfplumber.open(run / "episode.pdf") as pdf:
        assert len(pdf.pages) >= 2
    report = json.loads((run / "report.json").read_text())
    assert [s["scene"] for s in report["scenes"]] == [1, 2]
    for scene in report["scenes"]:
        assert {"novelist", "screenwriter"} <= set(scene["roles"])
        assert {"retrieve_context", "novelist", "screenwriter", "critic", "commit"} <= set(scene["node_seconds"])
        assert scene["status"] in ("passed", "accepted_with_findings")
        assert "errors" in scene["lint"]
        for stage, reruns in scene["retries"].items():
            assert stage in ("planner", "novelist", "screenwriter") and all(r["reasons"] for r in reruns)
        folder = run / "scenes" / f"{scene['scene']:02d}"
        for name in ("inputs.json", "directives.json", "prose.md", "screenplay.fountain", "critique.json"):
            assert (folder / name).is_file(), name
        verdicts = json.loads((folder / "critique.json").read_text())
        assert len(verdicts) == 1 + sum(len(r) for r in scene["retries"].values())
    assert report_calls(report) == len(read_call_log(run / "calls.jsonl"))
    # The second scene's X carries what the first established.
    x2 = json.loads((run / "scenes" / "02" / "inputs.json").read_text())
    assert "Mara finds a stranger" in x2["previous"]["story_so_far"] and x2["previous"]["source_ids"]
    assert "Traceback" not in result.stderr and "wrote" in result.stdout


def test_killed_run_resumes_without_repeating_calls(tmp_path):
    run = tmp_path / "run"
    cmd = [str(VENV_BIN / "dsr"), "write", str(EXAMPLE), "-o", str(run), "--scenes", "2", "--mode", "dsr-nocot"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = run / "calls.jsonl"
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and len(read_call_log(log)) < 3 and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _, _, before = run_state(run)
    logged_before = len(read_call_log(log))
    assert before["calls"], "at least one finished node was checkpointed"

    result = dsr("resume", str(run))
    assert result.returncode == 0, result.stderr[-2000:]
    _, _, after = run_state(run)
    assert after["calls"][: len(before["calls"])] == before["calls"], "checkpointed calls are kept, not redone"
    def requests(calls: list[dict]) -> int:
        return sum(c["requests"] for c in calls)

    made_after_resume = len(read_call_log(log)) - logged_before
    assert made_after_resume == requests(after["calls"]) - requests(before["calls"])
    # Only the calls of the node running at the kill can be lost (and made again): one stage call, or the
    # critic's rubric answer plus its repair turn.
    assert len(read_call_log(log)) - requests(after["calls"]) <= 2
    assert len(json.loads((run / "report.json").read_text())["scenes"]) == 2


def test_series_memory_carries_into_the_next_episode(tmp_path):
    memory = tmp_path / "series-memory"
    first = dsr("write", str(EXAMPLE), "-o", str(tmp_path / "ep1"), "--scenes", "1", "--mode", "e2e",
                "--no-rubric", "--memory", str(memory))  # fmt: skip
    assert first.returncode == 0, first.stderr[-2000:]
    episode2 = tmp_path / "ep2.yaml"
    episode2.write_text(
        "title: Harbor Lights 2\nseries: harbor-lights\nepisode: 2\n"
        "characters:\n  - name: MARA\n    profile: Lighthouse keeper.\n  - name: TOM\n    profile: Sailor.\n"
        "scenes:\n  - outline: Mara and Tom row to the mainland at first light.\n"
    )
    second = dsr("write", str(episode2), "-o", str(tmp_path / "ep2"), "--mode", "e2e", "--no-rubric",
                 "--memory", str(memory))  # fmt: skip
    assert second.returncode == 0, second.stderr[-2000:]
    x = json.loads((tmp_path / "ep2" / "scenes" / "01" / "inputs.json").read_text())
    assert "Mara finds a stranger" in x["previous"]["story_so_far"]
    assert any(source.startswith("harbor-lights:0001:0001") for source in x["previous"]["source_ids"])


def test_review_pause_and_scripted_resume(tmp_path):
    run = tmp_path / "run"
    paused = dsr("write", str(EXAMPLE), "-o", str(run), "--scenes", "1", "--mode", "e2e", "--no-rubric",
                 "--review", "scene")  # fmt: skip
    assert paused.returncode == 3 and "paused for review of the scene" in paused.stderr
    edited = tmp_path / "edited.fountain"
    edited.write_text("EXT. LIGHTHOUSE BASE - NIGHT\n\nMara raises her lantern.\n\nMARA\nWho's there?\n")
    done = dsr("resume", str(run), "--edit", str(edited))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((run / "report.json").read_text())
    assert report["scenes"][0]["status"] == "edited_by_human"
    assert "Who's there?" in (run / "episode.fountain").read_text()


def test_interrupt_and_resume_over_langgraph_dev(tmp_path):
    """Studio's server: the scene graph pauses at prose review and resumes via langgraph-sdk."""
    from langgraph_sdk import get_client

    from graph.episode_spec import load_episode

    port = free_port()
    env = {**SMALL, "LANGGRAPH_CLI_NO_ANALYTICS": "1"}
    cmd = [str(VENV_BIN / "langgraph"), "dev", "--host", "127.0.0.1", "--port", str(port), "--no-browser",
           "--no-reload", "--config", str(ROOT / "langgraph.json")]  # fmt: skip
    with running(cmd, f"http://127.0.0.1:{port}/ok", env=env, timeout=240):
        import asyncio

        async def scenario() -> None:
            client = get_client(url=f"http://127.0.0.1:{port}")
            thread = await client.threads.create()
            x = load_episode(EXAMPLE).task_input(0).model_dump(mode="json")
            context = {"mode": "dsr-nocot", "review": ["prose"], "use_rubric": False}
            await client.runs.wait(thread["thread_id"], "scene", input={"x": x}, context=context)
            state = await client.threads.get_state(thread["thread_id"])
            interrupts = [i for task in state["tasks"] for i in task.get("interrupts", [])]
            assert interrupts and interrupts[0]["value"]["point"] == "prose"
            assert interrupts[0]["value"]["prose"]
            # Every novelist draft (first and any the critic sends back) stops at prose review.
            for _ in range(6):
                final = await client.runs.wait(
                    thread["thread_id"], "scene", command={"resume": {"action": "approve"}}, context=context
                )
                if "accepted" in final:
                    break
                assert final["__interrupt__"][0]["value"]["point"] == "prose"
            assert final["accepted"]["screenplay"].startswith(("INT", "EXT"))
            assert final["accepted"]["status"] in ("passed", "accepted_with_findings")

        asyncio.run(scenario())
