"""Fountain 1.1 writer: canonical Fountain for a :class:`Screenplay`, read back exactly by
:mod:`dsr.screenplay.fountain_reader`.

One blank line between paragraphs; a forcing character is written where the element's ``forced`` flag
is set or where, without it, the reader's own rules (:func:`~dsr.screenplay.fountain_reader.classify`,
:func:`~dsr.screenplay.fountain_reader.action_needs_force`) would read the element back as something else.
"""

from __future__ import annotations

from dsr.screenplay.fountain_reader import SOFT_BLANK, action_needs_force, classify
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
    SceneHeading,
    Screenplay,
    Section,
    Shot,
    Synopsis,
    TitleField,
    Transition,
)

_BLOCK = frozenset({"parenthetical", "dialogue", "lyrics"})


def _continues_block(elements: list[Element], index: int, last: str) -> bool:
    """Does ``elements[index]`` belong to the dialogue block whose last non-boneyard type is ``last``?"""
    while index < len(elements) and elements[index].type == "boneyard":
        index += 1
    if index >= len(elements):
        return False
    kind = elements[index].type
    return kind in _BLOCK and not (kind == "lyrics" and last == "lyrics")


def _spaced(lines: list[str]) -> list[str]:
    """Blank lines inside an element are written as two spaces so they do not end the paragraph."""
    return [line if line.strip() else SOFT_BLANK for line in lines]


def _title_lines(fields: list[TitleField]) -> list[str]:
    out: list[str] = []
    for field in fields:
        values = field.value.split("\n")
        if len(values) == 1:
            out.append(f"{field.key}: {field.value}" if field.value else f"{field.key}:")
        else:
            out.append(f"{field.key}:")
            out.extend(f"    {value}" if value.strip() else SOFT_BLANK for value in values)
    return out


def _heading_line(heading: SceneHeading) -> str:
    text = heading.text.strip()
    if heading.forced or not text or classify(text, text, True, True) != "heading":
        text = "." + text
    return f"{text} #{heading.scene_number}#" if heading.scene_number else text


def _action_lines(action: Action, first_in_body: bool) -> list[str]:
    lines = _spaced(action.text.split("\n"))
    if action.forced or action_needs_force(lines, first_in_body):
        lines[0] = "!" + lines[0]
    return lines


def _cue_line(character: Character, next_blank: bool) -> str:
    cue = character.name + (f" ({character.extension})" if character.extension else "")
    if character.dual:
        cue += " ^"
    if character.forced or not cue.strip() or classify(cue, cue, True, next_blank) != "character":
        cue = "@" + cue
    return cue


def _element_lines(element: Element, next_blank: bool, first_in_body: bool) -> list[str]:
    if isinstance(element, Action):
        return _action_lines(element, first_in_body)
    if isinstance(element, Character):
        return [_cue_line(element, next_blank)]
    if isinstance(element, Parenthetical):
        text = element.text.strip().replace("\n", " ")
        return [text if text.startswith("(") and text.endswith(")") else f"({text})"]
    if isinstance(element, Dialogue):
        return _spaced(element.text.split("\n"))
    if isinstance(element, Lyrics):
        return ["~" + line for line in element.text.split("\n")]
    if isinstance(element, Transition):
        text = element.text.strip()
        natural = bool(text) and classify(text, text, True, True) == "transition"
        return [text if natural and not element.forced else "> " + text]
    if isinstance(element, Centered):
        return [f"> {line} <" for line in element.text.split("\n")]
    if isinstance(element, PageBreak):
        return ["==="]
    if isinstance(element, Section):
        return ["#" * element.depth + " " + element.text.replace("\n", " ")]
    if isinstance(element, Synopsis):
        return ["= " + line for line in element.text.split("\n")]
    if isinstance(element, Note):
        return _spaced(f"[[{element.text}]]".split("\n"))
    if isinstance(element, Boneyard):
        return f"/*{element.text}*/".split("\n")
    assert isinstance(element, Shot)  # Fountain has no shot element: an all-caps action line
    return _action_lines(Action(text=element.text), first_in_body)


def _write_elements(elements: list[Element], chunks: list[list[str]], first_in_body: bool) -> None:
    in_block = False
    last = ""
    for index, element in enumerate(elements):
        kind = element.type
        if in_block and _continues_block(elements, index, last):
            target = chunks[-1]
        else:
            in_block = False
            target = []
            chunks.append(target)
        if kind == "character":
            in_block = True
            target.extend(_element_lines(element, not _continues_block(elements, index + 1, kind), False))
        else:
            target.extend(_element_lines(element, True, first_in_body))
        if kind not in ("note", "boneyard"):
            first_in_body = False
        if kind != "boneyard":
            last = kind


def write_fountain(doc: Screenplay) -> str:
    """Canonical Fountain for ``doc``: one blank line between paragraphs, forcing marks only where set or needed.

    ``parse_fountain(write_fountain(doc))`` gives ``doc`` back for every document the reader makes.
    """
    chunks: list[list[str]] = []
    if doc.title_page:
        chunks.append(_title_lines(doc.title_page))
    _write_elements(doc.preamble, chunks, first_in_body=not doc.title_page)
    for scene in doc.scenes:
        chunks.append([_heading_line(scene.heading)])
        _write_elements(scene.elements, chunks, first_in_body=False)
    return "\n\n".join("\n".join(chunk) for chunk in chunks if chunk) + "\n"
