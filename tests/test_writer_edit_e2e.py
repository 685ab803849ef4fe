"""``dsr write`` → ``dsr edit`` → ``dsr resume`` → ``dsr history`` with the real embedded model (behind the
session's ``dsr serve``, tests/conftest.py): an edit to scene 2's prose re-runs scene 2's screenplay and scene 3,
nothing else, and the history names the edit. Small outputs (32 tokens) and ``--no-rubric`` keep it to a
handful of real calls; the quality is the embedded model's, the machinery is the product's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from dsr.contract.call_log import read_call_log
from tests.servers import is_user_setting
from tests.test_writer_edit import NEW_PROSE, THREE, dsr

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture
def served_writer(model_server, monkeypatch) -> Iterator[None]:
    for key in [k for k in os.environ if is_user_setting(k)]:
        monkeypatch.delenv(key)
    for key, value in model_server.env("novelist", "screenwriter", "memory", max_new_tokens=32).items():
        monkeypatch.setenv(key, value)
    yield


def model_calls(run) -> list[dict]:
    """Model calls as calls.jsonl logs them (not the JSON-answer tallies)."""
    return [c for c in read_call_log(run / "calls.jsonl") if c.get("kind") is None]


def writing(calls: list[dict]) -> list[tuple[int, str]]:
    """(scene, role) of the calls that write (the memory role's fact extraction counted apart)."""
    return sorted((c["scene"], c["role"]) for c in calls if c["role"] != "memory")


def test_an_edit_reruns_only_downstream_with_the_real_model(served_writer, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    code, out = dsr(
        monkeypatch,
        capsys,
        "write",
        str(THREE),
        "-o",
        str(run),
        "--mode",
        "dsr-nocot",
        "--no-rubric",
        "--max-retries",
        "0",
    )
    assert code == 0, out
    written = model_calls(run)
    assert writing(written) == [(n, role) for n in (1, 2, 3) for role in ("novelist", "screenwriter")]

    new = tmp_path / "scene2.md"
    new.write_text(NEW_PROSE + "\n")
    code, out = dsr(monkeypatch, capsys, "edit", str(run), str(new), "--scene", "2", "--stage", "prose")
    assert code == 0 and "scene 2 (screenplay, critic, commit), scene 3 (all)" in " ".join(out.split()), out
    code, out = dsr(monkeypatch, capsys, "resume", str(run))
    while code == 3:  # the critic's findings on the writer's prose go to review, never to a rewrite
        assert "paused for review of the scene of scene" in out, out
        code, out = dsr(monkeypatch, capsys, "resume", str(run), "--approve")
    assert code == 0, out

    rerun = model_calls(run)[len(written) :]
    assert writing(rerun) == [(2, "screenwriter"), (3, "novelist"), (3, "screenwriter")]
    assert {c["scene"] for c in rerun if c["role"] == "memory"} <= {2, 3}  # facts of the re-run scenes only
    assert (run / "scenes" / "02" / "prose.md").read_text().strip() == NEW_PROSE
    report = json.loads((run / "report.json").read_text())
    assert [s["scene"] for s in report["scenes"]] == [1, 2, 3]

    code, out = dsr(monkeypatch, capsys, "history", str(run), "--json")
    history = json.loads(out)
    by_scene = {s["scene"]: s["versions"] for s in history["scenes"]}
    assert [v["version"] for v in by_scene[1]] == ["1.1"]
    assert [(v["version"], v["current"]) for v in by_scene[2]] == [("2.1", False), ("2.2", True)]
    assert by_scene[2][1]["made_by"] == "edit #1 (prose edit)"
    assert by_scene[3][1]["made_by"] == "re-run after edit #1 (scene 2 prose edit)"
