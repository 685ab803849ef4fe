"""Routing of the DSR graph: where a finding sends the draft, and what the rerun is told.

Scripted critic findings and a recording fake model per role (tests/recording.py) keep each run instant,
so every route can be walked and every rerun prompt read. A test here fails when a stage reruns without
the critique that blamed it, with a critique that is not its own, or past the documented caps. The real
models, memory and checkpoints are exercised in tests/test_graph_e2e.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from dsr.contract.call_log import CALL_LOG, CallLog, read_call_log, read_outcomes
from dsr.contract.context import RunContext
from dsr.graph.builder import compile_episode_graph, compile_scene_graph
from dsr.nodes.critic import decide
from dsr.story.episode_spec import EpisodeSpec
from dsr.story.findings import Finding
from tests.recording import DIRECTIVES, SCENE, RecordingModels, fake_models, script_checks  # noqa: F401

REVISE = "## Revise:"  # the heading every stage prompt puts above a critique
SPEC = EpisodeSpec.model_validate(
    {
        "title": "T",
        "series": "s",
        "characters": [{"name": "MARA", "profile": "keeper"}],
        "scenes": [{"outline": "Mara finds a stranger."}, {"outline": "Mara lies to Brennan."}],
    }
)


def F(stage: str, check: str = "X") -> Finding:  # noqa: N802 - reads like a constructor in the tables below
    return Finding(check=check, stage=stage, message=f"{stage} problem")


def finding(stage: str, check: str, what: str, severity: str = "error") -> Finding:
    """A finding whose message, evidence and hint are unique strings a prompt can be searched for."""
    return Finding(
        check=check,
        stage=stage,
        severity=severity,
        message=f"{what} is wrong",
        evidence=f"evidence of {what}",
        fix_hint=f"repair {what}",
    )


def told(prompt: str, f: Finding) -> bool:
    """Whether a prompt carries the finding: its check id, message, evidence and fix hint."""
    return all(part in prompt for part in (f"[{f.check}]", f.message, f.evidence, f.fix_hint))


# --- the pure decision ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("findings", "retries", "mode", "expected"),
    [
        ([], {}, "dsr", ("pass", None)),
        ([F("screenwriter"), F("novelist")], {}, "dsr", ("revise", "novelist")),
        ([F("planner")], {}, "dsr-nocot", ("revise", "novelist")),
        ([F("planner"), F("novelist")], {}, "e2e", ("revise", "screenwriter")),
        ([F("novelist")], {"novelist": 2}, "dsr", ("accept_with_findings", "novelist")),
        ([F("screenwriter")], {"novelist": 2, "planner": 2}, "dsr", ("accept_with_findings", "screenwriter")),
        ([F("screenwriter")], {"novelist": 1, "planner": 1}, "dsr", ("revise", "screenwriter")),
        ([Finding(check="w", stage="novelist", severity="warning", message="m")], {}, "dsr", ("pass", None)),
    ],
)
def test_decide(findings, retries, mode, expected):
    assert decide(findings, retries, mode=mode, stage_cap=2, scene_cap=4, review_scene=False) == expected


def test_escalates_to_review_when_scene_review_is_on():
    assert decide(
        [F("novelist")], {"novelist": 2}, mode="dsr", stage_cap=2, scene_cap=4, review_scene=True
    ) == (
        "escalate",
        "novelist",
    )


def test_no_retries_allowed_accepts_at_once():
    """``--max-retries 0``: the first failing draft is kept with its findings."""
    assert decide([F("novelist")], {}, mode="dsr", stage_cap=0, scene_cap=0, review_scene=False) == (
        "accept_with_findings",
        "novelist",
    )


# --- graph runs: what each rerun is told ---------------------------------------------------------------


def _run_scene(context: RunContext, thread: str = "t") -> tuple[CompiledStateGraph, dict[str, Any]]:
    """The scene graph compiled with a fresh in-memory checkpointer, run on scene 1 until it ends or pauses."""
    graph = compile_scene_graph(InMemorySaver())
    config = {"configurable": {"thread_id": thread}}
    x = SPEC.task_input(0).model_dump(mode="json")
    graph.invoke({"x": x, "timings": [], "scenes": []}, config, context=context)
    return graph, config


def test_novelist_finding_reaches_the_novelists_rerun_and_nothing_else(monkeypatch, fake_models):
    blame = finding("novelist", "N1-coverage", "the missing rescue beat")
    script_checks(monkeypatch, [[blame], []])
    fake_models.script("novelist", "First draft of the prose.", "Second draft of the prose.")
    graph, config = _run_scene(fake_models.context(use_rubric=False))
    state = graph.get_state(config).values
    assert [v["decision"] for v in state["verdicts"]] == ["revise", "pass"]
    assert fake_models.calls == {"planner": 1, "novelist": 2, "screenwriter": 2}
    first, rerun = fake_models.prompts("novelist")
    assert not told(first, blame) and REVISE not in first
    assert told(rerun, blame) and REVISE in rerun
    # The screenwriter converts the new draft and is told nothing: the finding was not its own.
    screen_first, screen_rerun = fake_models.prompts("screenwriter")
    assert (
        "First draft" in screen_first and "Second draft" in screen_rerun and "First draft" not in screen_rerun
    )
    assert REVISE not in screen_rerun and blame.message not in screen_rerun
    assert state["accepted"]["status"] == "passed" and state["retries"] == {"novelist": 1}
    assert state["critique"] == {}, "consumed critique is cleared"


def test_format_finding_reruns_only_the_screenwriter_with_its_critique(monkeypatch, fake_models):
    first_problem = finding("screenwriter", "F1-parse", "the orphan cue")
    second_problem = finding("screenwriter", "F3-heading", "the second heading")
    script_checks(monkeypatch, [[first_problem], [second_problem], []])
    _run_scene(fake_models.context(use_rubric=False))
    assert fake_models.calls == {"planner": 1, "novelist": 1, "screenwriter": 3}
    initial, rerun1, rerun2 = fake_models.prompts("screenwriter")
    assert REVISE not in initial
    assert told(rerun1, first_problem) and not told(rerun1, second_problem)
    # Each rerun is told the latest verdict only: the first critique is not carried into the second rerun.
    assert told(rerun2, second_problem) and first_problem.message not in rerun2


def test_planner_finding_reaches_the_planner_and_the_chain_reruns_on_the_new_plan(monkeypatch, fake_models):
    blame = finding("planner", "P1-directives", "the missing climax beat")
    script_checks(monkeypatch, [[blame], []])
    fake_models.script("planner", DIRECTIVES, DIRECTIVES.replace('"find"', '"find-the-stranger-again"'))
    graph, config = _run_scene(fake_models.context(use_rubric=False))
    assert fake_models.calls == {"planner": 2, "novelist": 2, "screenwriter": 2}
    plan_first, plan_rerun = fake_models.prompts("planner")
    assert REVISE not in plan_first and told(plan_rerun, blame) and REVISE in plan_rerun
    novel_first, novel_rerun = fake_models.prompts("novelist")
    assert "find-the-stranger-again" in novel_rerun and "find-the-stranger-again" not in novel_first
    for later in (novel_rerun, fake_models.prompts("screenwriter")[1]):
        assert REVISE not in later and blame.message not in later  # the planner's critique is the planner's
    assert graph.get_state(config).values["critique"] == {}, "consumed critique is cleared"


def test_every_error_finding_reaches_the_earliest_blamed_stage_and_warnings_do_not(monkeypatch, fake_models):
    story = finding("novelist", "N2-pov", "the inner monologue")
    fmt = finding("screenwriter", "F1-parse", "the orphan cue")
    hint = finding("novelist", "L-length", "the slight overlength", severity="warning")
    script_checks(monkeypatch, [[fmt, story, hint], []])
    _run_scene(fake_models.context(use_rubric=False))
    assert fake_models.calls == {"planner": 1, "novelist": 2, "screenwriter": 2}
    rerun = fake_models.prompts("novelist")[1]
    assert told(rerun, story) and told(rerun, fmt)
    assert hint.message not in rerun, "a warning sends nothing back"


def test_e2e_rerun_prompt_carries_findings_blamed_on_stages_it_does_not_have(monkeypatch, fake_models):
    plan = finding("planner", "P1-directives", "the flat turning point")
    story = finding("novelist", "N1-coverage", "the skipped rescue beat")
    script_checks(monkeypatch, [[plan, story], []])
    graph, config = _run_scene(fake_models.context(use_rubric=False, mode="e2e"))
    assert fake_models.calls == {"screenwriter": 2}
    first, rerun = fake_models.prompts("screenwriter")
    assert "previous screenplay" not in first and REVISE not in first
    assert told(rerun, plan) and told(rerun, story) and "previous screenplay" in rerun
    assert graph.get_state(config).values["retries"] == {"screenwriter": 1}


def test_nocot_planner_finding_goes_to_the_novelist(monkeypatch, fake_models):
    plan = finding("planner", "P1-directives", "the unplanned ending")
    script_checks(monkeypatch, [[plan], []])
    _run_scene(fake_models.context(use_rubric=False, mode="dsr-nocot"))
    assert fake_models.calls == {"novelist": 2, "screenwriter": 2}
    assert told(fake_models.prompts("novelist")[1], plan)


def test_a_rerun_without_its_own_finding_gets_no_stale_critique(monkeypatch, fake_models):
    """Novelist blamed, then planner blamed: the novelist's second rerun follows the new plan, with no note."""
    story = finding("novelist", "N1-coverage", "the skipped rescue beat")
    plan = finding("planner", "P1-directives", "the missing climax beat")
    script_checks(monkeypatch, [[story], [plan], []])
    graph, config = _run_scene(fake_models.context(use_rubric=False))
    assert fake_models.calls == {"planner": 2, "novelist": 3, "screenwriter": 3}
    _, told_story, after_plan = fake_models.prompts("novelist")
    assert told(told_story, story)
    assert REVISE not in after_plan and story.message not in after_plan and plan.message not in after_plan
    assert told(fake_models.prompts("planner")[1], plan)
    assert not any(REVISE in p for p in fake_models.prompts("screenwriter"))
    state = graph.get_state(config).values
    assert state["retries"] == {"novelist": 1, "planner": 1} and state["critique"] == {}


def test_stage_cap_ends_the_loop_with_open_findings(monkeypatch, fake_models):
    blame = finding("novelist", "N1-coverage", "the skipped rescue beat")
    script_checks(monkeypatch, [[blame]] * 10)
    graph, config = _run_scene(fake_models.context(use_rubric=False, max_retries_per_stage=2))
    state = graph.get_state(config).values
    assert [v["decision"] for v in state["verdicts"]] == ["revise", "revise", "accept_with_findings"]
    assert fake_models.calls == {"planner": 1, "novelist": 3, "screenwriter": 3}
    assert [told(p, blame) for p in fake_models.prompts("novelist")] == [False, True, True]
    assert state["accepted"]["status"] == "accepted_with_findings"
    assert [f["message"] for f in state["accepted"]["open_findings"]] == [blame.message]


def test_scene_cap_ends_the_loop_before_any_stage_reaches_its_own(monkeypatch, fake_models):
    """Reruns count per scene too: stage cap 2, scene cap 3, blame alternating between two stages."""
    story, fmt = finding("novelist", "N1", "the story"), finding("screenwriter", "F1", "the format")
    script_checks(monkeypatch, [[story], [fmt], [story], [fmt], [story]])
    graph, config = _run_scene(
        fake_models.context(use_rubric=False, max_retries_per_stage=2, max_retries_per_scene=3)
    )
    state = graph.get_state(config).values
    assert [(v["decision"], v["route"]) for v in state["verdicts"]] == [
        ("revise", "novelist"),
        ("revise", "screenwriter"),
        ("revise", "novelist"),
        ("accept_with_findings", "screenwriter"),
    ]
    assert state["retries"] == {"novelist": 2, "screenwriter": 1}
    assert fake_models.calls == {"planner": 1, "novelist": 3, "screenwriter": 4}
    assert state["accepted"]["status"] == "accepted_with_findings"


def test_past_the_caps_scene_review_gets_the_draft_and_its_findings(monkeypatch, fake_models):
    blame = finding("screenwriter", "F1-parse", "the orphan cue")
    script_checks(monkeypatch, [[blame]] * 10)
    ctx = fake_models.context(
        use_rubric=False, review=["scene"], max_retries_per_stage=1, max_retries_per_scene=2
    )
    graph, config = _run_scene(ctx)
    payload = graph.get_state(config).interrupts[0].value
    assert payload["point"] == "scene" and payload["decision"] == "escalate"
    assert [f["message"] for f in payload["findings"]] == [blame.message]
    assert fake_models.calls["screenwriter"] == 2
    graph.invoke(Command(resume="approve"), config, context=ctx)
    assert graph.get_state(config).values["accepted"]["status"] == "approved_by_human"


def test_modes_skip_stages(monkeypatch, fake_models):
    script_checks(monkeypatch, [[], []])
    _run_scene(fake_models.context(use_rubric=False, mode="dsr-nocot"))
    assert fake_models.calls == {"novelist": 1, "screenwriter": 1}
    _run_scene(fake_models.context(use_rubric=False, mode="e2e"))
    assert fake_models.calls == {"novelist": 1, "screenwriter": 2}


# --- human review: a reject note is the named stage's critique -----------------------------------------


def test_prose_reject_note_reaches_the_novelist_then_approve_edits_the_scene(monkeypatch, fake_models):
    script_checks(monkeypatch, [[], []])
    graph = compile_scene_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "r"}}
    ctx = fake_models.context(use_rubric=False, review=["prose", "scene"])
    graph.invoke({"x": SPEC.task_input(0).model_dump(mode="json"), "timings": []}, config, context=ctx)
    assert graph.get_state(config).interrupts[0].value["point"] == "prose"
    graph.invoke(Command(resume={"action": "reject", "note": "more storm, less talk"}), config, context=ctx)
    assert fake_models.calls["novelist"] == 2
    first, rerun = fake_models.prompts("novelist")
    assert "more storm, less talk" not in first
    assert "- [human] more storm, less talk" in rerun and REVISE in rerun
    assert graph.get_state(config).interrupts[0].value["point"] == "prose"
    graph.invoke(Command(resume="approve"), config, context=ctx)
    assert graph.get_state(config).interrupts[0].value["point"] == "scene"
    assert not any("more storm" in p for p in fake_models.prompts("screenwriter"))
    graph.invoke(
        Command(resume={"action": "edit", "value": SCENE + "\nMara shuts the door.\n"}), config, context=ctx
    )
    state = graph.get_state(config)
    assert not state.next and state.values["accepted"]["status"] == "edited_by_human"
    assert "shuts the door" in state.values["accepted"]["screenplay"]


def test_directives_reject_note_reaches_the_planner(monkeypatch, fake_models):
    script_checks(monkeypatch, [[]])
    ctx = fake_models.context(use_rubric=False, review=["directives"])
    graph, config = _run_scene(ctx)
    graph.invoke(Command(resume={"action": "reject", "note": "open on the lantern"}), config, context=ctx)
    assert fake_models.calls == {"planner": 2}
    first, rerun = fake_models.prompts("planner")
    assert "open on the lantern" not in first and "- [human] open on the lantern" in rerun
    graph.invoke(Command(resume="approve"), config, context=ctx)
    assert not any("open on the lantern" in p for p in fake_models.prompts("novelist"))
    assert graph.get_state(config).values["accepted"]["status"] == "passed"


@pytest.mark.parametrize(
    ("mode", "named", "reruns"),
    [
        ("dsr", "screenwriter", "screenwriter"),
        ("dsr", "planner", "planner"),
        ("dsr-nocot", "planner", "novelist"),
        ("e2e", "novelist", "screenwriter"),
    ],
)
def test_scene_reject_note_reaches_the_stage_named(monkeypatch, fake_models, mode, named, reruns):
    script_checks(monkeypatch, [[], []])
    ctx = fake_models.context(use_rubric=False, review=["scene"], mode=mode)
    graph, config = _run_scene(ctx)
    before = fake_models.calls
    graph.invoke(
        Command(resume={"action": "reject", "note": "Tom must lie", "stage": named}), config, context=ctx
    )
    assert fake_models.calls[reruns] == before[reruns] + 1
    assert "- [human] Tom must lie" in fake_models.prompts(reruns)[-1]
    noted = [
        role for role in fake_models.requests if any("Tom must lie" in p for p in fake_models.prompts(role))
    ]
    assert noted == [reruns], "only the stage named hears the note"
    graph.invoke(Command(resume="approve"), config, context=ctx)
    assert graph.get_state(config).values["accepted"]["status"] == "approved_by_human"


def test_episode_graph_loops_over_scenes(monkeypatch, fake_models, tmp_path):
    script_checks(monkeypatch, [[], []])
    graph = compile_episode_graph(InMemorySaver())
    log = tmp_path / CALL_LOG
    config = {"configurable": {"thread_id": "e"}, "callbacks": [CallLog(log)]}
    first = {"spec": SPEC.model_dump(mode="json"), "scene_index": 0, "timings": [], "scenes": []}
    out = graph.invoke(first, config, context=fake_models.context(use_rubric=False))
    assert [s["scene_no"] for s in out["scenes"]] == [1, 2]
    assert fake_models.calls == {"planner": 2, "novelist": 2, "screenwriter": 2}
    # Each model-calling node's outcome goes to calls.jsonl beside its model calls, not into graph state.
    outcomes = read_outcomes(log)
    assert "calls" not in out and [(o["scene"], o["node"], o["ok"]) for o in outcomes] == [
        (scene, node, True) for scene in (1, 2) for node in ("planner", "novelist", "screenwriter")
    ]
    assert sum(o["requests"] for o in outcomes) == len(read_call_log(log)) == 6
    assert all(o["step"] == c["step"] for o, c in zip(outcomes, read_call_log(log), strict=True))
    assert "Mara lies to Brennan" in fake_models.prompts("planner")[1]


def test_recording_models_keep_every_request(fake_models: RecordingModels):
    """The helper itself: scripts are used in order, then the role's default; every request is kept."""
    from dsr.nodes.runtime import chat_model

    fake_models.script("novelist", "one", RuntimeError("down"))
    model = chat_model(fake_models.context(), "novelist")
    assert model.invoke("first").content == "one"
    with pytest.raises(RuntimeError, match="down"):
        model.invoke("second")
    assert model.invoke("third").content == "Mara lifted her lantern."
    assert fake_models.prompts("novelist") == ["first", "second", "third"]


@pytest.mark.slow  # Chroma memory and the episode files make it a few seconds
def test_dsr_write_caps_are_max_retries_per_stage_and_twice_that_per_scene(
    tmp_path, monkeypatch, fake_models
):
    """The caps as the README states them, through `dsr write --max-retries N`."""
    from typer.testing import CliRunner

    from dsr.cli.main import app

    blame = finding("screenwriter", "F1-parse", "the orphan cue")
    script_checks(monkeypatch, [[blame]] * 20)
    run = tmp_path / "run"
    example = str(Path(__file__).resolve().parents[1] / "examples" / "harbor-lights.yaml")
    args = [
        "write",
        example,
        "-o",
        str(run),
        "--scenes",
        "1",
        "--mode",
        "e2e",
        "--no-rubric",
        "--max-retries",
        "1",
    ]
    result = CliRunner().invoke(app, args, obj=fake_models.cli())
    assert result.exit_code == 0, result.output
    context = json.loads((run / "run.json").read_text())["context"]
    assert (context["max_retries_per_stage"], context["max_retries_per_scene"]) == (1, 2)
    verdicts = json.loads((run / "scenes" / "01" / "critique.json").read_text())
    assert [v["decision"] for v in verdicts] == ["revise", "accept_with_findings"]
    # The screenwriter twice; the memory role once, for the facts of the scene commit accepted.
    assert fake_models.calls == {"screenwriter": 2, "memory": 1} and told(
        fake_models.prompts("screenwriter")[1], blame
    )
    report = json.loads((run / "report.json").read_text())
    assert report["scenes"][0]["status"] == "accepted_with_findings"
