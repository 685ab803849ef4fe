"""``dsr synthesize`` / ``dsr review`` as a user runs them: real processes, real HTTP endpoints.

- the embedded model served by ``dsr serve`` on 127.0.0.1 as the teacher (quality is poor: the point is
  that the run finishes, records its reasons and writes consistent outputs);
- a run killed with SIGKILL mid-way and rerun: no finished teacher call is made again;
- bad input on the command line: one line, exit 2.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsr.cli.main import app
from tests.servers import VENV_BIN, free_port
from tests.test_synthesis_scripted import scripted_server

pytestmark = pytest.mark.slow


def _teacher_env(base_url: str, model: str, **extra: str) -> dict[str, str]:
    return {
        "DSR_TEACHER__PROVIDER": "openai",
        "DSR_TEACHER__MODEL": model,
        "DSR_TEACHER__BASE_URL": base_url,
        "DSR_TEACHER__MAX_RETRIES": "0",
        **{f"DSR_TEACHER__{k}": v for k, v in extra.items()},
    }


def _cache_rows(path: Path) -> dict[str, int]:
    """Cached calls by key; empty while the running command has not yet created the file or its table."""
    if not path.exists():
        return {}
    with sqlite3.connect(path) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'calls'").fetchone():
            return {}
        return dict(db.execute("SELECT key, hits FROM calls").fetchall())


def test_embedded_teacher_through_dsr_serve(corpus_dir, tmp_path, monkeypatch, model_server):
    """The session's served real model (tests/conftest.py) as the teacher."""
    for key, value in _teacher_env(model_server.base_url, model_server.name, MAX_NEW_TOKENS="16").items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "data"
    result = CliRunner().invoke(
        app, ["synthesize", str(corpus_dir), "-o", str(out), "--limit", "1", "--max-repairs", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "synthesis summary" in result.output and "cache hits" in result.output
    sheet = json.loads((out / "datasheet.json").read_text())
    assert sheet["counts"]["scenes_processed"] == 1
    usage = sheet["teacher_usage"]
    assert (
        usage["calls"] >= 1
        and usage["input_tokens"] > 0
        and 0 < usage["output_tokens"] <= 16 * usage["calls"]
    )
    assert usage["failures"] == 0
    processed = sheet["counts"]["after_forward_synthesis"]
    rejected = [json.loads(line) for line in (out / "rejections.jsonl").read_text().splitlines()]
    model_steps = [r for r in rejected if r["step"] in {"reverse", "directives", "forward"}]
    assert processed + len(model_steps) == 1  # the scene is an example or a recorded reason, never lost
    for stage in ("stage1", "stage2"):
        assert {p.name for p in (out / stage).iterdir()} == {"train.jsonl", "validation.jsonl", "test.jsonl"}
    assert (out / "datasheet.md").exists()


def test_killed_run_resumes_without_repeating_calls(corpus_dir, tmp_path):
    out = tmp_path / "data"
    cmd = [
        str(VENV_BIN / "dsr"),
        "synthesize",
        str(corpus_dir),
        "-o",
        str(out),
        "--concurrency",
        "2",
        "--limit",
        "4",
    ]
    with scripted_server(delay_s=0.25) as base_url:
        env = {**os.environ, **_teacher_env(base_url, "scripted")}
        first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(_cache_rows(out / "cache.sqlite")) < 6 and time.monotonic() < deadline:
            assert first.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        done = _cache_rows(out / "cache.sqlite")
        assert len(done) >= 6
        assert not (out / "examples.jsonl").exists()  # outputs are written whole at the end, or not at all
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    after = _cache_rows(out / "cache.sqlite")
    assert all(after[key] >= 1 for key in done), "a call finished before the kill was made again"
    usage = json.loads((out / "run.json").read_text())["usage"]
    assert usage["cache_hits"] >= len(done)
    assert usage["calls"] == len(after) - len(done)  # every new call is one the first run had not finished
    assert json.loads((out / "datasheet.json").read_text())["counts"]["after_forward_synthesis"] >= 1


def test_cli_bad_input(tmp_path):
    result = subprocess.run(
        [str(VENV_BIN / "dsr"), "synthesize", str(tmp_path / "missing"), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"dsr: error: {tmp_path / 'missing'}: corpus directory not found"
    ]
    review = subprocess.run([str(VENV_BIN / "dsr"), "review", str(tmp_path)], capture_output=True, text=True)
    assert review.returncode == 2 and "not a synthesis output directory" in review.stderr


def test_unreachable_teacher_is_exit_2_with_consistent_outputs(corpus_dir, tmp_path):
    env = {**os.environ, **_teacher_env(f"http://127.0.0.1:{free_port()}/v1", "nobody", TIMEOUT_S="5")}
    out = tmp_path / "out"
    cmd = [str(VENV_BIN / "dsr"), "synthesize", str(corpus_dir), "-o", str(out), "--limit", "2"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "failed on every call" in result.stderr and "Traceback" not in result.stderr
    rejected = [json.loads(line) for line in (out / "rejections.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in rejected if r["step"] == "reverse"] == ["teacher-call-failed"] * 2
    assert (out / "datasheet.json").exists()


def test_review_command_records_decisions(corpus_dir, tmp_path, monkeypatch):
    from dsr.synthesis.pipeline import synthesize
    from tests.test_synthesis import scripted_factory

    data = tmp_path / "data"
    synthesize(corpus_dir, data, scripted_factory(), limit=6)
    ids = [json.loads(line)["id"] for line in (data / "examples.jsonl").read_text().splitlines()]
    assert len(ids) >= 3
    monkeypatch.setenv("EDITOR", "sed -i 's/Then it happened/Next/g; s/advance/escalate/g'")
    answers = "r\ntoo thin\ne\nd\n" + "s\n" * len(ids)
    result = CliRunner().invoke(app, ["review", str(data)], input=answers)
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line) for line in (data / "review" / "decisions.jsonl").read_text().splitlines()]
    assert [(d["id"], d["decision"]) for d in decisions] == [
        (ids[0], "reject"),
        (ids[1], "edit"),
        (ids[2], "edit"),
    ]
    assert "Next:" in decisions[1]["edits"]["prose"]
    assert decisions[2]["edits"]["directives"]["pacing"]["beats"][0]["purpose"] == "escalate"
    rows = [
        json.loads(line)
        for s in ("train", "validation", "test")
        for line in (data / "stage1" / f"{s}.jsonl").read_text().splitlines()
    ]
    assert ids[0] not in {r["id"] for r in rows}
    assert any(r["id"] == ids[1] and r["review"] == "edited" for r in rows)
