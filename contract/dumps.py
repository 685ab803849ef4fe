"""The JSON shapes of the pydantic models graph state holds as dumps: X, I_c, the episode file, findings, facts.

State stays plain JSON (``model_dump(mode="json")``): the SQLite and PostgreSQL checkpointers store and restore
it exactly, checkpoints written before these types existed still load, and LangGraph Server sends it as is.
Pydantic objects in state would need the checkpoint serializer's allow-list of classes and would arrive
from Studio and ``langgraph-sdk`` as dicts anyway (LangGraph does not validate a TypedDict state's input),
so a field could hold either. Nodes validate a dump once per scene pass (``dsr.nodes.runtime.task_input``).

A type checker cannot read a pydantic model as the shape of its dump, and a TypedDict built from the model
at import time is invisible to it, so each model here has a TypedDict written out beside it: the same keys,
a key ``NotRequired`` exactly where the model has a default (an X or an episode file given to a graph may
leave those out; a dump has every key), the same value types with each nested model replaced by its own
TypedDict. LangGraph builds the graphs' input and output JSON schemas from them (Studio's forms).
tests/test_state.py holds every TypedDict in :data:`MIRRORS` to its model, key by key and type by type, and
validates real dumps against them, so they cannot drift apart.
"""

# No ``from __future__ import annotations``: TypedDicts read their annotations when the class is made, and
# a NotRequired hidden in a string would count as required in ``__required_keys__``.
from typing import Any, Literal, NotRequired, overload

from pydantic import BaseModel
from typing_extensions import TypedDict

from dsr.memory.records import Fact
from dsr.story.episode_spec import CharacterEntry, EpisodeSpec, SceneEntry
from dsr.story.findings import Finding, Severity, Stage
from dsr.story.schemas import (
    Beat,
    CharacterPlan,
    CharacterProfile,
    CreativeDirectives,
    ExpositionStrategy,
    Metadata,
    NarrativePacing,
    PreviousContext,
    Relationship,
    Reveal,
    SceneOutline,
    TaskInput,
)

# X = {O, P, C, M}: dsr.story.schemas.TaskInput


class RelationshipDump(TypedDict):
    target: str
    relation: str
    dynamic: NotRequired[str | None]


class CharacterProfileDump(TypedDict):
    name: str
    aliases: NotRequired[list[str]]
    background: NotRequired[str]
    personality: NotRequired[str]
    relationships: NotRequired[list[RelationshipDump]]
    state: NotRequired[str | None]
    story_state: NotRequired[list[str]]


class SceneOutlineDump(TypedDict):
    scene_id: NotRequired[str]
    location: NotRequired[str | None]
    time_of_day: NotRequired[str | None]
    int_ext: NotRequired[str | None]
    characters: NotRequired[list[str]]
    synopsis: str
    beats: NotRequired[list[str]]


class PreviousContextDump(TypedDict):
    premise: NotRequired[str | None]
    story_so_far: NotRequired[str]
    prev_scene_tail: NotRequired[str | None]
    source_ids: NotRequired[list[str]]


class MetadataDump(TypedDict):
    guidelines: NotRequired[list[str]]
    genre: NotRequired[str | None]
    tone: NotRequired[str | None]
    language: NotRequired[Literal["en", "zh"]]
    target_len_chars: NotRequired[int | None]
    series: NotRequired[str]
    episode: NotRequired[int]
    scene_no: NotRequired[int]


class TaskInputDump(TypedDict):
    """X, the scene to write (``state["x"]``)."""

    outline: SceneOutlineDump
    previous: NotRequired[PreviousContextDump]
    characters: NotRequired[list[CharacterProfileDump]]
    meta: NotRequired[MetadataDump]


# I_c: dsr.story.schemas.CreativeDirectives


class RevealDump(TypedDict):
    info: str
    beat: NotRequired[int]
    channel: NotRequired[Literal["dialogue", "action", "prop", "withheld"]]
    carrier: NotRequired[str | None]


class ExpositionStrategyDump(TypedDict):
    reveals: NotRequired[list[RevealDump]]
    turning_points: NotRequired[list[str]]


class BeatDump(TypedDict):
    label: str
    purpose: NotRequired[str]
    intensity: NotRequired[int]
    weight: NotRequired[Literal["brief", "medium", "extended"]]


class NarrativePacingDump(TypedDict):
    beats: NotRequired[list[BeatDump]]
    climax_beat: NotRequired[int]
    ending: NotRequired[str]


class CharacterPlanDump(TypedDict):
    name: str
    scene_goal: NotRequired[str]
    emotion_arc: NotRequired[list[str]]
    key_actions: NotRequired[list[str]]
    tells: NotRequired[list[str]]


class CreativeDirectivesDump(TypedDict):
    """I_c, how the scene is told (``state["directives"]``)."""

    exposition: NotRequired[ExpositionStrategyDump]
    pacing: NotRequired[NarrativePacingDump]
    characters: NotRequired[list[CharacterPlanDump]]


# The episode file: dsr.story.episode_spec.EpisodeSpec


class CharacterEntryDump(TypedDict):
    name: str
    profile: str
    personality: NotRequired[str | None]
    aliases: NotRequired[list[str]]


class SceneEntryDump(TypedDict):
    outline: str
    location: NotRequired[str | None]
    time_of_day: NotRequired[str | None]
    int_ext: NotRequired[str | None]
    characters: NotRequired[list[str]]
    beats: NotRequired[list[str]]
    guidelines: NotRequired[list[str]]


class EpisodeSpecDump(TypedDict):
    """The episode file (``state["spec"]``)."""

    title: str
    series: str
    episode: NotRequired[int]
    language: NotRequired[Literal["en", "zh"]]
    premise: NotRequired[str | None]
    author: NotRequired[str | None]
    metadata: NotRequired[dict[str, Any]]
    guidelines: NotRequired[list[str]]
    characters: NotRequired[list[CharacterEntryDump]]
    scenes: list[SceneEntryDump]


class FindingDump(TypedDict):
    """A critic finding (dsr.story.findings.Finding)."""

    check: str
    stage: Stage
    severity: NotRequired[Severity]
    message: str
    evidence: NotRequired[str]
    fix_hint: NotRequired[str]


class FactDump(TypedDict):
    """A continuity fact (dsr.memory.records.Fact); ``id`` is computed from the others, so never required."""

    series: str
    episode: int
    scene_no: int
    text: str
    characters: NotRequired[list[str]]
    kind: NotRequired[str]
    subject: NotRequired[str]
    about: NotRequired[str]
    quote: NotRequired[str]
    source: NotRequired[str]
    status: NotRequired[str]
    by: NotRequired[str]
    changed_at: NotRequired[str]
    replaces: NotRequired[str]
    id: NotRequired[str]


#: Each TypedDict above and the model whose ``model_dump(mode="json")`` it describes.
MIRRORS: dict[type, type[BaseModel]] = {
    RelationshipDump: Relationship,
    CharacterProfileDump: CharacterProfile,
    SceneOutlineDump: SceneOutline,
    PreviousContextDump: PreviousContext,
    MetadataDump: Metadata,
    TaskInputDump: TaskInput,
    RevealDump: Reveal,
    ExpositionStrategyDump: ExpositionStrategy,
    BeatDump: Beat,
    NarrativePacingDump: NarrativePacing,
    CharacterPlanDump: CharacterPlan,
    CreativeDirectivesDump: CreativeDirectives,
    CharacterEntryDump: CharacterEntry,
    SceneEntryDump: SceneEntry,
    EpisodeSpecDump: EpisodeSpec,
    FindingDump: Finding,
    FactDump: Fact,
}


@overload
def dump(model: TaskInput) -> TaskInputDump: ...
@overload
def dump(model: CreativeDirectives) -> CreativeDirectivesDump: ...
@overload
def dump(model: EpisodeSpec) -> EpisodeSpecDump: ...
@overload
def dump(model: Finding) -> FindingDump: ...
@overload
def dump(model: Fact) -> FactDump: ...
def dump(model: BaseModel) -> Any:
    """``model.model_dump(mode="json")``, typed as the model's TypedDict above."""
    return model.model_dump(mode="json")
