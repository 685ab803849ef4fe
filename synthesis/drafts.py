"""What the teacher is asked to return at each step: small schemas, one per prompt.

X's scene identity (heading fields, cast, series/episode/scene numbers, target length) comes from the
parsed screenplay and is never asked of the model; the teacher only writes what needs reading.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nodes.schemas import CharacterPlan, CharacterProfile


class _Draft(BaseModel):
    model_config = ConfigDict(extra="ignore")


class OutlineDraft(_Draft):
    synopsis: str = Field(min_length=1)
    beats: list[str] = Field(default_factory=list)


class ContextDraft(_Draft):
    premise: str | None = None
    story_so_far: str = Field(min_length=1)
    prev_scene_tail: str | None = None


class CharactersDraft(_Draft):
    characters: list[CharacterProfile] = Field(min_length=1)


class GuidelinesDraft(_Draft):
    guidelines: list[str] = Field(default_factory=list)
    genre: str | None = None
    tone: str | None = None


class CharacterPlans(_Draft):
    characters: list[CharacterPlan] = Field(min_length=1)


class FidelityVerdict(_Draft):
    missing_or_changed: list[str] = Field(default_factory=list)
    added: list[str] = Field(default_factory=list)
    carries_events: bool
