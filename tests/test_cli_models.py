"""`dsr doctor` and bad configuration through the real console script: one line, exit 2, no traceback."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.servers import VENV_BIN, free_port, is_user_setting

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "harbor-lights.yaml")


def dsr(*args: str, env: dict[str, str] | None = None, cwd=None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not is_user_setting(k) and k != "OPENAI_API_KEY"}
    return subprocess.run(
        [str(VENV_BIN / "dsr"), *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_unknown_provider(tmp_path):
    result = dsr("doctor", env={"DSR_PLANNER__PROVIDER": "anthropic"}, cwd=tmp_path)
    assert_one_line_error(result, "planner.provider", "embedded, openai or hf")


def test_malformed_toml(tmp_path):
    (tmp_path / "dsr.toml").write_text("[critic\n")
    assert_one_line_error(dsr("doctor", cwd=tmp_path), "dsr.toml", "not valid TOML")


def test_unknown_role_in_toml(tmp_path):
    (tmp_path / "dsr.toml").write_text('[director]\nprovider = "hf"\n')
    assert_one_line_error(dsr("doctor", cwd=tmp_path), "director", "unknown role")


def test_missing_key_for_hosted_openai_role(tmp_path):
    env = {"DSR_NOVELIST__PROVIDER": "openai", "DSR_NOVELIST__MODEL": "gpt-x"}
    result = dsr("write", EXAMPLE, "-o", str(tmp_path / "run"), env=env, cwd=tmp_path)
    assert_one_line_error(result, "novelist", "$OPENAI_API_KEY is not set")
    assert not (tmp_path / "run" / "episode.fountain").exists()


def test_unreachable_endpoint(tmp_path):
    env = {
        "DSR_NOVELIST__PROVIDER": "openai",
        "DSR_NOVELIST__MODEL": "stage1",
        "DSR_NOVELIST__BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "DSR_NOVELIST__MAX_RETRIES": "1",
    }
    args = ("write", EXAMPLE, "-o", str(tmp_path / "run"), "--mode", "dsr-nocot", "--scenes", "1")
    result = dsr(*args, env=env, cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert "role 'novelist'" in result.stderr and "cannot reach http://127.0.0.1" in result.stderr
    assert "dsr resume" in result.stderr, "the run pauses with its state kept"
    assert (tmp_path / "run" / "run.json").is_file() and (tmp_path / "run" / "checkpoints.sqlite").is_file()


def test_missing_episode_and_bad_yaml(tmp_path):
    assert_one_line_error(
        dsr("write", str(tmp_path / "none.yaml"), "-o", str(tmp_path / "r")), "does not exist"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: [unclosed\n")
    assert_one_line_error(dsr("write", str(bad), "-o", str(tmp_path / "r")), "not valid YAML", "line")
    incomplete = tmp_path / "incomplete.yaml"
    incomplete.write_text("title: T\nseries: s\n")
    assert_one_line_error(
        dsr("write", str(incomplete), "-o", str(tmp_path / "r")), "'scenes'", "Field required"
    )


def test_unknown_option_is_usage_error():
    result = dsr("doctor", "--frobnicate")
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.slow
def test_doctor_all_good(tmp_path):
    result = dsr("doctor", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for role in ("planner", "novelist", "screenwriter", "critic", "judge", "teacher"):
        assert role in result.stdout
    assert "all checks passed" in result.stdout and "GPU" in result.stdout


@pytest.mark.slow
def test_doctor_lists_failing_role_and_hides_key(tmp_path):
    env = {
        "DSR_JUDGE__PROVIDER": "openai",
        "DSR_JUDGE__MODEL": "judge-model",
        "DSR_JUDGE__BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "DSR_JUDGE__MAX_RETRIES": "0",
        "OPENAI_API_KEY": "sk-do-not-print-me",
    }
    result = dsr("doctor", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "judge:" in result.stderr and "Connection" in result.stderr
    assert "sk-do-not-print-me" not in result.stdout + result.stderr
