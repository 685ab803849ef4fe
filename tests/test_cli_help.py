"""``dsr --help`` leads with the main job: write, resume, room, then the other panels in their order."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from dsr.cli.main import PANELS, app


def help_text() -> str:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def listed_commands(text: str) -> list[str]:
    """The command names in the order the help lists them (the first word of each panel row)."""
    return re.findall(r"^│ ([a-z][a-z-]*) {2,}", text, flags=re.MULTILINE)


def test_help_lists_write_resume_room_first() -> None:
    commands = listed_commands(help_text())
    assert commands[:3] == ["write", "resume", "room"]


def test_help_panels_come_in_order_and_hold_every_command() -> None:
    text = help_text()
    titles = re.findall(r"╭─ (.+?) ─", text)
    assert titles == ["Options", *PANELS]
    commands = listed_commands(text)
    assert sorted(commands) == sorted(app_command_names())
    assert len(commands) == len(set(commands))
    # Each panel's commands sit between its title and the next one.
    for panel, following in zip(PANELS, [*list(PANELS)[1:], None], strict=True):
        start = text.index(f"╭─ {panel} ")
        end = text.index(f"╭─ {following} ") if following else len(text)
        assert listed_commands(text[start:end]), panel
    writing = listed_commands(text[text.index("╭─ Writing ") : text.index("╭─ Screenplay formats ")])
    assert writing == ["write", "resume", "room", "edit", "history", "season"]


def app_command_names() -> list[str]:
    names = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    return names + [g.name for g in app.registered_groups if g.name]
