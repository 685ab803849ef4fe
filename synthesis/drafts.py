"""What the teacher is asked to return at each step: small schemas, one per prompt.

X's scene identity (heading fields, cast, series/episode/scene numbers, target length) comes from the
parsed screenplay and is never asked of the model; the teacher only writes what needs reading.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dsr.story.schemas import CharacterPlan, CharacterProfile, Name, Phrase, Relationship, Sentence

MAX_PROFILES = 8  # a scene's speaking cast; more would not fit the teacher's budget anyway
MAX_GUIDELINES = 3


class _Draft(BaseModel):
    model_config = ConfigDict(extra="ignore")


class OutlineDraft(_Draft):
    synopsis: str = Field(min_length=1, max_length=400)
    beats: list[Sentence] = Field(default_factory=list, max_length=6)


class ContextDraft(_Draft):
    premise: str | None = Field(default=None, max_length=240)
    story_so_far: str = Field(min_length=1, max_length=600)
    prev_scene_tail: str | None = Field(default=None, max_length=240)


class RelationshipDraft(Relationship):
    target: Name
    relation: Name
    dynamic: Phrase | None = None


class ProfileDraft(CharacterProfile):
    """A C item as the teacher writes it: X's profile with bounded fields (a person's X has no bounds)."""

    name: Name
    aliases: list[Name] = Field(default_factory=list, max_length=3)
    background: str = Field(default="", max_length=200)
    personality: Phrase = ""
    relationships: list[RelationshipDraft] = Field(default_factory=list, max_length=2)
    state: Phrase | None = None


class CharactersDraft(_Draft):
    characters: list[ProfileDraft] = Field(min_length=1, max_length=MAX_PROFILES)


class GuidelinesDraft(_Draft):
    # Bounded for the grammar only: a longer list from an unconstrained teacher is cut with a note (steps).
    guidelines: list[Sentence] = Field(default_factory=list, json_schema_extra={"maxItems": MAX_GUIDELINES})
    genre: Name | None = None
    tone: Name | None = None


class CharacterPlans(_Draft):
    characters: list[CharacterPlan] = Field(min_length=1, max_length=6)


class FidelityVerdict(_Draft):
    missing_or_changed: list[Sentence] = Field(default_factory=list, max_length=4)
    added: list[Sentence] = Field(default_factory=list, max_length=4)
    carries_events: bool
