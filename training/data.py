"""The Stage 1 dataset written by ``dsr synthesize``, as TRL prompt/completion rows.

Rows are ``{"id", ..., "messages": [system, user, assistant]}``. Splitting them into a conversational
prompt (system + user) and completion (assistant) lets TRL put the loss on the completion only
(``completion_only_loss``) with the tokenizer's stock chat template, the same template used at inference
(docs/feasibility.md section 4). Every problem is reported with its file and line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsr.common.errors import BadInput

STAGE = "stage1"
ROLES = ["system", "user", "assistant"]


@dataclass
class Stage1Data:
    """Train and validation rows plus what the model card says about where they came from."""

    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    fingerprint: dict[str, str]
    datasheet_md: str | None = None
    datasheet: dict[str, Any] = field(default_factory=dict)


def _row(path: Path, number: int, line: str) -> dict[str, Any]:
    where = f"{path}:{number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{where}: not valid JSON ({exc.msg}); is this a dsr synthesize dataset?") from None
    messages = row.get("messages") if isinstance(row, dict) else None
    if (
        not isinstance(messages, list)
        or [m.get("role") if isinstance(m, dict) else None for m in messages] != ROLES
    ):
        raise BadInput(f"{where}: expected 'messages' with system, user and assistant turns")
    if not all(isinstance(m.get("content"), str) and m["content"].strip() for m in messages):
        raise BadInput(f"{where}: every message needs non-empty text 'content'")
    return {
        "id": str(row.get("id", f"{path.stem}-{number}")),
        "prompt": messages[:2],
        "completion": messages[2:],
    }


def read_split(path: Path) -> list[dict[str, Any]]:
    """Prompt/completion rows of one JSONL split; a missing file is an empty split."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [_row(path, i, line) for i, line in enumerate(lines, 1) if line.strip()]


def load_stage1(data_dir: Path) -> Stage1Data:
    """Read ``DATA_DIR/stage1``; a missing directory or an empty train split is bad input."""
    if not data_dir.is_dir():
        raise BadInput(f"{data_dir}: dataset directory not found (expected the -o of dsr synthesize)")
    stage = data_dir / STAGE
    train_file = stage / "train.jsonl"
    if not train_file.is_file():
        raise BadInput(f"{data_dir}: no {STAGE}/train.jsonl; run dsr synthesize CORPUS -o {data_dir} first")
    train = read_split(train_file)
    if not train:
        raise BadInput(f"{train_file}: the train split is empty; synthesize more examples")
    validation = read_split(stage / "validation.jsonl")
    digest = {
        split: hashlib.sha256((stage / f"{split}.jsonl").read_bytes()).hexdigest()[:16]
        for split in ("train", "validation")
        if (stage / f"{split}.jsonl").is_file()
    }
    sheet_md = data_dir / "datasheet.md"
    sheet_json = data_dir / "datasheet.json"
    datasheet = json.loads(sheet_json.read_text(encoding="utf-8")) if sheet_json.is_file() else {}
    return Stage1Data(
        train=train,
        validation=validation,
        fingerprint=digest,
        datasheet_md=sheet_md.read_text(encoding="utf-8") if sheet_md.is_file() else None,
        datasheet=datasheet if isinstance(datasheet, dict) else {},
    )
