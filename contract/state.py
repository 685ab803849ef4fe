"""Graph state: plain JSON data only, so the SQLite and PostgreSQL checkpointers restore it exactly.

Every field says what it holds. Pydantic objects (X, I_c, the episode file, facts) are stored as dumps whose
shapes are the TypedDicts of :mod:`dsr.contract.dumps`, validated once per scene pass through
``dsr.nodes.runtime.task_input`` / ``directives_of``; what the graph itself makes (verdicts, review decisions,
scene records) has its TypedDict in :mod:`dsr.contract.records`. LangGraph builds the graphs' input and
output JSON schemas from these types (Studio's forms), which needs ``typing_extensions.TypedDict`` on
Python 3.11.

Fields for the scene being written are reset by ``start_scene``; ``timings`` and ``scenes`` accumulate over
the whole episode. Model calls are not state: ``calls.jsonl`` (:mod:`dsr.contract.call_log`) counts them,
with each node's outcome, once.
"""

# No ``from __future__ import annotations``: TypedDicts read their annotations when the class is made, and
# a NotRequired hidden in a string would count as required in ``__required_keys__``.
import operator
from typing import Annotated

from typing_extensions import TypedDict

from dsr.contract.dumps import CreativeDirectivesDump, EpisodeSpecDump, FactDump, TaskInputDump
from dsr.contract.records import AcceptedScene, NodeTiming, ReviewDecision, Stage1Half, Verdict, WriterEdit


def merge_notes(current: dict[str, str], update: dict[str, str | None]) -> dict[str, str]:
    """Critique notes per stage: an update sets a stage's note, or consumes it with None."""
    merged = {**(current or {}), **update}
    return {stage: note for stage, note in merged.items() if note}


class SceneState(TypedDict, total=False):
    """State of the scene graph; the episode graph extends it."""

    x: TaskInputDump
    directives: CreativeDirectivesDump | None
    stage1: Stage1Half | None  # split decoding: the planner's half of the Stage 1 answer
    prose: str | None
    screenplay: str | None
    critique: Annotated[dict[str, str], merge_notes]  # stage -> critique for its next attempt
    verdicts: list[Verdict]  # every critic verdict of this scene, in order
    retries: dict[str, int]  # stage -> reruns so far
    known_facts: list[str]  # continuity facts from memory about this scene's characters
    continuity_facts: list[FactDump]  # typed facts in force for them: the continuity check's
    last_review: ReviewDecision | None  # the latest human decision
    writer_edit: WriterEdit | None  # set by `dsr edit` on the scene pass it forks (nodes/writer_edit.py)
    accepted: AcceptedScene | None  # set by commit: the scene's final record
    scenes: Annotated[list[AcceptedScene], operator.add]  # accepted scene records, in order
    timings: Annotated[list[NodeTiming], operator.add]  # wall time per node (report.json)


class EpisodeState(SceneState, total=False):
    spec: EpisodeSpecDump
    scene_index: int  # 0-based index of the scene being written
    outputs: dict[str, str]  # assembled episode files
