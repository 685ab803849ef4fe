"""Bad input to `dsr evaluate build-set | run | judge | report` through the real console script: exit 2, one line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dsr.evaluation import records
from tests.eval_dirs import GOOD_SCENE, write_eval_dir
from tests.servers import VENV_BIN


def dsr(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run(
        [str(VENV_BIN / "dsr"), "evaluate", *args], capture_output=True, text=True, env=env, timeout=120
    )


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def mismatched(tmp_path: Path) -> Path:
    """An EVAL_DIR whose e2e outputs lack one item that dsr and human have."""
    return write_eval_dir(
        tmp_path,
        {
            "dsr": [records.output_row(i, "dsr", ok=True, screenplay=GOOD_SCENE) for i in ("s1", "s2")],
            "e2e": [records.output_row("s1", "e2e", ok=True, screenplay=GOOD_SCENE)],
        },
    )


def test_missing_directories(tmp_path):
    one_line_error(
        dsr("run", str(tmp_path / "nope"), "-o", str(tmp_path / "e")), "test set directory does not exist"
    )
    one_line_error(dsr("judge", str(tmp_path / "nope")), "evaluation directory does not exist")
    one_line_error(
        dsr("build-set", str(tmp_path / "nope"), "-o", str(tmp_path / "s")), "corpus directory not found"
    )
    one_line_error(
        dsr("build-set", "--from-synthesis", str(tmp_path), "-o", str(tmp_path / "s")),
        "not a synthesis output",
    )


def test_mismatched_item_ids_are_named(mismatched):
    one_line_error(dsr("report", str(mismatched)), "e2e lacks s2", "--allow-partial")


def test_bad_systems_and_empty_eval(tmp_path, mismatched):
    set_dir = str(mismatched.parent / "set")
    one_line_error(
        dsr("run", set_dir, "-o", str(tmp_path / "e"), "--system", "fancy"), "unknown mode 'fancy'"
    )
    bad = tmp_path / "systems.yaml"
    bad.write_text("systems: [oops\n", encoding="utf-8")
    one_line_error(dsr("run", set_dir, "-o", str(tmp_path / "e"), "--systems", str(bad)), "not valid YAML")
    bad.write_text(
        "systems:\n  - name: x\n    mode: dsr\n    roles: {director: {provider: hf}}\n", encoding="utf-8"
    )
    one_line_error(
        dsr("run", set_dir, "-o", str(tmp_path / "e"), "--systems", str(bad)), "unknown role 'director'"
    )
    empty = tmp_path / "empty"
    records.write_eval_config(empty, {"set_dir": set_dir, "systems": {}})
    one_line_error(dsr("judge", str(empty)), "no system outputs")
    broken = tmp_path / "broken"
    records.write_eval_config(broken, {"set_dir": set_dir, "systems": {}})
    (broken / "outputs").mkdir()
    (broken / "outputs" / "dsr.jsonl").write_text('{"item": "s1", "system": "dsr"}\n', encoding="utf-8")
    one_line_error(dsr("report", str(broken)), "dsr.jsonl:1: missing field(s) ok")


def test_unreachable_endpoints_are_recorded_as_failed_items_not_crashes(tmp_path, mismatched):
    """A system whose screenwriter endpoint is down, and a judge that is down: every item is recorded as
    failed with the reason, the commands finish, and the report counts the failures."""
    from tests.servers import free_port

    down = f"http://127.0.0.1:{free_port()}/v1"
    systems = tmp_path / "systems.toml"
    systems.write_text(
        f'[systems.remote]\nmode = "e2e"\n[systems.remote.roles.screenwriter]\nprovider = "openai"\n'
        f'base_url = "{down}"\nmodel = "m"\nmax_retries = 0\ntimeout_s = 5\n',
        encoding="utf-8",
    )
    eval_dir = tmp_path / "remote-eval"
    run = dsr(
        "run", str(mismatched.parent / "set"), "-o", str(eval_dir), "--systems", str(systems), "--no-rubric"
    )
    assert run.returncode == 0, run.stderr
    rows = records.read_outputs(eval_dir, "remote")
    assert [r["ok"] for r in rows] == [False, False]
    assert all("cannot reach" in r["error"] and "DSR_SCREENWRITER__BASE_URL" in r["error"] for r in rows)
    env_judge = {
        "DSR_JUDGE__PROVIDER": "openai",
        "DSR_JUDGE__BASE_URL": down,
        "DSR_JUDGE__MODEL": "j",
        "DSR_JUDGE__MAX_RETRIES": "0",
        "DSR_JUDGE__TIMEOUT_S": "5",
    }
    judge = subprocess.run(
        [str(VENV_BIN / "dsr"), "evaluate", "judge", str(eval_dir), "--samples", "1", "--label", "down"],
        capture_output=True,
        text=True,
        env={**os.environ, **env_judge},
        timeout=120,
    )
    assert judge.returncode == 0, judge.stderr
    judged = {
        (r["item"], r["system"]): r for r in records.read_judgments(records.judgments_path(eval_dir, "down"))
    }
    assert len(judged) == 4 and all(r["failed"] for r in judged.values())
    assert judged[("s1", "remote")]["reason"].startswith("no output to judge")
    assert (
        judged[("s1", "human")]["reason"].startswith("judge call failed")
        and judged[("s1", "human")]["cache_key"] is None
    )
    report = dsr("report", str(eval_dir))
    assert report.returncode == 0, report.stderr
    metrics = json.loads((eval_dir / "metrics.json").read_text(encoding="utf-8"))
    assert (
        metrics["systems"]["remote"]["n_failed"] == 2
        and metrics["systems"]["remote"]["judge_free"]["n_run_failed"] == 2
    )
    assert (
        metrics["systems"]["human"]["n_scored"] == 0 and metrics["systems"]["human"]["judge_free"]["n"] == 2
    )
    assert any("remote: 0 of 2 items scored" in note for note in metrics["coverage_notes"])
