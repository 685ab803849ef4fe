"""Record types stored in memory, their ids, and the scalar-metadata encoding Chroma needs.

Story position is one integer, ``order = episode * 10_000 + scene_no``, so "before scene n" is a
single ``$lt`` filter that also crosses episode boundaries.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, Field, computed_field, field_validator

from dsr.common.text import without_controls

ORDER_STRIDE = 10_000


def order_of(episode: int, scene_no: int) -> int:
    """The story position of (episode, scene_no) as one sortable integer."""
    if episode < 0 or not 0 <= scene_no < ORDER_STRIDE:
        raise ValueError(f"episode must be >= 0 and scene_no in 0..{ORDER_STRIDE - 1}: {episode}, {scene_no}")
    return episode * ORDER_STRIDE + scene_no


def name_key(name: str) -> str:
    """Case-insensitive identity of a character name ("Mara", "MARA" and " mara " are one person)."""
    return " ".join(name.split()).casefold()


def join_names(names: list[str]) -> str:
    """``["A", "B"]`` -> ``"|A|B|"``: a scalar, human-readable list (Chroma metadata must be scalar)."""
    return "|" + "|".join(names) + "|" if names else ""


def split_names(joined: str | None) -> list[str]:
    return [part for part in (joined or "").split("|") if part]


class _Clean(BaseModel):
    """Records keep no terminal control characters in their text (``dsr memory show`` prints it)."""

    @field_validator("*", mode="before")
    @classmethod
    def _without_controls(cls, value: Any) -> Any:
        if isinstance(value, str):
            return without_controls(value)
        if isinstance(value, list):
            return [without_controls(v) if isinstance(v, str) else v for v in value]
        return value


class CharacterRecord(_Clean):
    """One version of a character profile, valid from (episode, scene_no) on."""

    series: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    profile: dict = Field(default_factory=dict)
    episode: int
    scene_no: int

    @property
    def id(self) -> str:
        return f"{self.series}:{name_key(self.name)}:{self.episode:04d}:{self.scene_no:04d}"

    @property
    def order(self) -> int:
        return order_of(self.episode, self.scene_no)

    def keys(self) -> set[str]:
        """Every lower-cased name this character answers to."""
        return {name_key(n) for n in [self.name, *self.aliases] if n.strip()}


class SceneRecord(_Clean):
    """A committed scene: its summary is what similarity search embeds; ``tail`` is how it ended.

    ``id`` is derived from the position, never taken from the caller (an ``id=`` argument is ignored), so a
    rerun of a scene lands on the same record.
    """

    series: str
    episode: int
    scene_no: int
    summary: str
    characters: list[str] = Field(default_factory=list)
    tail: str | None = None

    @field_validator("summary")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("scene summary is empty")
        return value

    @computed_field  # type: ignore[prop-decorator]  # mypy cannot type a decorated property; pydantic's documented form
    @property
    def id(self) -> str:
        return scene_id(self.series, self.episode, self.scene_no)

    @property
    def order(self) -> int:
        return order_of(self.episode, self.scene_no)


#: Kinds of typed facts and how a later fact of the same kind replaces an earlier one (see :meth:`Fact.slot`).
#: ``state`` is a physical state or injury; ``holder`` says who holds an object (the object is the subject,
#: the holder is ``about``); ``knowledge`` is who learns what (``about`` names what is known).
FACT_KINDS = ("event", "knowledge", "state", "holder", "location", "relationship", "death", "other")
#: Older or looser names for the same kinds (stores written before typed facts, benchmarks, people).
KIND_ALIASES = {
    "injury": "state",
    "physical": "state",
    "object": "holder",
    "possession": "holder",
    "knows": "knowledge",
    "secret": "knowledge",
    "place": "location",
}
#: Kinds whose slot is (kind, subject): the newest fact is the whole truth about the subject.
_SUBJECT_SLOTS = frozenset({"state", "holder", "location", "death"})
#: Kinds whose slot is (kind, subject, about): one per relationship target, one per thing known.
_PAIR_SLOTS = frozenset({"relationship", "knowledge"})
FACT_SOURCES = ("outline", "extracted", "writer")
FACT_STATUSES = ("active", "corrected", "forgotten")


def canonical_kind(kind: str) -> str:
    key = " ".join((kind or "").split()).casefold()
    key = KIND_ALIASES.get(key, key)
    return key if key in FACT_KINDS else "other"


class Fact(_Clean):
    """An atomic continuity fact established by a scene (who knows what, injuries, objects, ...).

    ``id`` is content-addressed (series, position, normalised text); an ``id=`` argument is ignored.
    Typed facts name a ``subject`` (a character, or for ``holder`` the object) and, for relationships,
    knowledge and holders, what they are ``about``; ``quote`` is the line of the scene that established
    the fact. ``source`` says who said so (the outline, the extraction model, a writer); ``by`` who
    recorded or last changed it, ``changed_at`` when. A writer's correction is a new ``writer`` fact that
    ``replaces`` the one it corrects, whose ``status`` becomes ``corrected``; a forgotten fact stays in the
    store as ``forgotten`` so the change and who made it remain on record. Only ``active`` facts are read.
    """

    series: str
    episode: int
    scene_no: int
    text: str
    characters: list[str] = Field(default_factory=list)
    kind: str = "other"
    subject: str = ""
    about: str = ""
    quote: str = ""
    source: str = "extracted"
    status: str = "active"
    by: str = ""
    changed_at: str = ""
    replaces: str = ""

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("fact text is empty")
        return value

    @computed_field  # type: ignore[prop-decorator]  # mypy cannot type a decorated property; pydantic's documented form
    @property
    def id(self) -> str:
        return fact_id(self.series, self.episode, self.scene_no, self.text)

    @property
    def order(self) -> int:
        return order_of(self.episode, self.scene_no)

    @property
    def slot(self) -> str | None:
        """What the fact is the latest word on: a later active fact with the same slot supersedes it.

        ``state:mara`` (her condition), ``location:mara``, ``holder:the brass key``, ``death:jon``,
        ``relationship:mara:tom``, ``knowledge:tom:the letter``. Events (and untyped facts) have no slot:
        they happened and stay true.
        """
        kind = canonical_kind(self.kind)
        if not self.subject.strip() or kind not in _SUBJECT_SLOTS | _PAIR_SLOTS:
            return None
        if kind in _PAIR_SLOTS:
            return f"{kind}:{name_key(self.subject)}:{name_key(self.about)}"
        return f"{kind}:{name_key(self.subject)}"

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def where(self) -> str:
        """``E1 S3``: the story position that established the fact."""
        return f"E{self.episode} S{self.scene_no}"


def scene_id(series: str, episode: int, scene_no: int) -> str:
    return f"{series}:{episode:04d}:{scene_no:04d}"


def order_in_id(record_id: str, series: str) -> int | None:
    """The story order a scene or fact id of ``series`` encodes (``series:EEEE:SSSS[:digest]``, as
    :func:`scene_id` and :func:`fact_id` write them); ``None`` for an id of another series or shape."""
    if not record_id.startswith(series + ":"):
        return None
    parts = record_id[len(series) + 1 :].split(":")
    if len(parts) not in (2, 3) or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return order_of(int(parts[0]), int(parts[1]))


def fact_id(series: str, episode: int, scene_no: int, text: str) -> str:
    """Content-addressed, so re-adding the same fact from a resumed run is a no-op."""
    digest = hashlib.sha1(" ".join(text.split()).casefold().encode()).hexdigest()[:16]
    return f"{scene_id(series, episode, scene_no)}:{digest}"
