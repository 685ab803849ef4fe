"""Records the graph makes: critic verdicts, review decisions, a writer's edit mark, accepted scene records,
node timings (graph state), and each model-calling node's outcome (``calls.jsonl``).

Unlike :mod:`dsr.contract.dumps` these have no pydantic model: the TypedDicts are their definitions, and the
nodes that build them are checked against them. Tokens and model calls are counted once, by
:class:`dsr.contract.call_log.CallLog` (``calls.jsonl``)."""

# No ``from __future__ import annotations``: TypedDicts read their annotations when the class is made, and
# a NotRequired hidden in a string would count as required in ``__required_keys__``.
from typing import Literal, NotRequired

from typing_extensions import TypedDict

from dsr.contract.context import ReviewPoint
from dsr.contract.dumps import CreativeDirectivesDump, FindingDump
from dsr.judging.continuity import ContinuityRecord
from dsr.story.findings import Stage

#: The critic's decision on a draft (dsr.nodes.critic.decide).
Decision = Literal["pass", "revise", "accept_with_findings", "escalate"]
#: How a scene was accepted (dsr.nodes.commit).
SceneStatus = Literal["passed", "unjudged", "accepted_with_findings", "approved_by_human", "edited_by_human"]
ReviewAction = Literal["approve", "edit", "reject"]
#: What a writer can edit (``dsr edit``, the writers' room).
EditableStage = Literal["directives", "prose", "screenplay"]


class CallRecord(TypedDict):
    """One node's model work: its outcome (``ok``: a usable answer) and the requests behind it.

    Logged to calls.jsonl as a ``"kind": "outcome"`` line (:func:`dsr.contract.call_log.log_outcome`), where
    report.json counts the answers nodes could not use (``failed_calls``)."""

    scene: int
    node: str
    role: str
    requests: int  # model requests behind this record (structured output may need repair turns)
    seconds: float
    ok: bool
    note: str


class NodeTiming(TypedDict):
    scene: int
    node: str
    seconds: float


class RubricRecord(TypedDict):
    """What a verdict keeps of the rubric call (dsr.nodes.critic.rubric_record); no verdict is ``unjudged``."""

    status: Literal["judged", "unjudged"]
    score: float | None
    tier: str | None
    pass_score: int
    failed: bool
    reason: str | None
    attempts: int
    coercions: NotRequired[list[str]]


class Verdict(TypedDict):
    """One critic verdict on a draft (``state["verdicts"]``, ``scenes/NN/critique.json``)."""

    attempt: int
    decision: Decision
    route: Stage | None  # the stage to rerun (revise) or blamed (accept / escalate); None on a pass
    findings: list[FindingDump]
    rubric: RubricRecord | None
    continuity: ContinuityRecord | None


class ReviewDecision(TypedDict):
    """The latest human decision (``state["last_review"]``); ``stage``: where a rejected scene goes back to."""

    point: ReviewPoint
    action: ReviewAction
    stage: NotRequired[Stage]


class WriterEdit(TypedDict):
    """``state["writer_edit"]``: the stage a writer's edit replaced in this scene pass (dsr.nodes.writer_edit);
    ``restored``: the version label when the edit put one back."""

    stage: EditableStage
    restored: str | None


class Stage1Half(TypedDict):
    """``state["stage1"]``: the planner's half of a split Stage 1 answer (dsr.nodes.stage1_split)."""

    answer: str
    note: str | None
    json: str  # the directives as the model wrote them
    directives: CreativeDirectivesDump


class VerdictLogEntry(TypedDict):
    attempt: int
    decision: Decision
    route: Stage | None
    reasons: list[str]
    rubric_score: float | None


class FactsRecord(TypedDict):
    """What a scene record keeps of commit's fact extraction (``scenes/NN/facts.json`` has the rest)."""

    status: str
    attempts: int
    extracted: int


class AcceptedScene(TypedDict):
    """An accepted scene (``state["accepted"]``, ``state["scenes"]``), as commit records it."""

    scene_no: int
    status: SceneStatus
    screenplay: str
    prose: str | None
    directives: CreativeDirectivesDump | None
    summary: str
    open_findings: list[FindingDump]
    rubric: RubricRecord | None
    retries: dict[str, int]
    verdict_log: list[VerdictLogEntry]
    facts: NotRequired[FactsRecord]  # with a story memory
