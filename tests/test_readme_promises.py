"""What the README and the pages of docs/ promise, held to it.

The documentation itself: every ``dsr`` command and ``make`` target named in README.md and docs/*.md exists
(the commands from the typer app, the targets from the Makefile), every relative link points to a file (and
heading) that exists, and the promises tested below are still written where a reader finds them.

Promises that had no test: endpoint failures pause and resume, keys stay out of run files (docs/usage.md,
docs/configuration.md), memory facts reach the critic inside a graph run (docs/usage.md). Endpoint and key
tests run the real ``dsr`` console script against a scripted model behind ``dsr serve``'s OpenAI-compatible app
on 127.0.0.1 (the transport is the point, not the writing); the memory test runs the real episode graph with
real Chroma memory and scripted stage models.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage

from dsr.contract.context import RunContext
from dsr.memory import StoryMemory
from dsr.memory.records import Fact
from dsr.models.messages import message_text
from dsr.run.runner import drive, initial_input, start_run
from dsr.story.episode_spec import EpisodeSpec
from tests.served_models import SCENE
from tests.servers import free_port, read_requests, served_chat_model
from tests.test_cli_models import EXAMPLE, assert_one_line_error, dsr

SCRIPTED = "tests.served_models:ScriptedWriter"

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: The promises the tests of this file hold the code to, quoted from the page a reader finds them on.
PROMISES = {
    "docs/usage.md": [
        "an\nendpoint that keeps failing (the run pauses with one line naming the role and the fix)",
        "`dsr resume RUN_DIR` continues at the last finished node; no finished node's model call is repeated.",
        "a character memory records as dead does\nnot act",
    ],
    "docs/configuration.md": ["neither logs, reports nor checkpoints contain it."],
    "README.md": ["make demo", "make test", "(SQLite checkpoints, `dsr resume`)"],
}


def code_of(text: str) -> list[str]:
    """The code a page shows: fenced blocks and inline code spans (where commands are written)."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return fenced + re.findall(r"`([^`\n]+)`", prose)


def dsr_commands() -> dict[str, set[str]]:
    """Every ``dsr`` command, with the subcommands of a group (``memory`` -> show, edit, forget)."""
    import typer

    from dsr.cli.main import app

    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    return {name: set(getattr(command, "commands", {})) for name, command in commands.items()}


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", text, flags=re.MULTILINE))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_dsr_command_and_make_target_named_exists(page: Path) -> None:
    commands, targets = dsr_commands(), makefile_targets()
    named_commands: list[tuple[str, str]] = []
    named_targets: list[str] = []
    for code in code_of(page.read_text()):
        named_commands += re.findall(r"(?<![\w.-])dsr ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", code)
        named_targets += re.findall(r"(?<![\w.-])make ([a-z][\w-]*)", code)
    unknown = sorted({c for c, _ in named_commands if c not in commands})
    unknown += sorted(
        {f"{c} {s}" for c, s in named_commands if commands.get(c) and s and s not in commands[c]}
    )
    assert not unknown, f"{page.name} names dsr commands that do not exist: {unknown}"
    assert not sorted(set(named_targets) - targets), f"{page.name} names make targets the Makefile lacks"
    if page.name == "README.md" and page.parent == ROOT:
        assert {"write", "resume", "room"} <= {c for c, _ in named_commands}
        assert {"demo", "test"} <= set(named_targets)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_that_exists(page: Path) -> None:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    broken = []
    for target in re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z][a-z+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        missing_heading = bool(anchor) and linked.suffix == ".md" and anchor not in anchors(linked)
        if not linked.exists() or missing_heading:
            broken.append(target)
    assert not broken, f"{page.name}: links to nothing: {broken}"


def test_the_pages_still_promise_what_these_tests_check() -> None:
    for page, quotes in PROMISES.items():
        text = (ROOT / page).read_text()
        missing = [q for q in quotes if q not in text]
        assert not missing, f"{page} no longer says: {missing}"


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
    with StoryMemory(memory) as mem:
        mem.add_facts(
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
