"""Runs on shared servers for real: a throwaway PostgreSQL for checkpoints and a ``chroma run`` server for
memory (tests/backing_servers.py), with the scripted room (tests/scripted_room.py) served over HTTP with a
fixed latency standing for the models. ``dsr write`` is killed with SIGKILL mid-scene and resumed by another
process; two episodes written at once share one memory server; the token header reaches the server; a
server filled by another embedder, a wrong or unreachable address, a missing password are one line each.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dsr.contract.call_log import read_call_log, read_outcomes
from tests.backing_servers import PG_PASSWORD, chroma_server, pg_rows, wait_for
from tests.conftest import ServedModel
from tests.scripted_room import episode_yaml
from tests.servers import VENV_BIN, free_port, served_chat_model
from tests.test_graph_e2e import check_resume_repeated_nothing, checkpoint_step

pytestmark = pytest.mark.slow

LATENCY_S = 0.5


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> Iterator[ServedModel]:
    """The scripted room on 127.0.0.1 with a fixed latency per call."""
    log = tmp_path_factory.mktemp("room") / "requests.jsonl"
    with served_chat_model("tests.scripted_room:ScriptedRoom", "room", LATENCY_S) as url:
        yield ServedModel(url, "room", log)


def room_env(room: ServedModel, **extra: str) -> dict[str, str]:
    from dsr.models.settings import ROLES

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DSR_", "PG"))}
    return {**clean, **room.env(*ROLES, max_new_tokens=2048), **extra}


def dsr(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "dsr"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def model_calls(run: Path) -> list[dict]:
    return [c for c in read_call_log(run / "calls.jsonl") if c.get("ok") is not None]


def test_killed_write_resumes_in_another_process_from_postgres(tmp_path, room, postgres_url, chroma_url):
    from dsr.memory import StoryMemory
    from dsr.run.runner import run_state

    episode, run = tmp_path / "ep.yaml", tmp_path / "run"
    episode.write_text(episode_yaml("kill-series", 1, 3))
    cmd = [
        str(VENV_BIN / "dsr"),
        "write",
        str(episode),
        "-o",
        str(run),
        "--checkpoints",
        postgres_url,
        "--memory",
        chroma_url,
    ]
    proc = subprocess.Popen(
        cmd, env=room_env(room), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    # Scene 1 makes five calls (planner, novelist, screenwriter, critic, fact extraction): kill inside scene 2.
    wait_for(lambda: len(model_calls(run)) >= 7 or proc.poll() is not None, 400, "scene 2 of the run")
    assert proc.poll() is None, proc.stderr.read()[-2000:] if proc.stderr else "finished before the kill"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    record = json.loads((run / "run.json").read_text())
    assert record["checkpoints"]["store"] == "postgres" and PG_PASSWORD not in (run / "run.json").read_text()
    assert record["checkpoints"]["url"] == postgres_url.replace(f":{PG_PASSWORD}", "")
    thread = f"{record['checkpoints']['thread']}:episode"
    assert pg_rows(postgres_url, "SELECT count(*) FROM checkpoints WHERE thread_id = %s", thread)[0][0] > 5
    assert not (run / "checkpoints.sqlite").exists()
    _, _, before = run_state(run, checkpoints=postgres_url)
    step, logged_before = checkpoint_step(run, postgres_url), len(model_calls(run))
    outcomes_before = len(read_outcomes(run / "calls.jsonl"))
    assert len(before["scenes"]) >= 1 and before["timings"]

    # Another process without the password: one line naming the database, nothing changed.
    refused = dsr("resume", str(run), env=room_env(room))
    assert refused.returncode == 2 and "checkpoint database postgresql://dsr@127.0.0.1" in refused.stderr
    assert PG_PASSWORD not in refused.stderr and "Traceback" not in refused.stderr
    # With it (libpq's PGPASSWORD): the run goes on from its last checkpoint.
    resumed = dsr("resume", str(run), env=room_env(room, PGPASSWORD=PG_PASSWORD))
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    _, _, after = run_state(run, checkpoints=postgres_url)
    assert after["scenes"][: len(before["scenes"])] == before["scenes"], "committed scenes are kept"
    assert after["timings"][: len(before["timings"])] == before["timings"], "checkpointed nodes are kept"
    # Only the call in flight at the kill is made again.
    check_resume_repeated_nothing(run / "calls.jsonl", step, logged_before, outcomes_before, lost=1)
    assert [s["scene"] for s in json.loads((run / "report.json").read_text())["scenes"]] == [1, 2, 3]
    with StoryMemory(chroma_url) as memory:
        assert [s.scene_no for s in memory.recent_scenes("kill-series", (1, 4), k=3)] == [1, 2, 3]


def test_two_episodes_at_once_share_one_memory_server(tmp_path, room, postgres_url, chroma_url):
    from dsr.memory import StoryMemory

    env = room_env(room, DSR_CHECKPOINTS=postgres_url)
    for n in (1, 2, 3):
        (tmp_path / f"ep{n}.yaml").write_text(episode_yaml("shared-series", n, 2))
    procs = [
        subprocess.Popen(
            [
                str(VENV_BIN / "dsr"),
                "write",
                str(tmp_path / f"ep{n}.yaml"),
                "-o",
                str(tmp_path / f"run{n}"),
                "--memory",
                chroma_url,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        for n in (1, 2)
    ]
    for proc in procs:
        assert proc.wait(timeout=600) == 0, proc.stderr.read()[-2000:]
    spans = []
    for n in (1, 2):
        calls = model_calls(tmp_path / f"run{n}")
        spans.append((min(c["time"] for c in calls), max(c["time"] + c["seconds"] for c in calls)))
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], "the two episodes were written at once"
    threads = {row[0] for row in pg_rows(postgres_url, "SELECT DISTINCT thread_id FROM checkpoints")}
    for n in (1, 2):
        record = json.loads((tmp_path / f"run{n}" / "run.json").read_text())
        assert f"{record['checkpoints']['thread']}:episode" in threads
        assert record["context"]["memory_dir"] == chroma_url

    third = dsr(
        "write", str(tmp_path / "ep3.yaml"), "-o", str(tmp_path / "run3"), "--memory", chroma_url, env=env
    )
    assert third.returncode == 0, third.stderr[-2000:]
    x = json.loads((tmp_path / "run3" / "scenes" / "01" / "inputs.json").read_text())
    assert "shared-series:0002:0002" in x["previous"]["source_ids"]  # (equal summaries are given once)
    with StoryMemory(chroma_url) as memory:  # both episodes' scenes, written at once, are all there
        seen = memory.recent_scenes("shared-series", (3, 1), k=4)
    assert [(s.episode, s.scene_no) for s in seen] == [(1, 1), (1, 2), (2, 1), (2, 2)]


def test_a_server_filled_by_another_embedder_is_refused(tmp_path):
    import chromadb

    from dsr.common.errors import BadInput
    from dsr.memory import StoryMemory

    with chroma_server(tmp_path / "other") as url:
        client = chromadb.HttpClient(host="127.0.0.1", port=int(url.rsplit(":", 1)[1]))
        client.create_collection("scenes", metadata={"embedder": "bge-large-en", "dim": 1024})
        with pytest.raises(
            BadInput, match=r"built with embedder 'bge-large-en' \(1024-d\), not 'all-MiniLM-L6-v2'"
        ):
            StoryMemory(url)


class _Proxy:
    """A reverse proxy in front of the Chroma server that records the Authorization header of every request
    and answers 401 to a wrong token, as a server behind token auth would."""

    def __init__(self, upstream: str, token: str):
        import uvicorn
        from starlette.applications import Starlette
        from starlette.responses import Response
        from starlette.routing import Route

        self.seen: list[str | None] = []

        async def forward(request):  # type: ignore[no-untyped-def]
            auth = request.headers.get("authorization")
            self.seen.append(auth)
            if auth != f"Bearer {token}":
                return Response("unauthorized", status_code=401)
            headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length")}
            async with httpx.AsyncClient() as client:
                got = await client.request(
                    request.method,
                    upstream + request.url.path,
                    params=request.query_params,
                    content=await request.body(),
                    headers=headers,
                )
            drop = ("content-length", "content-encoding", "transfer-encoding")
            return Response(
                got.content, got.status_code, {k: v for k, v in got.headers.items() if k not in drop}
            )

        methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        app = Starlette(routes=[Route("/{path:path}", forward, methods=methods)])
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        wait_for(lambda: self.server.started, 30, "the proxy")
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def test_the_token_header_comes_from_the_environment(monkeypatch, chroma_url):
    from chromadb.api.shared_system_client import SharedSystemClient

    from dsr.common.errors import BadInput
    from dsr.memory.client import memory_location
    from dsr.memory.store import StoryMemory

    proxy = _Proxy(chroma_url, "room-token")
    with proxy as url:
        monkeypatch.delenv("DSR_CHROMA_TOKEN", raising=False)
        with pytest.raises(
            BadInput, match=f"Chroma server {url} is unreachable .*check DSR_CHROMA_TOKEN"
        ) as info:
            memory_location(url)
        assert "\n" not in str(info.value) and set(proxy.seen) == {None}
        proxy.seen.clear()
        SharedSystemClient.clear_system_cache()  # one process, one token: chroma keeps a client per server
        monkeypatch.setenv("DSR_CHROMA_TOKEN", "room-token")
        assert memory_location(url + "/") == url
        with StoryMemory(url) as memory:
            memory.stats()
        assert len(proxy.seen) > 3 and set(proxy.seen) == {"Bearer room-token"}  # every request carried it


def test_wrong_addresses_are_one_line_and_write_nothing(tmp_path, room):
    episode = tmp_path / "ep.yaml"
    episode.write_text(episode_yaml("bad-series", 1, 1))
    dead = f"127.0.0.1:{free_port()}"
    for option, value, message in (
        (
            "--checkpoints",
            f"postgresql://dsr@{dead}/dsr",
            f"checkpoint database postgresql://dsr@{dead}/dsr is unreachable",
        ),
        ("--memory", f"http://{dead}", f"Chroma server http://{dead} is unreachable"),
        # Passwords libpq reads whole but a URL parser splits (#, ?), or that make the address unreadable (/),
        # a libpq key=value string, a malformed IPv6 host, credentials in a Chroma URL: the secret never shows.
        (
            "--checkpoints",
            f"postgresql://dsr:se#cret@{dead}/dsr",
            f"checkpoint database postgresql://dsr:***@{dead}/dsr is unreachable",
        ),
        ("--checkpoints", f"postgresql://dsr:se?cret@{dead}/dsr", "is unreachable"),
        ("--checkpoints", f"postgresql://dsr:se/cret@{dead}/dsr", "address not shown"),
        ("--checkpoints", "postgresql://dsr:secret@[::1:1/dsr", "address not shown"),
        (
            "--checkpoints",
            f"host=127.0.0.1 port={dead.split(':')[1]} dbname=dsr user=dsr password=secret",
            "password=*** is unreachable",
        ),
        ("--memory", f"http://ed:secret@{dead}", f"--memory http://ed:***@{dead}: credentials"),
        ("--memory", "http://[::1:1", "is not a Chroma server address"),
    ):
        started = time.monotonic()
        result = dsr("write", str(episode), "-o", str(tmp_path / "run"), option, value, env=room_env(room))
        assert result.returncode == 2 and message in result.stderr, result.stderr[-1500:]
        assert len(result.stderr.strip().splitlines()) == 1 and time.monotonic() - started < 120
        assert "cret" not in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "run").exists()  # refused before the output directory is made


def test_doctor_reaches_the_checkpoint_database_and_the_memory_server(postgres_url, chroma_url):
    """``dsr doctor`` checks the services a run would use, never printing the password; a dead address is a
    problem it names, with exit status 1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSR_", "PG"))}
    good = dsr(
        "doctor", "--no-models", "--checkpoints", postgres_url, "--memory", chroma_url, env=env, timeout=120
    )
    assert good.returncode == 0, good.stdout[-2000:] + good.stderr[-2000:]
    flat = " ".join(good.stdout.split())
    assert "PostgreSQL" in flat and "Chroma" in flat and "all checks passed" in flat
    assert PG_PASSWORD not in good.stdout + good.stderr
    dead = f"127.0.0.1:{free_port()}"
    bad = dsr(
        "doctor",
        "--no-models",
        "--checkpoints",
        f"postgresql://dsr@{dead}/dsr",
        "--memory",
        f"http://{dead}",
        env=env,
        timeout=120,
    )
    problems = " ".join(bad.stderr.split())
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert f"checkpoints: checkpoint database postgresql://dsr@{dead}/dsr is unreachable" in problems
    assert f"memory: Chroma server http://{dead} is unreachable" in problems


def test_langgraph_server_keeps_its_threads_in_postgres(tmp_path, room, postgres_url, chroma_url):
    """LangGraph Server (``langgraph dev`` with langgraph.postgres.json): a scene thread pauses at prose review
    over the standard API, the server is stopped and started again, and the thread resumes from its checkpoints
    in PostgreSQL, its memory on the Chroma server."""
    import asyncio

    from langgraph_sdk import get_client

    from dsr.memory import StoryMemory
    from dsr.story.episode_spec import load_episode
    from tests.servers import running

    root = Path(__file__).resolve().parents[1]
    episode = tmp_path / "ep.yaml"
    episode.write_text(episode_yaml("server-series", 1, 1))
    x = load_episode(episode).task_input(0).model_dump(mode="json")
    port = free_port()
    env = room_env(room, DSR_CHECKPOINTS=postgres_url, LANGGRAPH_CLI_NO_ANALYTICS="1")
    # In a directory of its own: langgraph dev keeps its thread list in ./.langgraph_api, which another server
    # started from the project root (tests/test_graph_e2e.py, on another xdist worker) would overwrite.
    (tmp_path / "server").mkdir()
    cmd = [
        "/bin/sh",
        "-c",
        f'cd "{tmp_path / "server"}" && exec "$0" "$@"',
        str(VENV_BIN / "langgraph"),
        "dev",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-browser",
        "--no-reload",
        "--config",
        str(root / "langgraph.postgres.json"),
    ]
    context = {"review": ["prose"], "memory_dir": chroma_url}

    async def until_review() -> str:
        client = get_client(url=f"http://127.0.0.1:{port}")
        thread = await client.threads.create()
        await client.runs.wait(thread["thread_id"], "scene", input={"x": x}, context=context)
        state = await client.threads.get_state(thread["thread_id"])
        assert [i["value"]["point"] for task in state["tasks"] for i in task.get("interrupts", [])] == [
            "prose"
        ]
        return thread["thread_id"]

    async def approve(thread_id: str) -> dict:
        client = get_client(url=f"http://127.0.0.1:{port}")
        return await client.runs.wait(
            thread_id, "scene", command={"resume": {"action": "approve"}}, context=context
        )

    with running(cmd, f"http://127.0.0.1:{port}/ok", env=env, timeout=300):
        thread_id = asyncio.run(until_review())
    count = "SELECT count(*) FROM checkpoints WHERE thread_id = %s"
    paused = pg_rows(postgres_url, count, thread_id)[0][0]
    assert paused >= 3, "the server's checkpoints are in PostgreSQL"
    with running(cmd, f"http://127.0.0.1:{port}/ok", env=env, timeout=300):
        final = asyncio.run(approve(thread_id))
    assert final["accepted"]["status"] == "passed" and (tmp_path / "server" / ".langgraph_api").is_dir()
    assert pg_rows(postgres_url, count, thread_id)[0][0] > paused
    with StoryMemory(chroma_url) as memory:
        assert [s.scene_no for s in memory.recent_scenes("server-series", (1, 2), k=1)] == [1]
