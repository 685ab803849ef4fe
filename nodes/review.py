"""Human approval points: ``interrupt()`` with the payload, resumed with approve / edit / reject.

Resume values (CLI, Studio and ``langgraph-sdk`` alike): ``"approve"`` or ``{"action": "approve"}``;
``{"action": "edit", "value": ...}`` (directives as an object or JSON text; prose or Fountain as text);
``{"action": "reject", "note": "...", "stage": "novelist"}`` (the note becomes the critique of the
stage it sends the draft back to; ``stage`` only for scene review, default novelist).
"""

from __future__ import annotations

import json
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import ValidationError

from dsr.contract.context import RunContext
from dsr.contract.state import SceneState
from dsr.nodes.critic import effective_stage
from dsr.nodes.runtime import scene_no, timed_node, write_artefact
from dsr.story.findings import STAGES
from dsr.story.schemas import CreativeDirectives

ACTIONS = ("approve", "edit", "reject")


class BadReview(ValueError):
    """A resume value the review point cannot use; the run stays paused at the same point."""


def _answer(raw: Any, point: str) -> dict[str, Any]:
    answer = {"action": raw} if isinstance(raw, str) else dict(raw or {})
    if answer.get("action") not in ACTIONS:
        raise BadReview(
            f"review '{point}': action must be one of {', '.join(ACTIONS)}, got {answer.get('action')!r}"
        )
    if answer["action"] == "edit" and not answer.get("value"):
        raise BadReview(f"review '{point}': an edit needs a non-empty 'value'")
    if answer["action"] == "reject" and not str(answer.get("note", "")).strip():
        raise BadReview(f"review '{point}': a rejection needs a 'note' saying what to change")
    return answer


def _reject(stage: str, note: str) -> dict[str, Any]:
    return {"critique": {stage: f"- [human] {note.strip()}"}}


@timed_node("review_directives")
def review_directives_node(state: SceneState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    answer = _answer(
        interrupt(
            {
                "point": "directives",
                "scene": scene_no(state),
                "outline": state["x"]["outline"],
                "directives": state.get("directives"),
                "actions": list(ACTIONS),
            }
        ),
        "directives",
    )
    update: dict[str, Any] = {"last_review": {"point": "directives", "action": answer["action"]}}
    if answer["action"] == "edit":
        value = answer["value"]
        try:
            directives = CreativeDirectives.model_validate(
                json.loads(value) if isinstance(value, str) else value
            )
        except (json.JSONDecodeError, ValidationError) as exc:
            raise BadReview(f"review 'directives': the edited directives are not valid: {exc}") from None
        update["directives"] = directives.model_dump(mode="json")
        write_artefact(runtime.context.run_dir, scene_no(state), "directives.json", update["directives"])
    elif answer["action"] == "reject":
        update |= _reject("planner", answer["note"])
    return update


@timed_node("review_prose")
def review_prose_node(state: SceneState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    answer = _answer(
        interrupt(
            {
                "point": "prose",
                "scene": scene_no(state),
                "outline": state["x"]["outline"],
                "prose": state.get("prose"),
                "actions": list(ACTIONS),
            }
        ),
        "prose",
    )
    update: dict[str, Any] = {"last_review": {"point": "prose", "action": answer["action"]}}
    if answer["action"] == "edit":
        update["prose"] = str(answer["value"]).strip()
        write_artefact(runtime.context.run_dir, scene_no(state), "prose.md", update["prose"] + "\n")
    elif answer["action"] == "reject":
        update |= _reject("novelist", answer["note"])
    return update


@timed_node("review_scene")
def review_scene_node(state: SceneState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    verdicts = state.get("verdicts") or []
    last = verdicts[-1] if verdicts else None
    answer = _answer(
        interrupt(
            {
                "point": "scene",
                "scene": scene_no(state),
                "screenplay": state.get("screenplay"),
                "decision": last["decision"] if last else None,
                "findings": last["findings"] if last else [],
                "rubric": last["rubric"] if last else None,
                "actions": list(ACTIONS),
            }
        ),
        "scene",
    )
    update: dict[str, Any] = {"last_review": {"point": "scene", "action": answer["action"]}}
    if answer["action"] == "edit":
        update["screenplay"] = str(answer["value"]).strip() + "\n"
        write_artefact(runtime.context.run_dir, scene_no(state), "screenplay.fountain", update["screenplay"])
    elif answer["action"] == "reject":
        stage = answer.get("stage") or "novelist"
        if stage not in STAGES:
            raise BadReview(f"review 'scene': stage must be one of {', '.join(STAGES)}")
        stage = effective_stage(stage, runtime.context.mode)
        update |= _reject(stage, answer["note"])
        update["last_review"]["stage"] = stage
    return update
