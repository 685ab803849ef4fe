"""The on-disk records of a synthesis run: one kept example, one rejection, the run's own statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from dsr.story.schemas import CreativeDirectives, TaskInput

EXAMPLES_FILE = "examples.jsonl"
REJECTIONS_FILE = "rejections.jsonl"
RUN_FILE = "run.json"


class Example(BaseModel):
    """(X, I_c, N) plus the original S, kept for Stage 2 data, review and the end-to-end baseline."""

    id: str
    script: str
    series: str
    licence: str
    heading: str
    x: TaskInput
    directives: CreativeDirectives
    prose: str
    screenplay: str
    coercions: list[str] = Field(default_factory=list)
    teacher: str = ""  # who wrote X, I_c and N: "rules", or the role and model of an LLM teacher


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    from dsr.common.fsutil import atomic_write

    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_examples(data_dir: Path) -> list[Example]:
    path = data_dir / EXAMPLES_FILE
    if not path.exists():
        return []
    return [
        Example.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line
    ]
