"""Run-directory artefacts: per-scene files and the assembled episode (Fountain, FDX, PDF).

Layout (DESIGN.md): ``RUN_DIR/scenes/NN/{inputs.json, directives.json, prose.md, screenplay.fountain,
critique.json}`` and ``RUN_DIR/{episode.fountain, episode.fdx, episode.pdf, report.json}``. Every
file is written atomically, so a killed run never leaves half a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.fsutil import atomic_write, write_json
from screenplay.model import Scene, Screenplay, TitleField


def scene_dir(run_dir: Path, scene_no: int) -> Path:
    return run_dir / "scenes" / f"{scene_no:02d}"


def write_scene_files(run_dir: Path, scene_no: int, files: dict[str, Any]) -> None:
    """``files`` maps a file name to text (written as is) or JSON-able data."""
    folder = scene_dir(run_dir, scene_no)
    for name, content in files.items():
        if isinstance(content, str):
            atomic_write(folder / name, content)
        else:
            write_json(folder / name, content)


def assemble_episode(title: str, author: str | None, scene_texts: list[str]) -> Screenplay:
    """One document from the accepted scenes, numbered in order, with a title page."""
    from screenplay.fountain import parse_fountain

    scenes: list[Scene] = []
    for text in scene_texts:
        doc = parse_fountain(text)
        scenes.extend(doc.scenes)
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
