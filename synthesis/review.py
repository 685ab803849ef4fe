"""Human review decisions (DSR-SPEC 6: all reverse outputs pass a human-in-the-loop filter).

Decisions are appended to ``DATA_DIR/review/decisions.jsonl``, one JSON object per line, the latest per
example winning; append-only so a reviewer's work survives a crash and every change is auditable.
The datasets are rebuilt from the examples plus these decisions, never edited in place.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

Decision = Literal["accept", "reject", "edit"]
DECISIONS_FILE = Path("review") / "decisions.jsonl"


class ReviewDecision(BaseModel):
    id: str
    decision: Decision
    note: str = ""
    edits: dict[str, Any] = Field(
        default_factory=dict, description="replacement fields: prose, directives, x"
    )
    at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def record(data_dir: Path, decision: ReviewDecision) -> None:
    path = data_dir / DECISIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(decision.model_dump_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def load_decisions(data_dir: Path) -> dict[str, ReviewDecision]:
    """Latest decision per example id; successive edits accumulate; a torn last line is ignored."""
    path = data_dir / DECISIONS_FILE
    out: dict[str, ReviewDecision] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            decision = ReviewDecision.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValueError):
            continue
        previous = out.get(decision.id)
        if previous is not None and previous.decision == decision.decision == "edit":
            decision = decision.model_copy(update={"edits": {**previous.edits, **decision.edits}})
        out[decision.id] = decision
    return out
