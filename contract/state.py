"""Graph state: plain JSON data only, so the SQLite checkpointer restores it exactly.

Pydantic objects (X, I_c, verdicts) are stored as dumps (docs/design.md) and validated once per scene pass
through ``dsr.nodes.runtime.task_input`` / ``directives_of``. Fields for the scene being written are reset by
``start_scene``; ``calls``, ``timings`` and ``scenes`` accumulate over the whole episode.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from dsr.contract.records import CallRecord, NodeTiming


def merge_notes(current: dict[str, str], update: dict[str, str | None]) -> dict[str, str]:
    """Critique notes per stage: an update sets a stage's note, or consumes it with None."""
    merged = {**(current or {}), **update}
    return {stage: note for stage, note in merged.items() if note}


class SceneState(TypedDict, total=False):
    """State of the scene graph; the episode graph extends it."""

    x: dict[str, Any]  # TaskInput dump
    directives: dict[str, Any] | None  # CreativeDirectives dump
    stage1: (
        dict[str, Any] | None
    )  # split decoding: the planner's half of the Stage 1 answer (nodes/stage1_split.py)
    prose: str | None
    screenplay: str | None
    critique: Annotated[dict[str, str], merge_notes]  # stage -> critique for its next attempt
    verdicts: list[dict[str, Any]]  # every critic verdict of this scene, in order
    retries: dict[str, int]  # stage -> reruns so far
    known_facts: list[str]  # continuity facts from memory about this scene's characters
    continuity_facts: list[
        dict[str, Any]
    ]  # typed facts in force for them (Fact dumps): the continuity check's
    last_review: dict[str, Any] | None  # the latest human decision (point, action, stage)
    writer_edit: dict[str, Any] | None  # set by `dsr edit` on the scene pass it forks (nodes/writer_edit.py)
    accepted: dict[str, Any] | None  # set by commit: the scene's final record
    scenes: Annotated[list[dict[str, Any]], operator.add]  # accepted scene records, in order
    calls: Annotated[list[CallRecord], operator.add]
    timings: Annotated[list[NodeTiming], operator.add]


class EpisodeState(SceneState, total=False):
    spec: dict[str, Any]  # EpisodeSpec dump
    scene_index: int  # 0-based index of the scene being written
    outputs: dict[str, str]  # assembled episode files
