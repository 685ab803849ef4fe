"""``dsr lint FILE [--profiles EPISODE.yaml] [--json] [--rules]``: format findings, exit 1 on errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dsr.cli.console import console, shown
from dsr.common.errors import BadInput

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _load_profiles(path: Path) -> Any:
    """The cast of an episode file; a missing file or malformed YAML is bad input (exit 2)."""
    import yaml

    from dsr.common.bounded_yaml import load_yaml
    from dsr.screenplay.lint import cast_from_episode

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInput(f"{path}: profiles file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read profiles file ({exc.__class__.__name__})") from None
    try:
        data = load_yaml(text, str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise BadInput(f"{path}: malformed YAML{where}: {problem}") from None
    try:
        return cast_from_episode(data)
    except BadInput as exc:
        raise BadInput(f"{path}: {exc}") from None


def _rules_table() -> Table:
    from dsr.screenplay.lint import RULES

    table = Table(title="Lint rules")
    for column in ("rule", "name", "severity", "checks"):
        table.add_column(column)
    for spec in sorted(RULES.values(), key=lambda r: r.id):
        table.add_row(spec.id, spec.name, f"[{_STYLE[spec.severity]}]{spec.severity}[/]", spec.summary)
    return table


def lint_command(
    file: Annotated[
        Path | None, typer.Argument(help="Fountain (.fountain/.spmd/.txt) or Final Draft (.fdx)")
    ] = None,
    profiles: Annotated[
        Path | None, typer.Option("--profiles", help="episode YAML whose characters[] are the allowed cues")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print findings and summary as JSON")] = False,
    rules: Annotated[bool, typer.Option("--rules", help="list the rules and exit")] = False,
) -> None:
    """Check a screenplay's format: rule id, severity and line for every finding; exit 1 when any is an error."""
    if rules:
        if as_json:
            from dsr.screenplay.lint import RULES

            typer.echo(json.dumps([vars(r) for r in sorted(RULES.values(), key=lambda r: r.id)], indent=2))
        else:
            console.print(_rules_table())
        return
    if file is None:
        raise BadInput("dsr lint: missing FILE (or use --rules to list the rules)")

    cast = _load_profiles(profiles) if profiles is not None else None

    from dsr.screenplay.io import read_document, read_text
    from dsr.screenplay.lint import lint, summarize

    doc = read_document(file)
    source = read_text(file) if file.suffix.lower() != ".fdx" else None
    findings = lint(doc, profiles=cast, source=source)
    summary = summarize(findings, doc)
    if as_json:
        payload = {
            "file": str(file),
            "findings": [f.model_dump(mode="json") for f in findings],
            "summary": summary.model_dump(mode="json"),
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        if findings:
            table = Table(title=shown(str(file)), show_lines=False)
            for column in ("line", "severity", "rule", "message"):
                table.add_column(column, overflow="fold")
            for f in findings:
                table.add_row(
                    str(f.line) if f.line is not None else "-",
                    f"[{_STYLE[f.severity]}]{f.severity}[/]",
                    f"{f.rule} {f.name}",
                    shown(f.message),
                )
            console.print(table)
        console.print(
            f"{file}: {summary.errors} error(s), {summary.warnings} warning(s), {summary.info} info"
            f" in {summary.scenes} scene(s); {summary.errors_per_scene:g} errors per scene",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if summary.errors:
        raise typer.Exit(1)


def register(app: typer.Typer, panel: str) -> None:
    app.command("lint", rich_help_panel=panel)(lint_command)
