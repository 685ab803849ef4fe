"""Runs with scripted models (logic only): outputs per system, cache on rerun, resume after a failure.

The real embedded model runs the same code in tests/test_evaluation_e2e.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsr.common.errors import BadInput
from dsr.evaluation import records
from dsr.evaluation.runs import parse_system_option, run_systems
from tests.recording import fake_models, rubric_reply, script_checks  # noqa: F401 - the fixture is used by name

DATA = Path(__file__).parent / "data" / "critic"


@pytest.fixture
def set_dir(tmp_path: Path) -> Path:
    x = json.loads((DATA / "scene.json").read_text(encoding="utf-8"))
    good = (DATA / "good_scene.fountain").read_text(encoding="utf-8")
    items = [
        {
            "id": f"s{i}",
            "x": x,
            "reference": good,
            "heading": "EXT.",
            "script": "d",
            "series": "d",
            "licence": "t",
        }
        for i in (1, 2)
    ]
    records.write_items(tmp_path / "set", items)
    return tmp_path / "set"


def systems():
    return [parse_system_option("dsr", rubric=False), parse_system_option("e2e", rubric=False)]


def test_every_system_writes_every_item_and_a_rerun_is_cached(tmp_path, set_dir, fake_models):
    eval_dir = tmp_path / "eval"
    summary = run_systems(set_dir, eval_dir, systems(), max_retries=0, model_factory=fake_models)
    assert summary == {
        "dsr": {"cached": 0, "done": 2, "failed": 0},
        "e2e": {"cached": 0, "done": 2, "failed": 0},
    }
    dsr, e2e = records.read_outputs(eval_dir, "dsr"), records.read_outputs(eval_dir, "e2e")
    assert [r["item"] for r in dsr] == ["s1", "s2"] and all(r["ok"] and r["screenplay"] for r in dsr + e2e)
    assert all(r["prose"] for r in dsr) and all(r["prose"] is None for r in e2e)
    assert all(r["calls"] >= 3 for r in dsr) and all(r["calls"] == 1 for r in e2e)
    assert [r["screenplay"] for r in records.read_outputs(eval_dir, "human")] == [
        (DATA / "good_scene.fountain").read_text(encoding="utf-8")
    ] * 2
    assert (eval_dir / "runs" / "dsr" / "s1" / "checkpoints.sqlite").is_file()
    calls = dict(fake_models.calls)
    assert run_systems(set_dir, eval_dir, systems(), max_retries=0, model_factory=fake_models)["dsr"] == {
        "cached": 2,
        "done": 0,
        "failed": 0,
    }
    assert fake_models.calls == calls  # nothing regenerated
    config = records.read_eval_config(eval_dir)
    assert config["item_ids"] == ["s1", "s2"] and config["models"]["e2e"] == {
        "screenwriter": "embedded:SmolLM2-135M-Instruct"
    }


def test_a_failing_endpoint_fails_the_item_and_a_rerun_resumes_it(tmp_path, set_dir, fake_models):
    broken = {"on": True}

    def flaky(role: str, config=None):
        model = fake_models(role, config)
        if role == "screenwriter":
            original = model._generate

            def generate(*args, **kwargs):
                if broken["on"]:
                    raise ConnectionError("endpoint down")
                return original(*args, **kwargs)

            object.__setattr__(model, "_generate", generate)
        return model

    eval_dir = tmp_path / "eval"
    system = [parse_system_option("dsr", rubric=False)]
    summary = run_systems(set_dir, eval_dir, system, max_retries=0, limit=1, model_factory=flaky)
    assert summary["dsr"] == {"cached": 0, "done": 0, "failed": 1}
    (row,) = records.read_outputs(eval_dir, "dsr")
    assert not row["ok"] and "endpoint down" in row["error"]
    before = dict(fake_models.calls)
    assert before.get("planner") and before.get("novelist")
    broken["on"] = False
    summary = run_systems(set_dir, eval_dir, system, max_retries=0, limit=1, model_factory=flaky)
    assert summary["dsr"] == {"cached": 0, "done": 1, "failed": 0}
    (row,) = records.read_outputs(eval_dir, "dsr")
    assert row["ok"] and row["screenplay"]
    # Resumed at the screenwriter: planner and novelist were not called again.
    assert (
        fake_models.calls["planner"] == before["planner"]
        and fake_models.calls["novelist"] == before["novelist"]
    )


def test_a_system_name_keeps_its_configuration(tmp_path, set_dir, fake_models):
    eval_dir = tmp_path / "eval"
    run_systems(
        set_dir,
        eval_dir,
        [parse_system_option("mine=e2e", rubric=False)],
        max_retries=0,
        limit=1,
        model_factory=fake_models,
    )
    with pytest.raises(BadInput, match="system 'mine' .* was run with another configuration"):
        run_systems(
            set_dir,
            eval_dir,
            [parse_system_option("mine=dsr", rubric=False)],
            max_retries=0,
            limit=1,
            model_factory=fake_models,
        )


@pytest.mark.parametrize(
    ("max_retries", "prose", "status"),
    [(1, "Second draft.", "passed"), (0, "First draft.", "accepted_with_findings")],
)
def test_max_retries_lets_the_rubric_send_an_item_back(
    tmp_path, set_dir, fake_models, monkeypatch, max_retries, prose, status
):
    """An evaluated system is the product's loop: a low rubric score reruns the novelist, with the judge's errors."""
    script_checks(monkeypatch, [])
    fake_models.script(
        "critic", rubric_reply(3, "Weak.", plot_coherence=["the rescue is skipped"]), rubric_reply(9, "Good.")
    )
    fake_models.script("novelist", "First draft.", "Second draft.")
    summary = run_systems(
        set_dir,
        tmp_path / "eval",
        [parse_system_option("dsr")],
        max_retries=max_retries,
        limit=1,
        model_factory=fake_models,
    )
    assert summary["dsr"] == {"cached": 0, "done": 1, "failed": 0}
    (row,) = records.read_outputs(tmp_path / "eval", "dsr")
    assert (row["prose"], row["status"]) == (prose, status)
    assert fake_models.calls["novelist"] == 1 + max_retries
    if max_retries:
        assert "plot_coherence: the rescue is skipped" in fake_models.prompts("novelist")[1]
