"""``dsr lint``: exit status 0 / 1 / 2, the JSON report, profiles from an episode file, --rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dsr.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "lint"
DSR = Path(sys.executable).with_name("dsr")

CLEAN = """INT. LIGHTHOUSE KITCHEN - NIGHT

Mara rinses a chipped mug.

MARA
You're late.

JON
Tide was wrong.
"""


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["dsr", "lint", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    path = tmp_path / "clean.fountain"
    path.write_text(CLEAN, encoding="utf-8")
    return path


@pytest.fixture
def episode(tmp_path: Path) -> Path:
    path = tmp_path / "episode.yaml"
    path.write_text(
        "title: Harbor Lights\ncharacters:\n  - name: MARA\n    profile: keeper\n  - name: JON\n    aliases: [JONNY]\n",
        encoding="utf-8",
    )
    return path


def test_console_script_exit_codes(clean: Path, tmp_path: Path):
    # A missing script is a broken install (pip install -e . creates it), not a reason to skip.
    assert DSR.exists(), f"the dsr console script is missing at {DSR}: run make venv (pip install -e .)"
    ok = subprocess.run([str(DSR), "lint", str(clean)], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "0 error(s)" in ok.stdout
    bad = subprocess.run(
        [str(DSR), "lint", str(DATA / "prose_draft.fountain")], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "SP021" in bad.stdout and "error(s)" in bad.stdout
    missing = subprocess.run(
        [str(DSR), "lint", str(tmp_path / "nope.fountain")], capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr


def test_json_report(monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, str(DATA / "missing_heading.fountain"), "--json")
    report = json.loads(out)
    assert code == 1
    assert report["file"].endswith("missing_heading.fountain")
    assert set(report["summary"]) >= {"errors", "warnings", "info", "scenes", "errors_per_scene"}
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert report["summary"]["errors"] == len(errors) > 0
    assert report["summary"]["scenes"] == 4
    assert {"rule", "name", "severity", "line", "scene", "message", "excerpt"} == set(report["findings"][0])


def test_profiles_from_episode_file(monkeypatch, capsys, clean: Path, episode: Path, tmp_path: Path):
    code, out, _ = run_main(monkeypatch, capsys, str(clean), "--profiles", str(episode), "--json")
    assert code == 0 and json.loads(out)["findings"] == []
    only_mara = tmp_path / "mara.yaml"
    only_mara.write_text("characters:\n  - name: MARA\n", encoding="utf-8")
    code, out, _ = run_main(monkeypatch, capsys, str(clean), "--profiles", str(only_mara), "--json")
    findings = json.loads(out)["findings"]
    assert code == 1
    assert [(f["rule"], f["line"]) for f in findings] == [("SP030", 8)]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("characters: [name: MARA\n", "malformed YAML at line"),
        ("title: x\n", "'characters' must be a non-empty list"),
        ("- MARA\n", "expected a mapping"),
        ("characters:\n  - profile: nameless\n", "character 1: name"),
    ],
)
def test_bad_profiles_exit_2_with_one_line(
    monkeypatch, capsys, clean: Path, tmp_path: Path, content, expected
):
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    code, out, err = run_main(monkeypatch, capsys, str(clean), "--profiles", str(path))
    assert code == 2 and out == ""
    assert expected in err and str(path) in err and err.count("\n") == 1


def test_missing_inputs_exit_2(monkeypatch, capsys, clean: Path, tmp_path: Path):
    code, _, err = run_main(monkeypatch, capsys, str(clean), "--profiles", str(tmp_path / "none.yaml"))
    assert code == 2 and "profiles file not found" in err
    code, _, err = run_main(monkeypatch, capsys)
    assert code == 2 and "missing FILE" in err


def test_rules_listing(monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "--rules", "--json")
    rules = json.loads(out)
    assert code == 0
    assert {"id": "SP021", "name": "cue-without-dialogue", "severity": "error"}.items() <= next(
        r for r in rules if r["id"] == "SP021"
    ).items()
    code, out, _ = run_main(monkeypatch, capsys, "--rules")
    assert code == 0 and "SP030" in out and "unknown-character" in out
