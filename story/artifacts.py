"""The assembled episode: ``RUN_DIR/episode.{fountain,fdx,pdf}`` from the accepted scenes.

(Per-scene files are written by the nodes as they finish: ``dsr.nodes.runtime.write_artefact``.) Every
file is written atomically, so a killed run never leaves half a file.

An accepted scene is exactly one scene of the episode, whatever the critic let through past its retry
caps: :func:`accepted_scene` keeps one heading per outline scene, so the episode has as many scenes as
the outline and their numbers never shift; every change it makes is returned as a finding.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from dsr.screenplay.control import ControlCharacterWarning
from dsr.screenplay.fountain_reader import parse_fountain
from dsr.screenplay.inline import plain
from dsr.screenplay.model import Action, Element, Scene, SceneHeading, Screenplay, TitleField
from dsr.story.findings import Finding
from dsr.story.fountain_text import CHAT_CLOSER, CHAT_OPENER, heading_hint
from dsr.story.schemas import TaskInput


def _finding(check: str, message: str, evidence: str = "") -> Finding:
    return Finding(
        check=check,
        stage="screenwriter",
        severity="warning",
        message=f"assembly: {message}",
        evidence=evidence,
    )


def _is_chat(element: SceneHeading | Element, pattern: re.Pattern[str]) -> bool:
    return isinstance(element, Action) and bool(pattern.match(plain(element.text)))


def _x_heading(x: TaskInput) -> SceneHeading:
    """The heading X implies, parsed like any other (a heading X cannot form is kept as a forced one)."""
    hint = heading_hint(x)
    parsed = parse_fountain(hint)
    return parsed.scenes[0].heading if parsed.scenes else SceneHeading(text=hint, forced=True)


def accepted_scene(text: str, x: TaskInput) -> tuple[Scene, list[Finding]]:
    """The accepted draft ``text`` as one scene of X, and a finding for every change made to it.

    A chat preamble (and closing chatter) is removed; headings left with nothing under them before the
    draft's content are dropped (the fallback heading above "Here's your script:" and the model's own);
    every later heading is demoted to action; a draft without a heading gets the one X implies.
    """
    findings: list[Finding] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ControlCharacterWarning)
        doc = parse_fountain(text)
    findings += [
        _finding("assembly-control", str(w.message)) for w in caught if w.category is ControlCharacterWarning
    ]
    # The draft in reading order: a heading is a Scene's heading, everything else an element.
    flow: list[SceneHeading | Element] = [*doc.preamble]
    for scene in doc.scenes:
        flow += [scene.heading, *scene.elements]
    start = 0
    while start < len(flow) and (isinstance(flow[start], SceneHeading) or _is_chat(flow[start], CHAT_OPENER)):
        start += 1
    end = len(flow)
    while end > start and _is_chat(flow[end - 1], CHAT_CLOSER):
        end -= 1
    for element in flow[:start] + flow[end:]:
        if isinstance(element, Action):  # the rest are headings: _is_chat matches only actions
            findings.append(
                _finding(
                    "assembly-chat", "removed the chat model's words around the scene", plain(element.text)
                )
            )
    if doc.title_page:
        findings.append(
            _finding("assembly-chat", "removed a title page from the scene", doc.title_page[0].value)
        )
    leading = [e for e in flow[:start] if isinstance(e, SceneHeading)]
    body = flow[start:end]
    if start < min(end, len(doc.preamble)):
        heading = _x_heading(x)  # the draft's content comes before any heading of its own
        findings.append(
            _finding(
                "assembly-heading",
                "the scene did not open with a heading; used the one X implies",
                heading.text,
            )
        )
    elif leading:
        heading = leading[
            -1
        ]  # the one right above the content: the model's own, not a fallback above chatter
    else:
        heading = _x_heading(x)
        findings.append(
            _finding(
                "assembly-heading",
                "the accepted draft had no scene heading; used the one X implies",
                heading.text,
            )
        )
    findings += [
        _finding(
            "assembly-heading", f"dropped an empty heading above the scene's own ({heading.text})", h.text
        )
        for h in leading[:-1]
    ]
    elements: list[Element] = []
    for item in body:
        if isinstance(item, SceneHeading):
            findings.append(
                _finding(
                    "assembly-heading",
                    "a second scene heading inside one outline scene became action",
                    item.text,
                )
            )
            elements.append(Action(text=item.text, forced=True))
        else:
            elements.append(item)
    return Scene(heading=heading.model_copy(update={"scene_number": None}), elements=elements), findings


def assemble_episode(title: str, author: str | None, scenes: list[Scene]) -> Screenplay:
    """One document from the accepted scenes (one per outline scene), numbered in order, with a title page."""
    for number, scene in enumerate(scenes, start=1):
        scene.heading.scene_number = str(number)
    title_page = [TitleField(key="Title", value=title)]
    if author:
        title_page += [TitleField(key="Credit", value="Written by"), TitleField(key="Author", value=author)]
    return Screenplay(title_page=title_page, scenes=scenes)


def write_episode(run_dir: Path, doc: Screenplay) -> list[Path]:
    """episode.fountain, episode.fdx and episode.pdf from one document."""
    from dsr.screenplay.io import write_document

    paths = [run_dir / f"episode.{ext}" for ext in ("fountain", "fdx", "pdf")]
    for path in paths:
        write_document(doc, path)
    return paths
