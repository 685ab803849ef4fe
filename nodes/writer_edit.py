"""A writer's edit (``dsr edit``, the writers' room) is never rewritten without the writer's consent.

``dsr edit`` forks the run with ``writer_edit = {"stage": "prose", ...}`` in the scene's state. The critic
checks the edited output like any draft, but a failing finding that would send the draft back to the
edited stage, or to one before it (whose rerun would regenerate the edit), goes to human review instead
of a silent rewrite; findings on later stages are revised as usual. ``start_scene`` clears the mark.
"""

from __future__ import annotations

from dsr.contract.records import Decision, EditableStage, WriterEdit
from dsr.story.findings import STAGES, Stage

#: The stage a writer can edit -> the graph stage that writes it (and that a finding on it blames).
EDITABLE: dict[EditableStage, Stage] = {
    "directives": "planner",
    "prose": "novelist",
    "screenplay": "screenwriter",
}


def protects(edit: WriterEdit | None, stage: Stage | None) -> bool:
    """Whether rerunning ``stage`` would overwrite the writer's edit recorded in ``edit``."""
    if not edit or stage is None:
        return False
    return STAGES.index(stage) <= STAGES.index(EDITABLE[edit["stage"]])


def protect_decision(decision: Decision, stage: Stage | None, edit: WriterEdit | None) -> Decision:
    """The critic's decision, with a rewrite or a silent acceptance of findings on the writer's edit turned
    into an escalation to scene review."""
    if decision in ("revise", "accept_with_findings") and protects(edit, stage):
        return "escalate"
    return decision
