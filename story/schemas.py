"""The DSR task input X = {O, P, C, M} and the creative directives I_c (DSR-SPEC sections 2 and 3.1).

Shared by the graph, synthesis (which reconstructs X and extracts I_c from real scenes), training
and evaluation, so the same structure is rendered byte-identically everywhere (``render_x``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dsr import prompts

RENDER_X_PROMPT = "task_input"

# Bounds of what a model writes (I_c and the teacher's drafts, not X as a person writes it): with them the
# largest answer of a schema fits its role's max_new_tokens, and a grammar holds the model to them.
Name = Annotated[str, Field(max_length=40)]
Phrase = Annotated[str, Field(max_length=80)]
Sentence = Annotated[str, Field(max_length=160)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Relationship(_Strict):
    target: str
    relation: str
    dynamic: str | None = None


class CharacterProfile(_Strict):
    """C item: ``name`` is canonical and must equal the cue name in the screenplay.

    ``story_state`` is what memory's facts say about the character as of this scene (where they are, what
    they hold, their condition, what they know, relationships), each detail with the episode and scene that
    established it; derived at retrieval (``dsr.memory.state``), never stored with the profile.
    """

    name: str
    aliases: list[str] = Field(default_factory=list)
    background: str = ""
    personality: str = ""
    relationships: list[Relationship] = Field(default_factory=list)
    state: str | None = None
    story_state: list[str] = Field(default_factory=list)

    def stored(self) -> dict[str, Any]:
        """The profile as memory keeps it: without the state derived from facts."""
        return self.model_dump(mode="json", exclude={"story_state"})


class SceneOutline(_Strict):
    """O: what happens in the scene; ``beats`` are optional ordered turning points."""

    scene_id: str = ""
    location: str | None = None
    time_of_day: str | None = None
    int_ext: str | None = None
    characters: list[str] = Field(default_factory=list)
    synopsis: str
    beats: list[str] = Field(default_factory=list)


class PreviousContext(_Strict):
    """P: premise and the story so far; ``source_ids`` record memory provenance and are never rendered."""

    premise: str | None = None
    story_so_far: str = ""
    prev_scene_tail: str | None = None
    source_ids: list[str] = Field(default_factory=list)


class Metadata(_Strict):
    """M: the writer's free-form guidelines plus identifying fields."""

    guidelines: list[str] = Field(default_factory=list)
    genre: str | None = None
    tone: str | None = None
    language: Literal["en", "zh"] = "en"
    target_len_chars: int | None = None
    series: str = ""
    episode: int = 1
    scene_no: int = 1


class TaskInput(_Strict):
    """X: everything a stage may know about the scene to write."""

    outline: SceneOutline
    previous: PreviousContext = Field(default_factory=PreviousContext)
    characters: list[CharacterProfile] = Field(default_factory=list)
    meta: Metadata = Field(default_factory=Metadata)

    def character_names(self) -> list[str]:
        return [c.name for c in self.characters]


def render_x(x: TaskInput) -> str:
    """The one versioned text form of X: sections O, P, C, M in fixed order, 'none' for empty ones."""
    return prompts.render(RENDER_X_PROMPT, x=x)


class Reveal(_Strict):
    info: Sentence
    beat: int = Field(default=0, ge=0, le=20)
    channel: Literal["dialogue", "action", "prop", "withheld"] = "dialogue"
    carrier: Name | None = None


class ExpositionStrategy(_Strict):
    reveals: list[Reveal] = Field(default_factory=list, max_length=3)
    turning_points: list[Phrase] = Field(default_factory=list, max_length=2)


class Beat(_Strict):
    label: Name
    purpose: Phrase = ""
    intensity: int = Field(default=3, ge=1, le=5)
    weight: Literal["brief", "medium", "extended"] = "medium"


class NarrativePacing(_Strict):
    beats: list[Beat] = Field(default_factory=list, max_length=5)
    climax_beat: int = Field(default=0, ge=0, le=20)
    ending: Phrase = ""


class CharacterPlan(_Strict):
    name: Name
    scene_goal: Phrase = ""
    emotion_arc: list[Name] = Field(default_factory=list, max_length=3)
    key_actions: list[Phrase] = Field(default_factory=list, max_length=3)
    tells: list[Name] = Field(default_factory=list, max_length=2)


def _plan_schema(schema: dict[str, Any]) -> None:
    """Under a grammar every part is written and at least one character plan, so the validator below holds."""
    schema["required"] = list(schema["properties"])
    schema["properties"]["characters"]["minItems"] = 1


class CreativeDirectives(_Strict):
    """I_c: how the scene is told (exposition, pacing, per-character action and emotion)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_plan_schema)

    exposition: ExpositionStrategy = Field(default_factory=ExpositionStrategy)
    pacing: NarrativePacing = Field(default_factory=NarrativePacing)
    characters: list[CharacterPlan] = Field(default_factory=list, max_length=6)

    @model_validator(mode="after")
    def _plans_something(self) -> CreativeDirectives:
        if not self.pacing.beats and not self.characters:
            raise ValueError("a plan needs at least one pacing beat or one character plan")
        return self
