"""``dsr edit`` (replace one stage of one scene, forking the run) and ``dsr history`` (versions, restore)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dsr.cli.console import console, err_console

SUFFIX = {"directives": ".json", "prose": ".md", "screenplay": ".fountain"}


def _stale_line(stale: dict[int, str]) -> str:
    parts = [f"scene {scene} ({work})" for scene, work in sorted(stale.items())]
    return ", ".join([*parts, "the episode files"])


def report_edit(run_dir: Path, result: Any) -> None:
    """What an edit did, in the terms the writer acts on next."""
    edit = result.edit
    what = (
        f"restored version {edit['restored']} of scene {edit['scene']}"
        if edit.get("restored")
        else (f"replaced the {edit['stage']} of scene {edit['scene']}")
    )
    added = sum(1 for line in result.diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
    removed = sum(
        1 for line in result.diff.splitlines() if line.startswith("-") and not line.startswith("---")
    )
    console.print(f"edit #{edit['id']}: {what} (+{added} -{removed} lines)", markup=False, highlight=False)
    console.print(f"stale, to re-run: {_stale_line(result.stale)}", markup=False, highlight=False)
    if result.retired:
        console.print(f"memory: {result.retired} record(s) of the superseded scenes retired", highlight=False)
    console.print(
        f"continue with `dsr resume {run_dir}`: only the stale work runs", markup=False, highlight=False
    )


def edit(
    run_dir: Annotated[Path, typer.Argument(help="a run directory made by `dsr write`")],
    scene: Annotated[int, typer.Option("--scene", min=1, help="the scene to edit (1-based)")],
    stage: Annotated[str, typer.Option("--stage", help="directives | prose | screenplay")],
    file: Annotated[
        Path | None, typer.Argument(help="the new text (directives as JSON); without it $EDITOR opens")
    ] = None,
) -> None:
    """Replace one stage's output of one scene; later stages and later scenes become stale (`dsr resume`)."""
    from dsr.common.errors import BadInput
    from dsr.run.fork import STAGE_NAMES, as_text, current_text, fork_scene, parse_value

    if stage not in STAGE_NAMES:
        raise BadInput(f"unknown stage '{stage}'; use one of: {', '.join(STAGE_NAMES)}")
    if file is not None:
        from dsr.screenplay.io import read_text

        text = read_text(file)
    else:
        if not sys.stdin.isatty():
            raise BadInput("no FILE given and no terminal for $EDITOR; give the new text as FILE")
        from dsr.cli.write import _edit_text

        text = _edit_text(as_text(stage, current_text(run_dir, scene, stage)), SUFFIX[stage])
    result = fork_scene(run_dir, scene, stage, parse_value(stage, text))
    if result is None:
        console.print(f"the {stage} of scene {scene} is unchanged; nothing to re-run", highlight=False)
        return
    report_edit(run_dir, result)


def _first_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return (lines[0][:48] + ("…" if len(lines[0]) > 48 else "")) if lines else ""


def history_rows(run_dir: Path) -> dict[str, Any]:
    """Versions per scene, edits and the work left, as ``dsr history --json`` prints them."""
    from dsr.run.history import read_tree, stale_work
    from dsr.run.runner import load_run

    spec, _ = load_run(run_dir)
    tree = read_tree(run_dir)
    versions = tree.versions()
    stale = stale_work(tree.lineage(), len(spec.scenes))
    scenes = []
    for number in range(1, len(spec.scenes) + 1):
        scenes.append(
            {
                "scene": number,
                "stale": stale.get(number),
                "versions": [
                    {
                        "version": v.label,
                        "current": v.current,
                        "made_by": v.origin(),
                        "edit": (v.made_by or {}).get("id"),
                        "status": v.record.get("status"),
                        "created": v.created,
                        "heading": _first_line(v.record.get("screenplay")),
                    }
                    for v in versions.get(number, [])
                ],
            }
        )
    return {"scenes": scenes, "edits": tree.edits, "finished": bool(tree.head and not tree.head.next)}


def history(
    run_dir: Annotated[Path, typer.Argument(help="a run directory made by `dsr write`")],
    restore: Annotated[
        str | None, typer.Option("--restore", help="put back version SCENE.VERSION (e.g. 2.1)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the history as JSON")] = False,
) -> None:
    """Versions of each scene and the edit that made each; --restore puts one back (later scenes re-run)."""
    from dsr.run.fork import restore_version

    if restore:
        report_edit(run_dir, restore_version(run_dir, restore))
        return
    rows = history_rows(run_dir)
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"history of {run_dir}")
    for column in ("scene", "version", "", "made by", "status", "made at", "first line"):
        table.add_column(column)
    for scene in rows["scenes"]:
        for v in scene["versions"]:
            mark = "current" if v["current"] else ""
            table.add_row(
                str(scene["scene"]),
                v["version"],
                mark,
                v["made_by"],
                v["status"],
                v["created"][:19],
                v["heading"],
            )
        if scene["stale"]:
            table.add_row(str(scene["scene"]), "-", "stale", f"to re-run: {scene['stale']}", "", "", "")
    console.print(table)
    if not rows["finished"]:
        err_console.print(
            f"the run is not finished: `dsr resume {run_dir}` writes the stale work", highlight=False
        )


def register(app: typer.Typer, panel: str) -> None:
    app.command("edit", rich_help_panel=panel)(edit)
    app.command("history", rich_help_panel=panel)(history)
