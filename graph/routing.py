"""Routing functions: pure reads of state and context, each returning a ``Literal`` of node names."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime

from dsr.contract.context import RunContext
from dsr.contract.records import ReviewDecision
from dsr.contract.state import EpisodeState, SceneState


def _last_review(state: SceneState) -> ReviewDecision:
    review = state.get("last_review")
    if review is None:
        raise ValueError("a review router ran before its review node recorded a decision")
    return review


def route_after_retrieve(
    state: SceneState, runtime: Runtime[RunContext]
) -> Literal["planner", "novelist", "screenwriter"]:
    mode = runtime.context.mode
    return "screenwriter" if mode == "e2e" else "novelist" if mode == "dsr-nocot" else "planner"


def route_after_planner(
    state: SceneState, runtime: Runtime[RunContext]
) -> Literal["review_directives", "novelist"]:
    return "review_directives" if "directives" in runtime.context.review else "novelist"


def route_after_review_directives(state: SceneState) -> Literal["planner", "novelist"]:
    return "planner" if _last_review(state)["action"] == "reject" else "novelist"


def route_after_novelist(
    state: SceneState, runtime: Runtime[RunContext]
) -> Literal["review_prose", "screenwriter"]:
    return "review_prose" if "prose" in runtime.context.review else "screenwriter"


def route_after_review_prose(state: SceneState) -> Literal["novelist", "screenwriter"]:
    return "novelist" if _last_review(state)["action"] == "reject" else "screenwriter"


def route_after_critic(
    state: SceneState, runtime: Runtime[RunContext]
) -> Literal["planner", "novelist", "screenwriter", "review_scene", "commit"]:
    verdict = state["verdicts"][-1]
    decision, route = verdict["decision"], verdict["route"]
    if decision == "revise":
        if route is None:
            raise ValueError(f"critic verdict {verdict['attempt']} says revise without naming a stage")
        return route
    if decision == "escalate" or (decision == "pass" and "scene" in runtime.context.review):
        return "review_scene"
    return "commit"


def route_after_review_scene(
    state: SceneState,
) -> Literal["planner", "novelist", "screenwriter", "commit"]:
    review = _last_review(state)
    if review["action"] == "reject":
        return review["stage"]
    return "commit"


def route_after_commit(state: EpisodeState) -> Literal["start_scene", "assemble"]:
    return "start_scene" if state["scene_index"] + 1 < len(state["spec"]["scenes"]) else "assemble"
