"""Routing of the DSR graph with scripted critic verdicts and scripted models (routing logic only).

The real models, memory and checkpoints are exercised in tests/test_graph_e2e.py; here a fake chat
model keeps each run instant so every route can be walked.
"""

from __future__ import annotations

import itertools

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from graph.builder import compile_episode_graph, compile_scene_graph
from graph.context import RunContext
from graph.episode_spec import EpisodeSpec
from nodes import runtime as node_runtime
from nodes.critic import decide
from nodes.findings import Finding

DIRECTIVES = '{"pacing": {"beats": [{"label": "find"}], "ending": "hook"}, "characters": [{"name": "MARA"}]}'
SCENE = "EXT. LIGHTHOUSE BASE - NIGHT\n\nMara lifts her lantern.\n\nMARA\nWho's there?\n"
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


class ScriptedModels:
    """Every role answers from an endless script; counts model calls per role."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __call__(self, role: str, settings=None):
        text = {"planner": DIRECTIVES, "novelist": "Mara lifted her lantern.", "screenwriter": SCENE}.get(role, "{}")
        calls = self.calls

        class Counting(GenericFakeChatModel):
            def _generate(self, *args, **kwargs):
                calls[role] = calls.get(role, 0) + 1
                return super()._generate(*args, **kwargs)

        return Counting(messages=itertools.repeat(AIMessage(text)))


@pytest.fixture
def scripted(monkeypatch):
    models = ScriptedModels()
    monkeypatch.setattr(node_runtime, "get_chat_model", models)
    node_runtime.chat_model.cache_clear()
    yield models
    node_runtime.chat_model.cache_clear()


def scripted_checks(monkeypatch, verdicts: list[list[Finding]]):
    """The critic's deterministic checks return these findings, one list per critic call."""
    queue = list(verdicts)
    monkeypatch.setattr("nodes.critic.deterministic_checks", lambda *a, **k: queue.pop(0) if queue else [])


@pytest.mark.parametrize(
    ("findings", "retries", "mode", "expected"),
    [
        ([], {}, "dsr", ("pass", None)),
        ([F("screenwriter"), F("novelist")], {}, "dsr", ("revise", "novelist")),
        ([F("planner")], {}, "dsr-nocot", ("revise", "novelist")),
        ([F("planner"), F("novelist")], {}, "e2e", ("revise", "screenwriter")),
        ([F("novelist")], {"novelist": 2}, "dsr", ("accept_with_findings", "novelist")),
        ([F("screenwriter")], {"novelist": 2, "planner": 2}, "dsr", ("accept_with_findings", "screenwriter")),
        ([Finding(check="w", stage="novelist", severity="warning", message="m")], {}, "dsr", ("pass", None)),
    ],
)
def test_decide(findings, retries, mode, expected):
    assert decide(findings, retries, mode=mode, stage_cap=2, scene_cap=4, review_scene=False) == expected


def test_escalates_to_review_when_scene_review_is_on():
    assert decide([F("novelist")], {"novelist": 2}, mode="dsr", stage_cap=2, scene_cap=4, review_scene=True) == (
        "escalate",
        "novelist",
    )


def _run_scene(context: RunContext):
    graph = compile_scene_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    x = SPEC.task_input(0).model_dump(mode="json")
    graph.invoke({"x": x, "calls": [], "timings": [], "scenes": []}, config, context=context)
    return graph, config


def test_failing_prose_goes_back_to_the_novelist_only(monkeypatch, scripted):
    scripted_checks(monkeypatch, [[F("novelist")], []])
    graph, config = _run_scene(RunContext(use_rubric=False))
    state = graph.get_state(config).values
    assert [v["decision"] for v in state["verdicts"]] == ["revise", "pass"]
    assert scripted.calls == {"planner": 1, "novelist": 2, "screenwriter": 2}
    assert state["accepted"]["status"] == "passed" and state["retries"] == {"novelist": 1}


def test_format_failure_reruns_only_the_screenwriter(monkeypatch, scripted):
    scripted_checks(monkeypatch, [[F("screenwriter")], [F("screenwriter")], []])
    graph, config = _run_scene(RunContext(use_rubric=False))
    assert scripted.calls == {"planner": 1, "novelist": 1, "screenwriter": 3}


def test_planner_blame_reruns_the_whole_chain_with_critique(monkeypatch, scripted):
    scripted_checks(monkeypatch, [[F("planner", "P1")], []])
    graph, config = _run_scene(RunContext(use_rubric=False))
    assert scripted.calls == {"planner": 2, "novelist": 2, "screenwriter": 2}
    assert graph.get_state(config).values["critique"] == {}, "consumed critique is cleared"


def test_caps_accept_with_open_findings(monkeypatch, scripted):
    scripted_checks(monkeypatch, [[F("novelist")]] * 10)
    graph, config = _run_scene(RunContext(use_rubric=False, max_retries_per_stage=2))
    state = graph.get_state(config).values
    assert [v["decision"] for v in state["verdicts"]] == ["revise", "revise", "accept_with_findings"]
    assert state["accepted"]["status"] == "accepted_with_findings"
    assert state["accepted"]["open_findings"][0]["stage"] == "novelist"


def test_modes_skip_stages(monkeypatch, scripted):
    scripted_checks(monkeypatch, [[], []])
    _run_scene(RunContext(use_rubric=False, mode="dsr-nocot"))
    assert scripted.calls == {"novelist": 1, "screenwriter": 1}
    _run_scene(RunContext(use_rubric=False, mode="e2e"))
    assert scripted.calls == {"novelist": 1, "screenwriter": 2}


def test_review_reject_then_approve(monkeypatch, scripted):
    scripted_checks(monkeypatch, [[], []])
    graph = compile_scene_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "r"}}
    ctx = RunContext(use_rubric=False, review=["prose", "scene"])
    graph.invoke({"x": SPEC.task_input(0).model_dump(mode="json"), "calls": [], "timings": []}, config, context=ctx)
    assert graph.get_state(config).interrupts[0].value["point"] == "prose"
    graph.invoke(Command(resume={"action": "reject", "note": "more storm"}), config, context=ctx)
    assert scripted.calls["novelist"] == 2
    assert graph.get_state(config).interrupts[0].value["point"] == "prose"
    graph.invoke(Command(resume="approve"), config, context=ctx)
    assert graph.get_state(config).interrupts[0].value["point"] == "scene"
    graph.invoke(Command(resume={"action": "edit", "value": SCENE + "\nMara shuts the door.\n"}), config, context=ctx)
    state = graph.get_state(config)
    assert not state.next and state.values["accepted"]["status"] == "edited_by_human"
    assert "shuts the door" in state.values["accepted"]["screenplay"]


def test_episode_graph_loops_over_scenes(monkeypatch, scripted):
    scripted_checks(monkeypatch, [[], []])
    graph = compile_episode_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "e"}}
    first = {"spec": SPEC.model_dump(mode="json"), "scene_index": 0, "calls": [], "timings": [], "scenes": []}
    out = graph.invoke(first, config, context=RunContext(use_rubric=False))
    assert [s["scene_no"] for s in out["scenes"]] == [1, 2]
    assert scripted.calls == {"planner": 2, "novelist": 2, "screenwriter": 2}
    assert {c["scene"] for c in out["calls"]} == {1, 2}
