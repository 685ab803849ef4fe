"""``dsr parse FILE [--json]`` and ``dsr convert IN -o OUT``: read, summarise and convert screenplays."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dsr.cli.console import console, err_console, shown
from dsr.common.errors import BadInput


@contextmanager
def _input_warnings(source: Path) -> Iterator[None]:
    """What the reader or writer changed in the text (control characters) as one warning line each."""
    from dsr.screenplay.control import ControlCharacterWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ControlCharacterWarning)
        yield
    for warning in caught:
        if issubclass(warning.category, ControlCharacterWarning):
            err_console.print(
                f"dsr: warning: {source}: {warning.message}", markup=False, highlight=False, soft_wrap=True
            )
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)


def _summary(doc, file: Path) -> None:  # noqa: ANN001 - screenplay.model is imported lazily
    from dsr.screenplay.inline import plain
    from dsr.screenplay.model import Character

    console.print(f"[bold]{shown(doc.title() or file.name)}[/]  ({shown(str(file))})", soft_wrap=True)
    if doc.scenes:
        scenes = Table(title=f"{len(doc.scenes)} scene(s)")
        for column in ("#", "number", "heading", "elements"):
            scenes.add_column(column, overflow="fold")
        for index, scene in enumerate(doc.scenes, 1):
            scenes.add_row(
                str(index),
                scene.heading.scene_number or "",
                shown(plain(scene.heading.text)),
                str(len(scene.elements)),
            )
        console.print(scenes)
    else:
        console.print("no scene headings")
    blocks = Counter(e.name for e in doc.all_elements() if isinstance(e, Character))
    if blocks:
        cast = Table(title=f"{len(blocks)} character(s)")
        cast.add_column("character")
        cast.add_column("dialogue blocks", justify="right")
        for name in doc.characters():
            cast.add_row(shown(name), str(blocks[name]))
        console.print(cast)
    counts = Counter(e.type for e in doc.all_elements())
    counts["scene_heading"] = len(doc.scenes)
    counts["title_page_field"] = len(doc.title_page)
    console.print(
        "elements: " + ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()) if count),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def parse_command(
    file: Annotated[Path, typer.Argument(help="Fountain (.fountain/.spmd/.txt) or Final Draft (.fdx)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the document model as JSON")] = False,
) -> None:
    """Parse a screenplay and print a summary (title, scenes, characters, element counts) or the JSON model."""
    from dsr.screenplay.io import read_document

    with _input_warnings(file):
        doc = read_document(file)
    if as_json:
        typer.echo(doc.model_dump_json(indent=2))
    else:
        _summary(doc, file)


def convert_command(
    source: Annotated[
        Path, typer.Argument(metavar="IN", help="Fountain (.fountain/.spmd/.txt) or FDX (.fdx)")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", metavar="OUT", help="target; format by extension: .fountain, .fdx, .pdf, .html"
        ),
    ],
) -> None:
    """Convert a screenplay between Fountain and FDX, or render it to PDF or HTML (format by extension)."""
    from dsr.common.fsutil import refuse_directory
    from dsr.screenplay.io import WRITE_SUFFIXES, read_document, write_document

    refuse_directory(output)
    if output.suffix.lower() not in WRITE_SUFFIXES:
        raise BadInput(
            f"{output}: unknown output extension {output.suffix or '(none)'!r}; "
            f"expected one of {', '.join(sorted(WRITE_SUFFIXES))}"
        )
    with _input_warnings(source):
        doc = read_document(source)
        written = write_document(doc, output)
    console.print(
        f"wrote {written} ({written.suffix.lstrip('.').upper()}, {len(doc.scenes)} scene(s), "
        f"{written.stat().st_size:,} bytes) from {source}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer, panel: str) -> None:
    app.command("parse", rich_help_panel=panel)(parse_command)
    app.command("convert", rich_help_panel=panel)(convert_command)
