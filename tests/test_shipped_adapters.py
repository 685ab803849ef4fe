"""The adapters the embedded default ships (models/adapters, issue 26): what they are, which roles run them and
when, and a real scene written with them.

The rest of the suite runs the bare base (conftest sets DSR_EMBEDDED_ADAPTERS=false); these tests turn the
default back on where they need it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from safetensors import safe_open

from dsr.contract.call_log import read_call_log
from dsr.models.settings import ADAPTERS_DIR, SHIPPED_STAGE, load_settings, shipped_adapter
from tests.servers import VENV_BIN, is_user_setting

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "harbor-lights.yaml"


@pytest.fixture
def adapters_on(monkeypatch, tmp_path):
    """The shipped default as a user gets it: no dsr.toml, no role settings, adapters on."""
    for key in list(os.environ):
        if key.startswith("DSR_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DSR_EMBEDDED_ADAPTERS", "true")


@pytest.mark.parametrize("stage", [1, 2])
def test_each_stage_ships_a_small_finished_lora_adapter_of_its_stage(stage):
    path = shipped_adapter(stage)
    assert path is not None and path == ADAPTERS_DIR / f"stage{stage}"
    weights = path / "adapter_model.safetensors"
    assert weights.stat().st_size < 8 * 2**20, "small enough to live in the repository"
    config = json.loads((path / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8
    assert not config["base_model_name_or_path"].startswith("/"), "no path of the machine that trained it"
    with safe_open(str(weights), framework="pt") as f:
        keys = list(f.keys())
        assert keys and all("lora_" in k for k in keys)
        assert {str(f.get_slice(k).get_dtype()) for k in keys} == {"BF16"}
    record = json.loads((path / "training.json").read_text())
    assert record["stage"] == stage and record["method"] == "lora"
    assert record["metrics"]["after"]["nll"] < record["metrics"]["before"]["nll"]
    assert "/tmp" not in json.dumps(record) and "/root" not in json.dumps(record)


def test_the_model_card_gives_data_licences_recipe_and_limits():
    card = (ADAPTERS_DIR / "MODEL_CARD.md").read_text()
    for needle in (
        "--teacher rules",
        "training/configs/embedded_default.yaml",
        "CC BY-SA 4.0",
        "Matthew Raymond",
        "data/corpus/LICENSES.md",
        "What it cannot do",
        "DSR_EMBEDDED_ADAPTERS=false",
    ):
        assert needle in card, needle
    assert (ROOT / "training" / "configs" / "embedded_default.yaml").is_file()


def test_embedded_stage_roles_default_to_the_shipped_adapters(adapters_on):
    settings = load_settings()
    for role, stage in SHIPPED_STAGE.items():
        assert settings.role(role).adapter == str(shipped_adapter(stage)), role
    assert settings.novelist.prompt == "stage1", "the Stage 1 adapter answers the prompt it was trained on"
    assert settings.planner.prompt == "default"
    for role in ("critic", "judge", "teacher", "memory"):
        assert settings.role(role).adapter is None, "the critic and the other roles judge with the bare base"


def test_the_setting_returns_every_role_to_the_bare_base(adapters_on, monkeypatch):
    monkeypatch.setenv("DSR_EMBEDDED_ADAPTERS", "false")
    settings = load_settings()
    assert all(settings.role(role).adapter is None for role in SHIPPED_STAGE)
    assert settings.novelist.prompt == "default"


def test_a_role_setting_of_its_own_wins(adapters_on, monkeypatch, tmp_path):
    own = tmp_path / "my-adapter"
    own.mkdir()
    monkeypatch.setenv("DSR_SCREENWRITER__ADAPTER", str(own))
    monkeypatch.setenv("DSR_NOVELIST__PROMPT", "default")
    monkeypatch.setenv("DSR_PLANNER__PROVIDER", "hf")
    monkeypatch.setenv("DSR_PLANNER__MODEL", "HuggingFaceTB/SmolLM2-135M-Instruct")
    settings = load_settings()
    assert settings.screenwriter.adapter == str(own)
    assert settings.novelist.adapter == str(shipped_adapter(1)) and settings.novelist.prompt == "default"
    assert settings.planner.adapter is None, "only embedded roles get the shipped adapters"


def test_doctor_names_the_shipped_weights(adapters_on):
    env = {k: v for k, v in os.environ.items() if not is_user_setting(k)} | {"COLUMNS": "220"}
    result = subprocess.run(
        [str(VENV_BIN / "dsr"), "doctor"], env=env, capture_output=True, text=True, timeout=300
    )
    rows: dict[str, str] = {}
    for line in result.stdout.splitlines():
        if line.count("│") > 3:  # the roles table comes first; later tables repeat role names
            rows.setdefault(line.split("│")[1].strip(), line)
    assert "shipped Stage 1 adapter" in rows["planner"] and "shipped Stage 1 adapter" in rows["novelist"]
    assert "shipped Stage 2 adapter" in rows["screenwriter"]
    assert "(base, no adapter)" in rows["critic"]


@pytest.mark.slow
def test_a_scene_written_with_the_shipped_adapters(tmp_path):
    """`dsr write` on the example's first scene with the default a new user gets: the Stage 1 adapter answers
    planner and novelist as one split answer, the Stage 2 adapter the screenwriter, the base the critic."""
    env = {k: v for k, v in os.environ.items() if not is_user_setting(k)} | {"DSR_EMBEDDED_ADAPTERS": "true"}
    run = tmp_path / "run"
    result = subprocess.run(
        [str(VENV_BIN / "dsr"), "write", str(EXAMPLE), "-o", str(run), "--scenes", "1", "--max-retries", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    calls = read_call_log(run / "calls.jsonl")  # the model calls (not the structured or outcome records)
    by_role: dict[str, set[str]] = {}
    for call in calls:
        by_role.setdefault(call["role"], set()).add(call["model"])
    assert {"planner", "novelist", "screenwriter"} <= set(by_role), by_role
    assert by_role.pop("planner") == by_role.pop("novelist") == {"SmolLM2-135M-Instruct+stage1"}, by_role
    assert by_role.pop("screenwriter") == {"SmolLM2-135M-Instruct+stage2"}, by_role
    # the critic calls a model only for the rubric, after the checks pass; memory extracts the scene's facts
    assert by_role and all(models == {"SmolLM2-135M-Instruct"} for models in by_role.values()), (
        "every other role runs the bare base",
        by_role,
    )
    assert any(call.get("split") == "novel" for call in calls), "the novelist continued the planner's answer"
    report = json.loads((run / "report.json").read_text())
    assert report["scenes"][0]["status"] in ("passed", "accepted_with_findings")
    assert (run / "episode.fountain").read_text().strip()
