"""``dsr write --review`` and ``dsr resume --approve | --reject NOTE [--stage S]`` as the README promises.

The real embedded model writes the prose and the screenplay from one shared ``dsr serve`` process
(tests/conftest.py); the planner is a scripted model behind the same app (its grammar-constrained JSON is slow
on a shared CPU, and the point here is where the reviewer's notes go, not what the plan says). Both request
logs show what each stage was asked: a reviewer's note must reach the stage it names, and only that stage reruns. The commands run in-process through ``dsr.cli.main.main`` (the console script's entry point)
so the run is not paid for with a fresh interpreter per command.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dsr.cli.main import main
from dsr.run.runner import run_state
from tests.servers import is_user_setting, read_requests, served_chat_model
from tests.test_cli_models import EXAMPLE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROLES = ("planner", "novelist", "screenwriter")
SYSTEM_OF = {
    "planner": "story editor planning",
    "novelist": "novelist who writes for the screen",
    "screenwriter": "convert scene prose into a correctly formatted screenplay",
}


def dsr(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run ``dsr ARGS`` in-process; (exit status, stdout and stderr)."""
    monkeypatch.setattr(sys, "argv", ["dsr", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def asked(log: Path, role: str, marker: str) -> list[str]:
    """The prompts (all turns joined) of the requests ``role`` sent that contain ``marker``."""
    out = []
    for row in read_requests(log):
        messages = row["body"].get("messages", []) if isinstance(row["body"], dict) else []
        if messages and SYSTEM_OF[role] in messages[0]["content"]:
            text = "\n".join(m["content"] for m in messages)
            if marker in text:
                out.append(text)
    return out


def requests_by(log: Path, role: str) -> int:
    return sum(
        1
        for row in read_requests(log)
        if isinstance(row["body"], dict)
        and SYSTEM_OF[role] in row["body"].get("messages", [{}])[0].get("content", "")
    )


@dataclass
class Logs:
    """Where each role's requests are logged."""

    by_role: dict[str, Path]

    def asked(self, role: str, marker: str) -> list[str]:
        return asked(self.by_role[role], role, marker)

    def requests(self, role: str) -> int:
        return requests_by(self.by_role[role], role)


@pytest.fixture
def served_roles(model_server, monkeypatch, tmp_path) -> Iterator[Logs]:
    """Novelist and screenwriter on the shared real model, the planner on a scripted one; models are built
    afresh for this test."""
    for key in [k for k in os.environ if is_user_setting(k)]:
        monkeypatch.delenv(key)
    planner_log = tmp_path / "planner-requests.jsonl"
    with served_chat_model(
        "tests.served_models:ScriptedWriter", "scripted", 0, log=planner_log
    ) as planner_url:
        settings = model_server.env("novelist", "screenwriter", max_new_tokens=48) | {
            "DSR_PLANNER__PROVIDER": "openai",
            "DSR_PLANNER__BASE_URL": planner_url,
            "DSR_PLANNER__MODEL": "scripted",
            "DSR_PLANNER__MAX_RETRIES": "0",
        }
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        yield Logs({"planner": planner_log, "novelist": model_server.log, "screenwriter": model_server.log})


def test_review_directives_then_scene_with_reject_notes_and_stage(
    served_roles, tmp_path, monkeypatch, capsys
):
    logs, run = served_roles, tmp_path / "run"
    note1, note2 = (
        f"Open on the lamp, not the sea ({uuid.uuid4().hex[:8]})",
        f"Mara whispers ({uuid.uuid4().hex[:8]})",
    )

    code, err = dsr(
        monkeypatch,
        capsys,
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
        "--review",
        "directives,scene",
    )
    assert code == 3 and "paused for review of the directives of scene 1" in err, err
    _, payload, _ = run_state(run)
    assert payload["point"] == "directives" and payload["scene"] == 1 and "directives" in payload

    # Rejecting the directives reruns the planner with the note as its critique, and pauses there again.
    code, err = dsr(monkeypatch, capsys, "resume", str(run), "--reject", note1)
    assert code == 3 and "review of the directives" in err, err
    assert logs.asked("planner", note1), "the reviewer's note never reached the planner"
    assert not logs.asked("novelist", note1)

    code, err = dsr(monkeypatch, capsys, "resume", str(run), "--approve")
    assert code == 3 and "review of the scene of scene 1" in err, err
    novelist_calls = logs.requests("novelist")
    assert novelist_calls >= 1

    # At scene review --stage picks the stage: only the screenwriter reruns, told the note.
    code, err = dsr(monkeypatch, capsys, "resume", str(run), "--reject", note2, "--stage", "screenwriter")
    assert code == 3 and "review of the scene" in err, err
    assert logs.asked("screenwriter", note2) and not logs.asked("novelist", note2)
    assert logs.requests("novelist") == novelist_calls

    code, err = dsr(monkeypatch, capsys, "resume", str(run), "--approve")
    assert code == 0, err
    report = json.loads((run / "report.json").read_text())
    assert [s["status"] for s in report["scenes"]] == ["approved_by_human"]
    # Each rejection reran exactly the stage it named: two plans, one prose, two screenplays.
    calls = {role: report["scenes"][0]["roles"][role]["calls"] for role in ROLES}
    assert calls == {"planner": 2, "novelist": 1, "screenwriter": 2}
    finished, pending, _ = run_state(run)
    assert finished and pending is None
    code, out = dsr(monkeypatch, capsys, "resume", str(run), "--approve")
    assert code == 0 and "already complete" in " ".join(out.split())  # rich wraps long paths
