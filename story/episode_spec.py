"""The episode file (docs/design.md "Episode file"): YAML -> validated spec -> one X per scene.

Every field is bounded so a careless or hostile file is refused when it is read, naming the limit,
instead of exhausting memory or failing mid-run. The limits fit a real episode with wide headroom:
a TV hour has 40-60 scenes and a feature about 150, an outline is a paragraph or two, a profile a
few sentences (examples/harbor-lights.yaml is 2 KB for 2 scenes).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from dsr.common.bounded_yaml import read_yaml_mapping
from dsr.common.errors import BadInput
from dsr.memory.records import ORDER_STRIDE
from dsr.story.schemas import CharacterProfile, Metadata, PreviousContext, SceneOutline, TaskInput

MAX_FILE_BYTES = 1024 * 1024  # 150 scenes of 1,200-char outlines and 6 beats, a cast of 60: 455 KB
MAX_SCENES = 300  # a feature has about 150 scenes; memory orders scenes by episode * ORDER_STRIDE + scene_no
MAX_EPISODE = 99_999  # the longest-running soap operas have about 16,000 episodes
MAX_CAST = 200
MAX_SCENE_CAST = 50
MAX_LIST = 50  # beats per scene, guidelines, aliases per character
MAX_SHORT = 200  # title, names, aliases, place, time of day, author, genre, tone
MAX_ITEM = 1_000  # one beat, one guideline
MAX_PERSONALITY = 4_000
MAX_LONG = 8_000  # outline, premise, profile: about three pages of prose
MAX_METADATA_KEYS = 50
MAX_METADATA_CHARS = 16_384  # the metadata mapping written as JSON
assert MAX_SCENES < ORDER_STRIDE


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty or only whitespace; write the text")
    return value


def _none_if_blank(value: str | None) -> str | None:
    """An optional text that is only whitespace means the same as leaving it out."""
    return value if value and value.strip() else None


# Required text: not blank, at most the limit. Optional text: at most the limit; blank is read as absent.
# Written out per limit (not made by a function) so that type checkers see them as type aliases.
Short: TypeAlias = Annotated[str, StringConstraints(max_length=MAX_SHORT), AfterValidator(_not_blank)]
Item: TypeAlias = Annotated[str, StringConstraints(max_length=MAX_ITEM), AfterValidator(_not_blank)]
Long: TypeAlias = Annotated[str, StringConstraints(max_length=MAX_LONG), AfterValidator(_not_blank)]
OptionalShort: TypeAlias = Annotated[
    Annotated[str, StringConstraints(max_length=MAX_SHORT)] | None, AfterValidator(_none_if_blank)
]
OptionalLong: TypeAlias = Annotated[
    Annotated[str, StringConstraints(max_length=MAX_LONG)] | None, AfterValidator(_none_if_blank)
]
Personality: TypeAlias = Annotated[
    Annotated[str, StringConstraints(max_length=MAX_PERSONALITY)] | None, AfterValidator(_none_if_blank)
]


class CharacterEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Short
    profile: Long = Field(description="background: who they are, what they want, what they hide")
    personality: Personality = None
    aliases: list[Short] = Field(default_factory=list, max_length=MAX_LIST)

    @field_validator("name")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return value.strip().upper()


class SceneEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outline: Long
    location: OptionalShort = None
    time_of_day: OptionalShort = None
    int_ext: OptionalShort = None
    characters: list[Short] = Field(default_factory=list, max_length=MAX_SCENE_CAST)
    beats: list[Item] = Field(default_factory=list, max_length=MAX_LIST)
    guidelines: list[Item] = Field(default_factory=list, max_length=MAX_LIST)


class EpisodeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Short
    series: str = Field(min_length=1, max_length=MAX_SHORT, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    episode: int = Field(default=1, ge=1, le=MAX_EPISODE, strict=True)
    language: Literal["en", "zh"] = "en"
    premise: OptionalLong = None
    author: OptionalShort = None
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=MAX_METADATA_KEYS)
    guidelines: list[Item] = Field(default_factory=list, max_length=MAX_LIST)
    characters: list[CharacterEntry] = Field(default_factory=list, max_length=MAX_CAST)
    scenes: list[SceneEntry] = Field(min_length=1, max_length=MAX_SCENES)

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Free-form, but small, and genre/tone (which go into M) must be short text."""
        size = len(json.dumps(value, default=str, ensure_ascii=False))
        if size > MAX_METADATA_CHARS:
            raise ValueError(f"is {size} characters as JSON, more than the limit of {MAX_METADATA_CHARS}")
        for key in ("genre", "tone"):
            item = value.get(key, "text")
            if not isinstance(item, str) or not item.strip() or len(item) > MAX_SHORT:
                raise ValueError(f"'{key}' must be a text of 1 to {MAX_SHORT} characters")
        return value

    @field_validator("scenes")
    @classmethod
    def _scene_cast_is_known(cls, scenes: list[SceneEntry], info: ValidationInfo) -> list[SceneEntry]:
        """A scene may only name characters of the episode's cast (by name or alias): the stages get
        their profiles, and a name with no profile is a typo or a missing entry."""
        known = _canonical_names(info.data.get("characters") or [])
        for number, scene in enumerate(scenes, 1):
            unknown = next((n for n in scene.characters if n.strip().upper() not in known), None)
            if unknown is not None:
                cast = ", ".join(sorted(set(known.values()))) or "none"
                raise ValueError(
                    f"scene {number} names '{unknown.strip()}', who is not in the episode's characters "
                    f"(cast: {cast}); add them with a profile or correct the name"
                )
        return scenes

    def profiles(self) -> list[CharacterProfile]:
        return [
            CharacterProfile(
                name=c.name, aliases=c.aliases, background=c.profile, personality=c.personality or ""
            )
            for c in self.characters
        ]

    def names_in(self, scene: SceneEntry) -> list[str]:
        """The scene's characters by canonical name: as listed, else every name or alias the outline mentions."""
        if scene.characters:
            canonical = _canonical_names(self.characters)
            return list(dict.fromkeys(canonical[n.strip().upper()] for n in scene.characters))
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
                language=self.language,
                series=self.series,
                episode=self.episode,
                scene_no=index + 1,
            ),
        )


def _canonical_names(characters: list[CharacterEntry]) -> dict[str, str]:
    """Upper-case name or alias -> canonical name."""
    names = {alias.strip().upper(): c.name for c in characters for alias in c.aliases}
    return names | {c.name: c.name for c in characters}


def load_episode(path: str | Path) -> EpisodeSpec:
    """Read and validate an episode file; every problem, limits included, is one :class:`BadInput` line."""
    source = Path(path)
    text, data = read_yaml_mapping(
        source,
        what="an episode file",
        shape="title, series and scenes",
        limit=MAX_FILE_BYTES,
        advice="; shorten the outlines or split the episode",
    )
    try:
        return EpisodeSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        line = _line_of(yaml.compose(text, Loader=yaml.SafeLoader), list(err["loc"]))
        message = err["msg"].removeprefix("Value error, ")
        raise BadInput(f"{source}:{line}: '{where}': {message}") from None


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
