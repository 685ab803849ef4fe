"""The datasets written by ``dsr synthesize``, as TRL prompt/completion rows, for Stage 1 or Stage 2.

Stage 1 rows are ``{"id", ..., "messages": [system, user, assistant]}`` from ``stage1/``. Splitting them
into a conversational prompt (system + user) and completion (assistant) lets TRL put the loss on the
completion only (``completion_only_loss``) with the tokenizer's stock chat template, the same template used
at inference (docs/feasibility.md section 4). Every problem is reported with its file and line.

Stage 2 rows (N + X -> S) are built from the synthesis records (``examples.jsonl``: X, the prose N and the
real scene S), with the prompt the screenwriter node sends at run time
(:func:`dsr.story.stage2.screenwriter_messages`); ``stage2/<split>.jsonl`` decides which records are in
which split (the review's rejections left out), and ``review/decisions.jsonl``'s edits of X and the prose
are applied as ``dsr synthesize`` applies them. Every row also carries its X (JSON) and, for Stage 2, its
prose: the critic's reward checks a sampled answer against them (``--method dpo|grpo``).
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
EXAMPLES_FILE = "examples.jsonl"  # synthesis/records.py writes it (training may not import synthesis)
DECISIONS_FILE = Path("review") / "decisions.jsonl"  # synthesis/review.py
SPLITS = ("train", "validation")


@dataclass
class Stage1Data:
    """Train and validation rows plus what the model card says about where they came from (either stage)."""

    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    fingerprint: dict[str, str]
    datasheet_md: str | None = None
    datasheet: dict[str, Any] = field(default_factory=dict)
    stage: int = 1


StageData = Stage1Data


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


def _datasheet(data_dir: Path) -> tuple[str | None, dict[str, Any]]:
    sheet_md = data_dir / "datasheet.md"
    sheet_json = data_dir / "datasheet.json"
    datasheet = json.loads(sheet_json.read_text(encoding="utf-8")) if sheet_json.is_file() else {}
    return (
        sheet_md.read_text(encoding="utf-8") if sheet_md.is_file() else None,
        datasheet if isinstance(datasheet, dict) else {},
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _edits(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Accumulated ``edit`` decisions per example id (the latest decision wins, as in synthesis/review.py)."""
    path = data_dir / DECISIONS_FILE
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            decision = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line
        if not isinstance(decision, dict) or not isinstance(decision.get("id"), str):
            continue
        if decision.get("decision") == "edit" and isinstance(decision.get("edits"), dict):
            out[decision["id"]] = {**out.get(decision["id"], {}), **decision["edits"]}
        else:
            out.pop(decision["id"], None)
    return out


def read_records(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The synthesis records by id (X, prose, scene), review edits applied; empty without ``examples.jsonl``."""
    from dsr.story.schemas import TaskInput

    path = data_dir / EXAMPLES_FILE
    if not path.is_file():
        return {}
    edits = _edits(data_dir)
    records: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record |= {k: v for k, v in edits.get(record["id"], {}).items() if k in ("x", "prose")}
            x = TaskInput.model_validate(record["x"])
            prose, screenplay = str(record["prose"]), str(record["screenplay"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BadInput(f"{path}:{number}: not a dsr synthesize record ({first})") from None
        records[str(record["id"])] = {"x": x, "prose": prose, "screenplay": screenplay}
    return records


def _split_ids(path: Path) -> list[str]:
    ids = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            ids.append(str(json.loads(line)["id"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise BadInput(f"{path}:{number}: expected a JSON row with an 'id'") from None
    return ids


def stage2_row(record_id: str, x: Any, prose: str, screenplay: str) -> dict[str, Any]:
    """One Stage 2 row: the screenwriter's run-time prompt for (X, N), the real scene S as the target."""
    from dsr.story.stage2 import screenwriter_messages

    prompt = [{"role": role, "content": text} for role, text in screenwriter_messages(x, prose)]
    return {
        "id": record_id,
        "prompt": prompt,
        "completion": [{"role": "assistant", "content": screenplay.strip()}],
        "x": x.model_dump_json(),
        "prose": prose,
    }


def load_stage2(data_dir: Path) -> Stage1Data:
    """Stage 2 rows (N + X -> S) from ``examples.jsonl`` in the splits of ``stage2/``."""
    if not data_dir.is_dir():
        raise BadInput(f"{data_dir}: dataset directory not found (expected the -o of dsr synthesize)")
    stage = data_dir / "stage2"
    train_file = stage / "train.jsonl"
    if not train_file.is_file():
        raise BadInput(f"{data_dir}: no stage2/train.jsonl; run dsr synthesize CORPUS -o {data_dir} first")
    records = read_records(data_dir)
    if not records:
        raise BadInput(
            f"{data_dir}: no {EXAMPLES_FILE}; Stage 2 rows are built from the synthesis records (X, prose, scene)"
        )
    rows: dict[str, list[dict[str, Any]]] = {}
    for split in SPLITS:
        path = stage / f"{split}.jsonl"
        ids = _split_ids(path) if path.is_file() else []
        missing = [i for i in ids if i not in records]
        if missing:
            raise BadInput(
                f"{path}: {len(missing)} rows have no record in {EXAMPLES_FILE} (e.g. {missing[0]})"
            )
        rows[split] = [stage2_row(i, **records[i]) for i in ids]
    if not rows["train"]:
        raise BadInput(f"{train_file}: the train split is empty; synthesize more examples")
    sheet_md, sheet = _datasheet(data_dir)
    fingerprint = {s: _digest(stage / f"{s}.jsonl") for s in SPLITS if (stage / f"{s}.jsonl").is_file()}
    fingerprint[EXAMPLES_FILE] = _digest(data_dir / EXAMPLES_FILE)
    if (data_dir / DECISIONS_FILE).is_file():
        fingerprint["decisions"] = _digest(data_dir / DECISIONS_FILE)
    return Stage1Data(rows["train"], rows["validation"], fingerprint, sheet_md, sheet, stage=2)


def load_stage(data_dir: Path, stage: int, *, with_x: bool = False) -> Stage1Data:
    """Rows of ``stage`` (1 or 2). ``with_x``: every row carries its X (Stage 1: from ``examples.jsonl``),
    which the critic's reward needs; a Stage 1 row without a record is bad input then."""
    if stage == 2:
        return load_stage2(data_dir)
    data = load_stage1(data_dir)
    if with_x:
        records = read_records(data_dir)
        if not records:
            raise BadInput(f"{data_dir}: no {EXAMPLES_FILE}; the critic's reward checks answers against X")
        for split in (data.train, data.validation):
            for row in split:
                if row["id"] not in records:
                    raise BadInput(f"{data_dir}: stage1 row {row['id']} has no record in {EXAMPLES_FILE}")
                row["x"] = records[row["id"]]["x"].model_dump_json()
        data.fingerprint[EXAMPLES_FILE] = _digest(data_dir / EXAMPLES_FILE)
    return data
