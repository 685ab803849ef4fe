"""Routing functions: pure reads of state and context, each returning a ``Literal`` of node names."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from dsr.contract.context import RunContext


def route_after_retrieve(
    state: dict[str, Any], runtime: Runtime[RunContext]
) -> Literal["planner", "novelist", "screenwriter"]:
    mode = runtime.context.mode
    return "screenwriter" if mode == "e2e" else "novelist" if mode == "dsr-nocot" else "planner"


def route_after_planner(
    state: dict[str, Any], runtime: Runtime[RunContext]
) -> Literal["review_directives", "novelist"]:
    return "review_directives" if "directives" in runtime.context.review else "novelist"


def route_after_review_directives(state: dict[str, Any]) -> Literal["planner", "novelist"]:
    return "planner" if state["last_review"]["action"] == "reject" else "novelist"


def route_after_novelist(
    state: dict[str, Any], runtime: Runtime[RunContext]
) -> Literal["review_prose", "screenwriter"]:
    return "review_prose" if "prose" in runtime.context.review else "screenwriter"


def route_after_review_prose(state: dict[str, Any]) -> Literal["novelist", "screenwriter"]:
    return "novelist" if state["last_review"]["action"] == "reject" else "screenwriter"


def route_after_critic(
    state: dict[str, Any], runtime: Runtime[RunContext]
) -> Literal["planner", "novelist", "screenwriter", "review_scene", "commit"]:
    verdict = state["verdicts"][-1]
    decision = verdict["decision"]
    if decision == "revise":
        return verdict["route"]
    if decision == "escalate" or (decision == "pass" and "scene" in runtime.context.review):
        return "review_scene"
    return "commit"


def route_after_review_scene(
    state: dict[str, Any],
) -> Literal["planner", "novelist", "screenwriter", "commit"]:
    review = state["last_review"]
    return review["stage"] if review["action"] == "reject" else "commit"


def route_after_commit(state: dict[str, Any]) -> Literal["start_scene", "assemble"]:
    return "start_scene" if state["scene_index"] + 1 < len(state["spec"]["scenes"]) else "assemble"
