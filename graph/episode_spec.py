"""The episode file (DESIGN.md "Episode file"): YAML -> validated spec -> one X per scene."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from common.errors import BadInput
from nodes.schemas import CharacterProfile, Metadata, PreviousContext, SceneOutline, TaskInput


class CharacterEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    profile: str = Field(min_length=1, description="background: who they are, what they want, what they hide")
    personality: str = ""
    aliases: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return value.strip().upper()


class SceneEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outline: str = Field(min_length=1)
    location: str | None = None
    time_of_day: str | None = None
    int_ext: str | None = None
    characters: list[str] = Field(default_factory=list)
    beats: list[str] = Field(default_factory=list)
    guidelines: list[str] = Field(default_factory=list)


class EpisodeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    series: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    episode: int = Field(default=1, ge=1)
    language: str = "en"
    premise: str | None = None
    author: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    guidelines: list[str] = Field(default_factory=list)
    characters: list[CharacterEntry] = Field(default_factory=list)
    scenes: list[SceneEntry] = Field(min_length=1)

    def profiles(self) -> list[CharacterProfile]:
        return [
            CharacterProfile(name=c.name, aliases=c.aliases, background=c.profile, personality=c.personality)
            for c in self.characters
        ]

    def names_in(self, scene: SceneEntry) -> list[str]:
        """The scene's characters: as listed, else every known name or alias the outline mentions."""
        if scene.characters:
            return [n.strip().upper() for n in scene.characters]
        text = scene.outline.lower()
        found = []
        for c in self.characters:
            if any(re.search(rf"\b{re.escape(n.lower())}\b", text) for n in [c.name, *c.aliases]):
                found.append(c.name)
        return found

    def task_input(self, index: int, previous: PreviousContext | None = None) -> TaskInput:
        """X for scene ``index`` (0-based); P comes from memory when the graph provides it."""
        scene = self.scenes[index]
        names = self.names_in(scene)
        profiles = [p for p in self.profiles() if p.name in names] or self.profiles()
        return TaskInput(
            outline=SceneOutline(
                scene_id=f"{self.series}-E{self.episode:02d}-{index + 1:02d}",
                location=scene.location,
                time_of_day=scene.time_of_day,
                int_ext=scene.int_ext,
                characters=names,
                synopsis=scene.outline.strip(),
                beats=scene.beats,
            ),
            previous=previous or PreviousContext(premise=self.premise),
            characters=profiles,
            meta=Metadata(
                guidelines=[*self.guidelines, *scene.guidelines],
                genre=self.metadata.get("genre"),
                tone=self.metadata.get("tone"),
                language="zh" if self.language == "zh" else "en",
                series=self.series,
                episode=self.episode,
                scene_no=index + 1,
            ),
        )


def load_episode(path: str | Path) -> EpisodeSpec:
    """Read and validate an episode file; every problem is one :class:`BadInput` line."""
    source = Path(path)
    if not source.is_file():
        raise BadInput(f"episode file {source} does not exist")
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BadInput(f"{source} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise BadInput(f"{source} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{source} must be a YAML mapping with title, series and scenes")
    try:
        return EpisodeSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        line = _line_of(yaml.compose(source.read_text(encoding="utf-8")), list(err["loc"]))
        raise BadInput(f"{source}:{line}: '{where}': {err['msg']}") from None


def _line_of(node: yaml.Node | None, path: list[str | int]) -> int:
    """1-based line of the YAML node at ``path`` (or of its nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for key in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == key), None)
            if match is None:
                key_node = next((k for k, _ in node.value if k.value == key), None)
                return key_node.start_mark.line + 1 if key_node is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return line
        line = node.start_mark.line + 1
    return line
