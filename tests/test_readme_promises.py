"""README promises that had no test: endpoint failures pause and resume, keys stay out of run files,
memory facts reach the critic inside a graph run.

Endpoint and key tests run the real ``dsr`` console script against a scripted model behind ``dsr serve``'s
OpenAI-compatible app on 127.0.0.1 (the transport is the point, not the writing); the memory test runs the
real episode graph with real Chroma memory and scripted stage models.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage

from dsr.contract.context import RunContext
from dsr.memory import open_memory
from dsr.memory.records import Fact
from dsr.models.messages import message_text
from dsr.run.runner import drive, initial_input, start_run
from dsr.story.episode_spec import EpisodeSpec
from tests.served_models import SCENE
from tests.servers import free_port, read_requests, served_chat_model
from tests.test_cli_models import EXAMPLE, assert_one_line_error, dsr

SCRIPTED = "tests.served_models:ScriptedWriter"


def openai_role(role: str, base_url: str, **extra: str) -> dict[str, str]:
    prefix = f"DSR_{role.upper()}__"
    settings = {"PROVIDER": "openai", "MODEL": "scripted", "BASE_URL": base_url, "MAX_RETRIES": "0", **extra}
    return {prefix + k: v for k, v in settings.items()}


@pytest.mark.slow
def test_unreachable_endpoint_is_one_line_then_resume_continues_once_it_is_back(tmp_path):
    port = free_port()  # nothing listens here until the server is started below
    base_url = f"http://127.0.0.1:{port}/v1"
    env = openai_role("screenwriter", base_url, TIMEOUT_S="5")
    run = tmp_path / "run"
    args = (
        "write",
        EXAMPLE,
        "-o",
        str(run),
        "--scenes",
        "1",
        "--mode",
        "e2e",
        "--no-rubric",
        "--max-retries",
        "0",
    )
    down = dsr(*args, env=env, cwd=tmp_path)
    assert_one_line_error(down, "role 'screenwriter'", f"cannot reach {base_url}", f"dsr resume {run}")
    assert (run / "run.json").is_file() and (run / "checkpoints.sqlite").is_file()
    assert not (run / "report.json").exists()

    log = tmp_path / "requests.jsonl"
    with served_chat_model(SCRIPTED, "scripted", 0, port=port, log=log):
        back = dsr("resume", str(run), env=env, cwd=tmp_path)
    assert back.returncode == 0, back.stderr[-2000:]
    report = json.loads((run / "report.json").read_text())
    assert [s["scene"] for s in report["scenes"]] == [1]
    assert "Not a word to the harbour master." in (run / "episode.fountain").read_text()
    chats = [r for r in read_requests(log) if r["path"].endswith("/chat/completions")]
    # The report counts the attempt made while the endpoint was down, and each call the server answered.
    assert chats and report["total"]["roles"]["screenwriter"]["calls"] == len(chats) + 1


@pytest.mark.slow
def test_no_run_file_holds_the_api_key(tmp_path):
    key = f"sk-test-{secrets.token_hex(16)}"
    log = tmp_path / "requests.jsonl"
    run = tmp_path / "run"
    with served_chat_model(SCRIPTED, "scripted", 0, log=log) as base_url:
        env = {"MY_KEY": key}
        for role in ("planner", "novelist", "screenwriter"):
            env |= openai_role(role, base_url, API_KEY_ENV="MY_KEY")
        result = dsr(
            "write",
            EXAMPLE,
            "-o",
            str(run),
            "--scenes",
            "1",
            "--mode",
            "dsr",
            "--no-rubric",
            "--max-retries",
            "0",
            env=env,
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    chats = [r for r in read_requests(log) if r["path"].endswith("/chat/completions")]
    # The key was really in use: every request carried it to the endpoint ...
    assert len(chats) >= 3 and {r["authorization"] for r in chats} == {f"Bearer {key}"}
    # ... and no byte of any run file (checkpoints included), nor the console output, holds it.
    files = [p for p in run.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {
        "checkpoints.sqlite",
        "calls.jsonl",
        "report.json",
        "run.json",
        "inputs.json",
        "prose.md",
    } <= names
    token = key.removeprefix("sk-test-").encode()
    leaking = [str(p.relative_to(run)) for p in files if token in p.read_bytes()]
    assert leaking == []
    assert key not in result.stdout + result.stderr


class Recording(GenericFakeChatModel):
    """A scripted stage model that keeps every prompt it was sent."""

    prompts: list[str] = []

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.prompts.append("\n".join(message_text(m) for m in messages))
        return super()._generate(messages, *args, **kwargs)


SPEC = EpisodeSpec.model_validate(
    {
        "title": "Harbor Lights 2",
        "series": "harbor",
        "episode": 2,
        "characters": [
            {"name": "MARA", "profile": "Lighthouse keeper."},
            {"name": "JON", "profile": "Her brother."},
        ],
        # No name in the outline: X carries the whole cast, and memory's facts about all of it.
        "scenes": [{"outline": "The lamp room at dawn, cold and quiet."}],
    }
)
DROWNED = "Jon drowned in the harbour in the autumn storm."


def _run_with_memory(
    tmp_path: Path, monkeypatch, facts: list[str]
) -> tuple[list[dict], dict[str, Recording]]:
    memory = tmp_path / "memory"
    open_memory(str(memory)).add_facts(
        [
            Fact(series="harbor", episode=1, scene_no=3, text=t, characters=["JON"], kind="event")
            for t in facts
        ]
    )
    replies = {
        "novelist": "Jon walked up the stairs to the lamp room. Mara trimmed the wick and waited.",
        "screenwriter": SCENE,
    }
    models: dict[str, Recording] = {}

    def scripted(role: str, settings: Any = None) -> BaseChatModel:
        if role not in models:  # the factory is asked on every call: one recording model per role
            models[role] = Recording(messages=iter([AIMessage(replies[role])] * 10), prompts=[])
        return models[role]

    run = tmp_path / "run"
    context = RunContext(
        mode="dsr-nocot",
        use_rubric=False,
        max_retries_per_stage=1,
        max_retries_per_scene=2,
        run_dir=str(run),
        memory_dir=str(memory),
        model_factory=scripted,
    )
    context = start_run(SPEC, run, context)
    result = drive(run, context, initial_input(SPEC), on_update=lambda *_: None, reviewer=lambda _: None)
    assert result.finished
    return json.loads((run / "scenes" / "01" / "critique.json").read_text()), models


@pytest.mark.slow
def test_memory_facts_reach_the_critic_and_the_rerun(tmp_path, monkeypatch):
    verdicts, models = _run_with_memory(
        tmp_path, monkeypatch, [DROWNED, "Mara keeps the logbook under the stairs."]
    )
    first = [f for f in verdicts[0]["findings"] if f["check"] == "N5-dead-character"]
    assert len(first) == 1 and first[0]["stage"] == "novelist" and DROWNED in first[0]["message"]
    assert verdicts[0]["route"] == "novelist"
    # The finding, with the remembered fact, is what the novelist's rerun is told.
    assert len(models["novelist"].prompts) == 2
    told = f"memory says: {DROWNED}"
    assert told not in models["novelist"].prompts[0] and told in models["novelist"].prompts[1]


@pytest.mark.slow
def test_without_the_fact_the_same_draft_passes_continuity(tmp_path, monkeypatch):
    verdicts, _ = _run_with_memory(tmp_path, monkeypatch, ["Mara keeps the logbook under the stairs."])
    assert not [f for v in verdicts for f in v["findings"] if f["check"] == "N5-dead-character"]
