"""The screenplay document model every format reads into and writes from.

One typed, JSON-serialisable tree: a title page, the elements before the first scene heading
(``preamble``), and scenes, each a heading plus its body elements. Text fields keep Fountain inline
markup (``**bold**``, ``*italic*``, ``_underline_``, backslash escapes) so emphasis survives every
format; :mod:`dsr.screenplay.inline` turns it into styled runs. ``line`` records the 1-based source
line for diagnostics and is excluded from dumps and comparisons of content.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Element(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: int | None = Field(default=None, exclude=True, description="1-based source line")


class Action(_Element):
    type: Literal["action"] = "action"
    text: str
    forced: bool = Field(default=False, description="written with a leading '!' in Fountain")


class Character(_Element):
    """A character cue opening a dialogue block."""

    type: Literal["character"] = "character"
    name: str = Field(description="the cue without extension, e.g. 'MARA'")
    extension: str | None = Field(default=None, description="e.g. 'V.O.', 'O.S.', \"CONT'D\"")
    dual: bool = Field(default=False, description="second speaker of a dual-dialogue pair ('^')")
    forced: bool = Field(default=False, description="written with a leading '@' in Fountain")

    @property
    def cue(self) -> str:
        return f"{self.name} ({self.extension})" if self.extension else self.name


class Parenthetical(_Element):
    type: Literal["parenthetical"] = "parenthetical"
    text: str = Field(description="including the parentheses, e.g. '(quietly)'")


class Dialogue(_Element):
    type: Literal["dialogue"] = "dialogue"
    text: str = Field(description="lines of one speech joined by '\\n'")


class Lyrics(_Element):
    type: Literal["lyrics"] = "lyrics"
    text: str


class Transition(_Element):
    type: Literal["transition"] = "transition"
    text: str = Field(description="e.g. 'CUT TO:'")
    forced: bool = False


class Centered(_Element):
    type: Literal["centered"] = "centered"
    text: str


class Shot(_Element):
    """FDX 'Shot' paragraphs (ANGLE ON ..., CLOSE ON ...); Fountain has no own syntax for them."""

    type: Literal["shot"] = "shot"
    text: str


class PageBreak(_Element):
    type: Literal["page_break"] = "page_break"


class Section(_Element):
    type: Literal["section"] = "section"
    text: str
    depth: int = Field(default=1, ge=1)


class Synopsis(_Element):
    type: Literal["synopsis"] = "synopsis"
    text: str


class Note(_Element):
    """A note that stands as its own paragraph (inline notes stay in their element's text)."""

    type: Literal["note"] = "note"
    text: str


class Boneyard(_Element):
    """Text commented out with /* */: kept, never printed."""

    type: Literal["boneyard"] = "boneyard"
    text: str


Element = Annotated[
    Action
    | Character
    | Parenthetical
    | Dialogue
    | Lyrics
    | Transition
    | Centered
    | Shot
    | PageBreak
    | Section
    | Synopsis
    | Note
    | Boneyard,
    Field(discriminator="type"),
]

ElementType = Literal[
    "action",
    "character",
    "parenthetical",
    "dialogue",
    "lyrics",
    "transition",
    "centered",
    "shot",
    "page_break",
    "section",
    "synopsis",
    "note",
    "boneyard",
]


class SceneHeading(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="the heading as written, without scene number or forcing dot")
    int_ext: str | None = Field(
        default=None, description="normalised prefix: INT., EXT., INT./EXT., I/E, EST."
    )
    location: str | None = None
    time_of_day: str | None = None
    scene_number: str | None = Field(default=None, description="e.g. '12' or '12A' from '#12#'")
    forced: bool = Field(default=False, description="written with a leading '.' in Fountain")
    line: int | None = Field(default=None, exclude=True)


class Scene(BaseModel):
    model_config = ConfigDict(extra="forbid")

    heading: SceneHeading
    elements: list[Element] = Field(default_factory=list)


class TitleField(BaseModel):
    """One title-page key; multi-line values joined by '\\n'. Order is kept."""

    model_config = ConfigDict(extra="forbid")

    key: str
    value: str


class Screenplay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title_page: list[TitleField] = Field(default_factory=list)
    preamble: list[Element] = Field(
        default_factory=list, description="elements before the first scene heading (stage plays live here)"
    )
    scenes: list[Scene] = Field(default_factory=list)

    def title(self) -> str | None:
        """The ``Title`` value with markup and line breaks flattened, if the title page has one."""
        for field in self.title_page:
            if field.key.lower() == "title":
                return " ".join(part.strip() for part in field.value.splitlines() if part.strip())
        return None

    def all_elements(self) -> list[Element]:
        """Every body element in reading order (headings excluded)."""
        out: list[Element] = list(self.preamble)
        for scene in self.scenes:
            out.extend(scene.elements)
        return out

    def characters(self) -> list[str]:
        """Distinct cue names in order of first appearance."""
        seen: dict[str, None] = {}
        for element in self.all_elements():
            if isinstance(element, Character):
                seen.setdefault(element.name, None)
        return list(seen)
