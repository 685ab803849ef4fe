"""Screenplay document model and formats (Fountain, FDX, PDF) plus the format linter.

Imports nothing from the rest of the project (see docs/design.md).
"""

from dsr.screenplay.errors import ScreenplayError
from dsr.screenplay.model import (
    Action,
    Boneyard,
    Centered,
    Character,
    Dialogue,
    Element,
    Lyrics,
    Note,
    PageBreak,
    Parenthetical,
    Scene,
    SceneHeading,
    Screenplay,
    Section,
    Shot,
    Synopsis,
    TitleField,
    Transition,
)

__all__ = [
    "Action",
    "Boneyard",
    "Centered",
    "Character",
    "Dialogue",
    "Element",
    "Lyrics",
    "Note",
    "PageBreak",
    "Parenthetical",
    "Scene",
    "SceneHeading",
    "Screenplay",
    "ScreenplayError",
    "Section",
    "Shot",
    "Synopsis",
    "TitleField",
    "Transition",
]
