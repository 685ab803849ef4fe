"""The assembled episode: ``RUN_DIR/episode.{fountain,fdx,pdf}`` from the accepted scenes.

(Per-scene files are written by the nodes as they finish: ``nodes.runtime.write_artefact``.) Every
file is written atomically, so a killed run never leaves half a file.
"""

from __future__ import annotations

from pathlib import Path

from screenplay.model import Scene, SceneHeading, Screenplay, TitleField


def assemble_episode(title: str, author: str | None, scene_texts: list[str]) -> Screenplay:
    """One document from the accepted scenes, numbered in order, with a title page."""
    from screenplay.fountain import parse_fountain

    scenes: list[Scene] = []
    for text in scene_texts:
        doc = parse_fountain(text)
        # A scene a human edited down to no heading still belongs in the episode.
        scenes.extend(doc.scenes or [Scene(heading=SceneHeading(text="UNTITLED SCENE", forced=True), elements=doc.preamble)])
    for number, scene in enumerate(scenes, start=1):
        scene.heading.scene_number = str(number)
    title_page = [TitleField(key="Title", value=title)]
    if author:
        title_page += [TitleField(key="Credit", value="Written by"), TitleField(key="Author", value=author)]
    return Screenplay(title_page=title_page, scenes=scenes)


def write_episode(run_dir: Path, doc: Screenplay) -> list[Path]:
    """episode.fountain, episode.fdx and episode.pdf from one document."""
    from screenplay.io import write_document

    paths = [run_dir / f"episode.{ext}" for ext in ("fountain", "fdx", "pdf")]
    for path in paths:
        write_document(doc, path)
    return paths
