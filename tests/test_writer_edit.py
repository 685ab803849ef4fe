"""A writer's edit forks the run: only what is downstream re-runs, the edit is never silently rewritten,
superseded memory is retired, every version stays in the history and can be restored (``dsr edit``,
``dsr history``).

Runs here use real SQLite checkpoints and real files with a recording fake model per role (tests/recording.py),
so every model call of a re-run can be counted and read; the real embedded model does the same walk in
tests/test_writer_edit_e2e.py.
"""

# ruff: noqa: F811 - the fake_models fixture is a parameter of most tests

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from dsr.cli.main import main
from dsr.contract.call_log import read_call_log
from dsr.contract.context import RunContext
from dsr.nodes.writer_edit import protect_decision
from dsr.run.fork import fork_scene, parse_value
from dsr.run.history import read_tree, stale_work
from dsr.run.runlock import RunBusy, holding
from dsr.run.runner import drive, initial_input, run_state, start_run
from dsr.story.episode_spec import load_episode
from dsr.story.findings import Finding
from tests.recording import DIRECTIVES, RecordingModels, fake_models, script_checks  # noqa: F401 - fixture by name

THREE = Path(__file__).parent / "data" / "room" / "three-scenes.yaml"
NEW_PROSE = (
    "Brennan stands dripping in the kitchen doorway. Mara pours him tea and does not look at the stairs."
)
NEW_SCENE = "INT. LIGHTHOUSE KITCHEN - DAWN\n\nBrennan drips on the flagstones.\n\nBRENNAN\nSeen a sailor?\n"


def F(stage: str) -> Finding:  # noqa: N802 - reads like a constructor
    return Finding(check="X-test", stage=stage, message=f"{stage} problem")


def write_run(
    tmp_path: Path, models: RecordingModels, *, mode: str = "dsr", memory: bool = False
) -> tuple[Path, RunContext]:
    """A finished three-scene run written by the fake models (every check passes)."""
    run = tmp_path / "run"
    spec = load_episode(THREE)
    context = RunContext(
        mode=mode,
        use_rubric=False,
        run_dir=str(run),
        max_retries_per_stage=1,
        max_retries_per_scene=2,
        memory_dir=str(run / "memory") if memory else None,
    )
    context = replace(start_run(spec, run, context), model_factory=models)
    result = drive(run, context, initial_input(spec))
    assert result.finished
    models.requests.clear()
    return run, context


def scene_prompts(models: RecordingModels, role: str, marker: str) -> list[str]:
    return [p for p in models.prompts(role) if marker in p]


def dsr(monkeypatch, capsys, *args: str, models: RecordingModels | None = None) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["dsr", *args])
    try:
        main(models.cli() if models else None)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def passing(monkeypatch):
    """The critic's deterministic checks find nothing unless a test scripts findings."""
    return script_checks(monkeypatch, [])


def test_prose_edit_reruns_only_the_scenes_later_stages_and_later_scenes(tmp_path, fake_models, passing):
    run, context = write_run(tmp_path, fake_models)
    before = len(read_call_log(run / "calls.jsonl"))
    result = fork_scene(run, 2, "prose", parse_value("prose", NEW_PROSE))
    assert result is not None and result.stale == {2: "screenplay, critic, commit", 3: "all"}
    assert "+" + NEW_PROSE in result.diff
    assert (run / "scenes" / "02" / "prose.md").read_text().strip() == NEW_PROSE  # written at once
    _, pending, _ = run_state(run)
    assert pending is None and stale_work(read_tree(run).lineage(), 3) == {2: "from screenwriter", 3: "all"}

    assert drive(run, context, None).finished
    # Scene 2: the screenwriter only, on the writer's prose; scene 3: every stage. Nothing of scene 1.
    assert fake_models.calls == {"screenwriter": 2, "planner": 1, "novelist": 1}
    assert scene_prompts(fake_models, "screenwriter", NEW_PROSE)
    logged = read_call_log(run / "calls.jsonl")[before:]
    assert sorted((c["scene"], c["role"]) for c in logged) == [
        (2, "screenwriter"),
        (3, "novelist"),
        (3, "planner"),
        (3, "screenwriter"),
    ]
    _, _, values = run_state(run)
    assert [s["scene_no"] for s in values["scenes"]] == [1, 2, 3]
    assert values["scenes"][1]["prose"] == NEW_PROSE
    report = json.loads((run / "report.json").read_text())
    assert [s["scene"] for s in report["scenes"]] == [1, 2, 3]


def test_directives_edit_reaches_the_novelist_and_skips_the_planner(tmp_path, fake_models, passing):
    run, context = write_run(tmp_path, fake_models)
    edited = json.loads(DIRECTIVES) | {
        "pacing": {"beats": [{"label": "the teacup rattles"}], "ending": "cliffhanger"}
    }
    assert fork_scene(run, 2, "directives", parse_value("directives", json.dumps(edited))) is not None
    assert drive(run, context, None).finished
    assert fake_models.calls == {
        "novelist": 2,
        "screenwriter": 2,
        "planner": 1,
    }  # the planner for scene 3 only
    assert scene_prompts(fake_models, "novelist", "the teacup rattles")
    saved = json.loads((run / "scenes" / "02" / "directives.json").read_text())
    assert saved["pacing"]["beats"][0]["label"] == "the teacup rattles"


def test_a_finding_on_the_edit_goes_to_review_not_to_a_rewrite(tmp_path, fake_models, monkeypatch):
    run, context = write_run(tmp_path, fake_models)
    script_checks(monkeypatch, [[F("screenwriter")]])
    fork_scene(run, 2, "screenplay", parse_value("screenplay", NEW_SCENE))
    result = drive(run, context, None)
    assert not result.finished and result.paused_for["point"] == "scene"
    assert result.paused_for["screenplay"] == NEW_SCENE and result.paused_for["decision"] == "escalate"
    assert fake_models.calls == {}  # the writer's screenplay was not regenerated
    assert drive(run, context, None, reviewer=lambda payload: {"action": "approve"}).finished
    _, _, values = run_state(run)
    assert (
        values["scenes"][1]["screenplay"] == NEW_SCENE
        and values["scenes"][1]["status"] == "approved_by_human"
    )


def test_a_finding_before_the_edit_goes_to_review_one_after_it_is_revised(tmp_path, fake_models, monkeypatch):
    run, context = write_run(tmp_path, fake_models)
    # On a prose edit, the screenplay written from it may be rewritten: the writer did not write it.
    script_checks(monkeypatch, [[F("screenwriter")]])
    fork_scene(run, 2, "prose", NEW_PROSE)
    assert drive(run, context, None).finished
    assert fake_models.calls["screenwriter"] == 3  # scene 2 twice, scene 3 once

    fake_models.requests.clear()
    script_checks(monkeypatch, [[F("planner")]])  # rerunning the planner would rewrite the prose too
    fork_scene(run, 2, "prose", NEW_PROSE + " The cat watches.")
    paused = drive(run, context, None)
    assert paused.paused_for and paused.paused_for["point"] == "scene"
    assert "planner" not in fake_models.calls and "novelist" not in fake_models.calls
    # Rejecting with a note is the writer's consent: the novelist rewrites, told the note.
    note = "Let Brennan notice the second cup."
    done = drive(
        run, context, None, reviewer=lambda p: {"action": "reject", "note": note, "stage": "novelist"}
    )
    assert done.finished and scene_prompts(fake_models, "novelist", note)


@pytest.mark.parametrize(
    ("decision", "stage", "edit", "expected"),
    [
        ("revise", "novelist", None, "revise"),
        ("revise", "novelist", {"stage": "prose"}, "escalate"),
        ("revise", "planner", {"stage": "prose"}, "escalate"),
        ("revise", "screenwriter", {"stage": "prose"}, "revise"),
        ("revise", "screenwriter", {"stage": "screenplay"}, "escalate"),
        ("revise", "novelist", {"stage": "directives"}, "revise"),
        ("accept_with_findings", "novelist", {"stage": "prose"}, "escalate"),
        ("accept_with_findings", "screenwriter", {"stage": "directives"}, "accept_with_findings"),
        ("pass", None, {"stage": "screenplay"}, "pass"),
        ("escalate", "novelist", {"stage": "prose"}, "escalate"),
    ],
)
def test_protect_decision(decision, stage, edit, expected):
    assert protect_decision(decision, stage, edit) == expected


def test_history_lists_versions_and_restores_one(tmp_path, fake_models, passing, monkeypatch, capsys):
    run, context = write_run(tmp_path, fake_models)
    fork_scene(run, 2, "prose", NEW_PROSE)
    assert drive(run, context, None).finished
    versions = read_tree(run).versions()
    assert [(v.label, v.current) for v in versions[1]] == [("1.1", True)]
    assert [(v.label, v.current) for v in versions[2]] == [("2.1", False), ("2.2", True)]
    assert versions[2][1].origin() == "edit #1 (prose edit)"
    assert versions[3][1].origin() == "re-run after edit #1 (scene 2 prose edit)"
    assert versions[2][0].origin() == "written by dsr write"

    code, out = dsr(monkeypatch, capsys, "history", str(run), "--json")
    rows = json.loads(out)
    assert code == 0 and rows["finished"] and [e["id"] for e in rows["edits"]] == [1]
    assert [v["version"] for v in rows["scenes"][1]["versions"]] == ["2.1", "2.2"]

    original = versions[2][0].record
    code, out = dsr(monkeypatch, capsys, "history", str(run), "--restore", "2.1")
    assert code == 0 and "restored version 2.1 of scene 2" in out and "dsr resume" in out
    assert drive(run, context, None).finished
    _, _, values = run_state(run)
    assert values["scenes"][1]["prose"] == original["prose"]
    assert values["scenes"][1]["screenplay"] == original["screenplay"]
    latest = read_tree(run).versions()[2][-1]
    assert latest.label == "2.3" and latest.current and latest.origin() == "edit #2 (restore of 2.1)"


def test_edit_from_the_command_line(tmp_path, fake_models, passing, monkeypatch, capsys):
    run, _ = write_run(tmp_path, fake_models)
    new = tmp_path / "scene2.md"
    new.write_text(NEW_PROSE + "\n")
    code, out = dsr(monkeypatch, capsys, "edit", str(run), str(new), "--scene", "2", "--stage", "prose")
    text = " ".join(out.split())
    assert code == 0 and "edit #1: replaced the prose of scene 2" in text
    assert "scene 2 (screenplay, critic, commit), scene 3 (all), the episode files" in text
    code, out = dsr(monkeypatch, capsys, "edit", str(run), str(new), "--scene", "2", "--stage", "prose")
    assert code == 0 and "unchanged" in out  # the same text again forks nothing
    code, out = dsr(monkeypatch, capsys, "resume", str(run), models=fake_models)
    assert code == 0, out
    assert fake_models.calls == {"screenwriter": 2, "planner": 1, "novelist": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scene", "9", "--stage", "prose"], "there is no scene 9"),
        (["--scene", "2", "--stage", "dialogue"], "unknown stage 'dialogue'"),
        (["--scene", "2", "--stage", "directives"], "not JSON"),
    ],
)
def test_bad_edits_are_one_line_and_exit_2(
    tmp_path, fake_models, passing, monkeypatch, capsys, args, message
):
    run, _ = write_run(tmp_path, fake_models)
    new = tmp_path / "new.txt"
    new.write_text("not json at all\n")
    code, out = dsr(monkeypatch, capsys, "edit", str(run), str(new), *args)
    assert code == 2 and message in out and len(out.strip().splitlines()) == 1, out


def test_edits_the_mode_has_no_stage_for_and_unknown_versions_are_refused(
    tmp_path, fake_models, passing, monkeypatch, capsys
):
    run, _ = write_run(tmp_path, fake_models, mode="e2e")
    new = tmp_path / "new.md"
    new.write_text(NEW_PROSE)
    code, out = dsr(monkeypatch, capsys, "edit", str(run), str(new), "--scene", "1", "--stage", "prose")
    assert code == 2 and "a e2e run has no prose stage" in out
    code, out = dsr(monkeypatch, capsys, "history", str(run), "--restore", "2.7")
    assert code == 2 and "scene 2 has no version 7" in out
    code, out = dsr(monkeypatch, capsys, "history", str(run), "--restore", "two")
    assert code == 2 and "not a version" in out
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))  # noqa: SIM115 - no terminal for $EDITOR
    code, out = dsr(monkeypatch, capsys, "edit", str(run), "--scene", "1", "--stage", "screenplay")
    assert code == 2 and "no FILE given" in out


def test_a_run_in_use_is_refused(tmp_path, fake_models, passing, monkeypatch, capsys):
    run, _ = write_run(tmp_path, fake_models)
    new = tmp_path / "new.md"
    new.write_text(NEW_PROSE)
    with holding(run, "the writers' room re-running scene 2"):
        with pytest.raises(RunBusy, match="busy .the writers' room re-running scene 2"):
            fork_scene(run, 2, "prose", NEW_PROSE)
        code, out = dsr(monkeypatch, capsys, "edit", str(run), str(new), "--scene", "2", "--stage", "prose")
        assert code == 2 and "busy" in out
    assert fork_scene(run, 2, "prose", NEW_PROSE) is not None  # released with the block


def test_an_unwritten_scene_cannot_be_edited(tmp_path, fake_models, passing):
    run = tmp_path / "run"
    spec = load_episode(THREE)
    context = RunContext(mode="dsr", use_rubric=False, run_dir=str(run), review=["prose"])
    context = replace(start_run(spec, run, context), model_factory=fake_models)
    paused = drive(run, context, initial_input(spec))
    assert paused.paused_for["point"] == "prose" and paused.paused_for["scene"] == 1
    with pytest.raises(Exception, match="scene 2 of .* has not been written yet"):
        fork_scene(run, 2, "prose", NEW_PROSE)
    # The scene in progress can be: its prose is what the review is about.
    assert fork_scene(run, 1, "prose", NEW_PROSE) is not None
    result = drive(run, context, None)
    assert result.paused_for["point"] == "prose" and result.paused_for["scene"] == 2  # scene 1 went on


@pytest.mark.slow  # real Chroma memory with its embedding model
def test_memory_of_superseded_scenes_is_retired_with_the_fork(tmp_path, fake_models, passing):
    from dsr.memory import StoryMemory

    run, context = write_run(tmp_path, fake_models, memory=True)
    memory = StoryMemory(context.memory_dir)
    assert [s.scene_no for s in memory.recent_scenes("harbor-lights", (1, 99), k=5)] == [1, 2, 3]
    result = fork_scene(run, 2, "prose", NEW_PROSE)
    assert result.retired >= 2 and result.edit["retired"] == result.retired
    assert [s.scene_no for s in memory.recent_scenes("harbor-lights", (1, 99), k=5)] == [1]
    assert drive(run, context, None).finished
    scenes = memory.recent_scenes("harbor-lights", (1, 99), k=5)
    assert [s.scene_no for s in scenes] == [1, 2, 3]
    # Scene 3 was written against the edited scene 2: its retrieved story names what the writer wrote.
    x3 = json.loads((run / "scenes" / "03" / "inputs.json").read_text())
    assert "Brennan" in json.dumps(x3["previous"])
