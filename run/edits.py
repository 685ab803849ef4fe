"""``RUN_DIR/edits.json``: every writer's edit of a run, in order (what ``dsr history`` names versions by).

An entry: ``id`` (1, 2, ...), ``time``, ``scene``, ``stage`` (directives, prose or screenplay), ``fork`` (the
checkpoint the edit made), ``base`` (the checkpoint it forked from), ``restored`` (a version label when the
edit restores one), ``stale`` (the work it left to redo), ``retired`` (memory records removed), ``by`` (cli or
room). Written atomically after the fork, so a crash in between leaves an unnamed fork, never a named
missing one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dsr.common.errors import BadInput
from dsr.common.fsutil import write_json

EDITS = "edits.json"


def read_edits(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / EDITS
    if not path.is_file():
        return []
    try:
        edits = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path} is damaged ({exc}); move it aside (the run itself is intact)") from None
    if not isinstance(edits, list):
        raise BadInput(f"{path} is damaged (not a list); move it aside (the run itself is intact)")
    return edits


def record_edit(run_dir: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Append ``entry`` with its id and time; returns it as recorded."""
    edits = read_edits(run_dir)
    recorded = {"id": len(edits) + 1, "time": datetime.now(UTC).isoformat(timespec="seconds"), **entry}
    write_json(run_dir / EDITS, [*edits, recorded])
    return recorded
