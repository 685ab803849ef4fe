"""The DSR graph for real: embedded model, Chroma memory, SQLite checkpoints, kill + resume, langgraph dev,
and the critic's rubric judged by the embedded model inside `dsr write`.

Token limits are small so each model call takes a second or two; the quality is the embedded model's
(poor), the machinery is the product's.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pdfplumber
import pytest

from dsr.contract.call_log import read_call_log, read_outcomes
from dsr.run.runner import run_state
from dsr.screenplay.fdx_reader import parse_fdx
from dsr.screenplay.fountain_reader import parse_fountain
from tests.servers import VENV_BIN, free_port, is_user_setting, running

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "harbor-lights.yaml"
SMALL = {
    "DSR_PLANNER__MAX_NEW_TOKENS": "64",
    "DSR_NOVELIST__MAX_NEW_TOKENS": "64",
    "DSR_SCREENWRITER__MAX_NEW_TOKENS": "64",
    "DSR_CRITIC__MAX_NEW_TOKENS": "48",
    "DSR_MEMORY__MAX_NEW_TOKENS": "128",  # fact extraction at commit: one short fact (or a recorded failure)
    "DSR_NOVELIST__SEED": "7",
    "DSR_SCREENWRITER__SEED": "7",
}


def _env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not is_user_setting(k)}
    return {**clean, **SMALL, **extra}


def dsr(*args: str, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "dsr"), *args],
        env=_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def check_rubric_accounting(run: Path, report: dict) -> list[dict]:
    """Every critic verdict either skipped the rubric because a deterministic check failed, or records the
    rubric as judged or unjudged; the critic's model calls in calls.jsonl are the rubric's attempts.
    Returns the verdicts that ran the rubric."""
    ran = []
    for scene in report["scenes"]:
        verdicts = json.loads((run / "scenes" / f"{scene['scene']:02d}" / "critique.json").read_text())
        for verdict in verdicts:
            errors = [f for f in verdict["findings"] if f["severity"] == "error" and f["check"] != "H-rubric"]
            if verdict["rubric"] is None:
                assert errors, "the rubric is on: only a failing deterministic check may skip it"
                continue
            assert not errors and verdict["rubric"]["status"] in ("judged", "unjudged")
            ran.append(verdict)
        assert scene["rubric_status"] == ((verdicts[-1]["rubric"] or {}).get("status") or "off")
    # The rubric's calls: the critic node also runs the continuity check, on the memory role.
    critic_calls = [
        c for c in read_call_log(run / "calls.jsonl") if c["node"] == "critic" and c["role"] == "critic"
    ]
    assert len(critic_calls) == sum(v["rubric"]["attempts"] for v in ran)
    assert report["total"]["unjudged"] == sum(s["rubric_status"] == "unjudged" for s in report["scenes"])
    return ran


def report_calls(report: dict) -> int:
    return int(sum(role["calls"] for role in report["total"]["roles"].values()))


def checkpoint_step(run: Path, checkpoints: str | None = None) -> int:
    """The graph step of the run's last checkpoint: every node of that step or before it has finished."""
    from dsr.run.history import episode_thread
    from dsr.run.runner import run_graph

    with run_graph(run, "episode", checkpoints) as graph:
        return int(graph.get_state(episode_thread(run)).metadata["step"])


def check_resume_repeated_nothing(
    log: Path, step: int, logged_before: int, outcomes_before: int, lost: int
) -> None:
    """A run killed after its checkpoint of ``step``, with ``logged_before`` model calls and ``outcomes_before``
    node outcomes in calls.jsonl, was resumed: no finished node's call was made again (each call since the
    resume is of a later step), the nodes' outcomes account for every call since, and at most ``lost`` calls
    (the node in flight at the kill) were made before the kill for nothing."""
    calls = read_call_log(log)
    since = calls[logged_before:]
    assert since and all(call["step"] > step for call in since), "a finished node's call was made again"
    assert len(since) == sum(outcome["requests"] for outcome in read_outcomes(log)[outcomes_before:])
    assert sum(call["step"] > step for call in calls[:logged_before]) <= lost


@pytest.fixture(scope="module")
def episode_one(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """Episode 1 written once (two scenes, the whole DSR pipeline, rubric on) into a series memory:
    (run directory, memory directory, the dsr write result). The episode and the series tests share it."""
    root = tmp_path_factory.mktemp("episode-one")
    result = dsr(
        "write",
        str(EXAMPLE),
        "-o",
        str(root / "run"),
        "--scenes",
        "2",
        "--memory",
        str(root / "memory"),
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return root / "run", root / "memory", result


def test_episode_end_to_end(episode_one):
    run, _, result = episode_one
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
        assert {"retrieve_context", "novelist", "screenwriter", "critic", "commit"} <= set(
            scene["node_seconds"]
        )
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
    check_rubric_accounting(run, report)  # with 64-token drafts the checks usually fail first: no rubric call
    # The second scene's X carries what the first established.
    x2 = json.loads((run / "scenes" / "02" / "inputs.json").read_text())
    assert "Mara finds a stranger" in x2["previous"]["story_so_far"] and x2["previous"]["source_ids"]
    assert "Traceback" not in result.stderr and "wrote" in result.stdout
    # stdout was a pipe: one plain line per node finished (no live bar to draw), their calls adding up to the log.
    lines = [line for line in result.stdout.splitlines() if line.startswith("dsr: scene ")]
    assert any(line.startswith("dsr: scene 1/2 planner done in ") for line in lines), result.stdout[-2000:]
    assert any(line.startswith("dsr: scene 2/2 commit done in ") for line in lines)
    assert any(", verdict " in line for line in lines if " critic done " in line)
    logged = sum(int(line.split(" s, ")[1].split(" model call")[0]) for line in lines)
    assert logged == len(read_call_log(run / "calls.jsonl"))


def test_rubric_runs_with_the_embedded_judge_when_the_checks_pass(tmp_path):
    """The critic's rubric for real inside `dsr write`: a served fixed screenwriter writes a scene that passes
    every deterministic check, so the embedded model must judge it; its verdict (or its failure, as
    ``unjudged``) is what the run records, reports and prints."""
    from tests.servers import served_chat_model

    run = tmp_path / "run"
    with served_chat_model("tests.recording:GoodScene", "good-scene", 0) as base_url:
        screenwriter = {
            "DSR_SCREENWRITER__PROVIDER": "openai",
            "DSR_SCREENWRITER__BASE_URL": base_url,
            "DSR_SCREENWRITER__MODEL": "good-scene",
            "DSR_SCREENWRITER__MAX_RETRIES": "0",
        }
        result = dsr(
            "write",
            str(EXAMPLE),
            "-o",
            str(run),
            "--scenes",
            "1",
            "--mode",
            "e2e",
            "--max-retries",
            "0",
            env=screenwriter,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((run / "report.json").read_text())
    (verdict,) = check_rubric_accounting(run, report)
    critic_calls = [
        c for c in read_call_log(run / "calls.jsonl") if c["node"] == "critic" and c["role"] == "critic"
    ]
    assert 1 <= len(critic_calls) <= 2  # the answer, and a repair turn when it was not a verdict
    rubric, (scene,) = verdict["rubric"], report["scenes"]
    assert scene["roles"]["critic"]["calls"] == len(critic_calls)
    if all(
        call["ok"] for call in critic_calls
    ):  # report.json's structured figures are this run's calls.jsonl
        figures = report["total"]["structured"]["critic"]
        assert figures == scene["structured"]["critic"] and figures["mechanisms"] == {"grammar": 1}
        assert figures["calls"] == 1 and figures["repair_turns"] == len(critic_calls) - 1
    for call in critic_calls:  # a judge call that raised is named in the reason; one that answered, answered
        assert (
            rubric["reason"].startswith(f"{call['error']}: ") if not call["ok"] else call["output_tokens"] > 0
        )
    if rubric["status"] == "judged":
        assert 1 <= rubric["score"] <= 12 and scene["rubric"]["score"] == rubric["score"]
        below = rubric["score"] < rubric["pass_score"]
        assert verdict["decision"] == ("accept_with_findings" if below else "pass")
        assert scene["status"] == ("accepted_with_findings" if below else "passed")
        assert f"{rubric['score']:.1f}" in result.stdout
    else:
        assert rubric["reason"] and rubric["score"] is None and verdict["decision"] == "pass"
        assert scene["status"] == "unjudged" and report["total"]["unjudged"] == 1
        assert "1 of 1 scene(s) unjudged" in result.stdout


def test_killed_run_resumes_without_repeating_calls(tmp_path):
    run = tmp_path / "run"
    cmd = [
        str(VENV_BIN / "dsr"),
        "write",
        str(EXAMPLE),
        "-o",
        str(run),
        "--scenes",
        "2",
        "--mode",
        "dsr-nocot",
    ]
    proc = subprocess.Popen(
        cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    log = run / "calls.jsonl"
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and len(read_call_log(log)) < 3 and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _, _, before = run_state(run)
    step, logged_before, outcomes_before = (
        checkpoint_step(run),
        len(read_call_log(log)),
        len(read_outcomes(log)),
    )
    assert before["timings"], "at least one finished node was checkpointed"

    # The same run with its checkpoints lost (the file truncated, its -wal gone): refused in one line that
    # names the file and the choices, nothing repeated; the real run then resumes.
    lost = tmp_path / "lost"
    shutil.copytree(run, lost)
    for extra in ("-wal", "-shm"):
        (lost / f"checkpoints.sqlite{extra}").unlink(missing_ok=True)
    (lost / "checkpoints.sqlite").write_bytes(b"")
    refused = dsr("resume", str(lost))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr[-2000:]
    assert "holds no checkpoint of this run" in refused.stderr and "--start-over" in refused.stderr
    assert len(read_call_log(lost / "calls.jsonl")) == logged_before

    result = dsr("resume", str(run))
    assert result.returncode == 0, result.stderr[-2000:]
    _, _, after = run_state(run)
    assert after["timings"][: len(before["timings"])] == before["timings"], "checkpointed nodes are kept"
    assert "calls" not in after  # model calls are counted in calls.jsonl, not in the checkpoints
    # Only the calls of the node running at the kill can be lost (and made again): one stage call, the
    # critic's continuity check and rubric (each an answer plus a repair turn), or commit's fact extraction.
    check_resume_repeated_nothing(log, step, logged_before, outcomes_before, lost=4)
    assert len(json.loads((run / "report.json").read_text())["scenes"]) == 2


def test_series_memory_carries_into_the_next_episode(episode_one, tmp_path):
    _, memory, _ = episode_one
    episode2 = tmp_path / "ep2.yaml"
    episode2.write_text(
        "title: Harbor Lights 2\nseries: harbor-lights\nepisode: 2\n"
        "characters:\n  - name: MARA\n    profile: Lighthouse keeper.\n  - name: TOM\n    profile: Sailor.\n"
        "scenes:\n  - outline: Mara and Tom row to the mainland at first light.\n"
    )
    second = dsr(
        "write",
        str(episode2),
        "-o",
        str(tmp_path / "ep2"),
        "--mode",
        "e2e",
        "--no-rubric",
        "--memory",
        str(memory),
    )
    assert second.returncode == 0, second.stderr[-2000:]
    x = json.loads((tmp_path / "ep2" / "scenes" / "01" / "inputs.json").read_text())
    assert "Mara finds a stranger" in x["previous"]["story_so_far"]
    assert any(source.startswith("harbor-lights:0001:0001") for source in x["previous"]["source_ids"])


def test_review_pause_and_scripted_resume(tmp_path):
    run = tmp_path / "run"
    paused = dsr(
        "write",
        str(EXAMPLE),
        "-o",
        str(run),
        "--scenes",
        "1",
        "--mode",
        "e2e",
        "--no-rubric",
        "--review",
        "scene",
    )
    assert paused.returncode == 3 and "paused for review of the scene" in paused.stderr
    edited = tmp_path / "edited.fountain"
    edited.write_text("EXT. LIGHTHOUSE BASE - NIGHT\n\nMara raises her lantern.\n\nMARA\nWho's there?\n")
    done = dsr("resume", str(run), "--edit", str(edited))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((run / "report.json").read_text())
    assert report["scenes"][0]["status"] == "edited_by_human"
    assert "Who's there?" in (run / "episode.fountain").read_text()


@pytest.fixture(scope="module")
def studio() -> Iterator[str]:
    """Studio's server: ``langgraph dev`` on 127.0.0.1 with langgraph.json's graphs (``scene``, ``episode``); its URL."""
    port = free_port()
    env = {**SMALL, "LANGGRAPH_CLI_NO_ANALYTICS": "1"}
    cmd = [
        str(VENV_BIN / "langgraph"),
        "dev",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-browser",
        "--no-reload",
        "--config",
        str(ROOT / "langgraph.json"),
    ]
    with running(cmd, f"http://127.0.0.1:{port}/ok", env=env, timeout=240):
        yield f"http://127.0.0.1:{port}"


def _resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` of a JSON schema with its ``$ref`` (or its one non-null ``anyOf`` choice) followed."""
    choices = [c for c in node.get("anyOf", []) if c.get("type") != "null"]
    node = choices[0] if len(choices) == 1 else node
    if "$ref" in node:
        return _resolved(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[1]])
    return node


def test_studio_gets_both_graphs_typed_input_and_output_schemas(studio):
    """The server builds each graph's input and output schema from the typed state (Studio's input form): X,
    the episode file, verdicts and accepted scenes have their fields, and the call log is not state."""
    from langgraph_sdk import get_client

    async def schemas() -> dict[str, dict[str, Any]]:
        client = get_client(url=studio)
        found = {}
        for graph in ("scene", "episode"):  # the assistant the server made for each graph of langgraph.json
            (assistant,) = await client.assistants.search(graph_id=graph)
            found[graph] = await client.assistants.get_schemas(assistant["assistant_id"])
        return found

    got = asyncio.run(schemas())
    for graph, found in got.items():
        for which in ("input_schema", "output_schema"):
            schema = found[which]
            assert schema and schema.get("properties"), f"{graph}: no {which}"
            fields = schema["properties"]
            assert "calls" not in fields and {"x", "directives", "verdicts", "accepted"} <= set(fields)
            x = _resolved(schema, fields["x"])
            assert {"outline", "previous", "characters", "meta"} == set(x["properties"])
            assert x["required"] == ["outline"] and _resolved(schema, x["properties"]["outline"])[
                "required"
            ] == ["synopsis"]
            assert {"exposition", "pacing", "characters"} == set(
                _resolved(schema, fields["directives"])["properties"]
            )
            verdict = _resolved(schema, fields["verdicts"]["items"])["properties"]
            assert verdict["decision"]["enum"] == ["pass", "revise", "accept_with_findings", "escalate"]
            accepted = _resolved(schema, fields["accepted"])["properties"]
            assert {"scene_no", "status", "screenplay", "open_findings", "verdict_log"} <= set(accepted)
    episode = got["episode"]["input_schema"]
    spec = _resolved(episode, episode["properties"]["spec"])
    assert {"title", "series", "scenes", "characters"} <= set(spec["properties"])
    assert set(spec["required"]) == {"title", "series", "scenes"}
    assert _resolved(episode, spec["properties"]["scenes"]["items"])["required"] == ["outline"]
    assert "spec" not in got["scene"]["input_schema"]["properties"]


def test_interrupt_and_resume_over_langgraph_dev(studio):
    """Studio's server: the scene graph pauses at prose review and resumes via langgraph-sdk."""
    from langgraph_sdk import get_client

    from dsr.story.episode_spec import load_episode

    async def scenario() -> None:
        client = get_client(url=studio)
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
