"""Reading and writing the evaluation data contract's files (one place, so every part agrees on them).

Layout (see the project's evaluation data contract):

* SET_DIR: ``items.jsonl`` (one test item per line) and ``set.json`` (manifest).
* EVAL_DIR: ``eval.json`` (config), ``outputs/<system>.jsonl``, ``judgments/<judge>.jsonl``,
  ``pairwise/<judge>.jsonl``, ``calibration.json``, ``metrics.json``.

Every file is written atomically (a whole JSONL file is rewritten through a temp file; they are small),
and every reader checks the rows it returns, so a hand-edited or truncated file fails with one line that
names the file, the line and the problem instead of a traceback deep inside the metrics.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dsr.common.errors import BadInput
from dsr.common.fsutil import atomic_write, write_json

HUMAN = "human"
ERROR_KEYS = ("plot_coherence", "character_development", "narrative_pacing", "format")

ITEM_KEYS = ("id", "x", "reference", "heading", "script", "series", "licence")
OUTPUT_KEYS = ("item", "system", "ok", "error", "screenplay", "prose", "calls", "seconds")
JUDGMENT_KEYS = (
    "item",
    "system",
    "judge",
    "score",
    "variance",
    "errors",
    "failed",
    "reason",
    "samples",
    "valid_samples",
    "detail",
)
PAIRWISE_KEYS = ("item", "a", "b", "shown_first", "winner", "failed", "reason", "judge")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(label: str) -> str:
    """A file-name-safe form of a system or judge label (``human:r1`` -> ``human-r1``)."""
    cleaned = _UNSAFE.sub("-", label).strip("-.")
    if not cleaned:
        raise BadInput(f"label {label!r} has no usable characters for a file name")
    return cleaned


# --- paths -------------------------------------------------------------------------------------------


def items_path(set_dir: Path) -> Path:
    return Path(set_dir) / "items.jsonl"


def set_manifest_path(set_dir: Path) -> Path:
    return Path(set_dir) / "set.json"


def eval_config_path(eval_dir: Path) -> Path:
    return Path(eval_dir) / "eval.json"


def outputs_path(eval_dir: Path, system: str) -> Path:
    return Path(eval_dir) / "outputs" / f"{slug(system)}.jsonl"


def judgments_path(eval_dir: Path, judge: str) -> Path:
    return Path(eval_dir) / "judgments" / f"{slug(judge)}.jsonl"


def pairwise_path(eval_dir: Path, judge: str) -> Path:
    return Path(eval_dir) / "pairwise" / f"{slug(judge)}.jsonl"


def calibration_path(eval_dir: Path) -> Path:
    return Path(eval_dir) / "calibration.json"


def metrics_path(eval_dir: Path) -> Path:
    return Path(eval_dir) / "metrics.json"


# --- generic JSONL -----------------------------------------------------------------------------------


def read_jsonl(path: Path, required: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a missing file, bad JSON or a row without a required key is :class:`BadInput`."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    needed = tuple(required)
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise BadInput(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        missing = [key for key in needed if key not in row]
        if missing:
            raise BadInput(f"{path}:{number}: missing field(s) {', '.join(missing)}")
        rows.append(row)
    return rows


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    """The whole file, atomically, one compact JSON object per line."""
    return atomic_write(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def read_json(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected a JSON object")
    return data


def _unique(rows: list[dict[str, Any]], key: Any, path: Path) -> None:
    """Duplicate keys would double-count an item in every figure: refuse them."""
    seen: set[Any] = set()
    for row in rows:
        k = key(row)
        if k in seen:
            raise BadInput(f"{path}: duplicate row for {k}")
        seen.add(k)


# --- test sets ---------------------------------------------------------------------------------------


def read_items(set_dir: Path) -> list[dict[str, Any]]:
    """The test items of SET_DIR, in file order (ids unique)."""
    set_dir = Path(set_dir)
    if not set_dir.is_dir():
        raise BadInput(
            f"{set_dir}: test set directory does not exist (build one with `dsr evaluate build-set`)"
        )
    path = items_path(set_dir)
    if not path.is_file():
        raise BadInput(
            f"{path}: missing; {set_dir} is not a test set (build one with `dsr evaluate build-set`)"
        )
    rows = read_jsonl(path, ITEM_KEYS)
    _unique(rows, lambda r: r["id"], path)
    return rows


def write_items(set_dir: Path, items: Iterable[dict[str, Any]]) -> Path:
    return write_jsonl(items_path(set_dir), items)


def read_set_manifest(set_dir: Path) -> dict[str, Any]:
    return read_json(set_manifest_path(set_dir))


# --- outputs -----------------------------------------------------------------------------------------


def output_row(
    item: str,
    system: str,
    *,
    ok: bool,
    screenplay: str = "",
    prose: str | None = None,
    error: str | None = None,
    calls: int = 0,
    seconds: float = 0.0,
) -> dict[str, Any]:
    return {
        "item": item,
        "system": system,
        "ok": ok,
        "error": error,
        "screenplay": screenplay,
        "prose": prose,
        "calls": calls,
        "seconds": round(seconds, 3),
    }


def human_outputs(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pseudo-system ``human``: each item's reference scene as its screenplay."""
    return [output_row(item["id"], HUMAN, ok=True, screenplay=item["reference"]) for item in items]


def output_systems(eval_dir: Path) -> list[str]:
    """System names that have an outputs file (read from the rows, not the file names)."""
    folder = Path(eval_dir) / "outputs"
    names: list[str] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        rows = read_jsonl(path, OUTPUT_KEYS)
        name = rows[0]["system"] if rows else path.stem
        if name not in names:
            names.append(name)
    return names


def read_outputs(eval_dir: Path, system: str) -> list[dict[str, Any]]:
    path = outputs_path(eval_dir, system)
    if not path.is_file():
        raise BadInput(f"{path}: no outputs for system {system!r} (run `dsr evaluate run` first)")
    rows = read_jsonl(path, OUTPUT_KEYS)
    _unique(rows, lambda r: r["item"], path)
    for row in rows:
        if row["system"] != system:
            raise BadInput(
                f"{path}: row for item {row['item']} names system {row['system']!r}, not {system!r}"
            )
    return rows


def write_outputs(eval_dir: Path, system: str, rows: Iterable[dict[str, Any]]) -> Path:
    return write_jsonl(outputs_path(eval_dir, system), rows)


def read_all_outputs(eval_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every system's outputs (``human`` included when written), keyed by system name."""
    return {name: read_outputs(eval_dir, name) for name in output_systems(eval_dir)}


# --- judgments ---------------------------------------------------------------------------------------


def judgment_row(
    item: str,
    system: str,
    judge: str,
    *,
    score: float | None,
    variance: float | None = None,
    errors: dict[str, int] | None = None,
    failed: bool = False,
    reason: str | None = None,
    samples: int = 1,
    valid_samples: int | None = None,
    detail: Any = None,
) -> dict[str, Any]:
    counts = {key: int((errors or {}).get(key, 0)) for key in ERROR_KEYS}
    return {
        "item": item,
        "system": system,
        "judge": judge,
        "score": score,
        "variance": variance,
        "errors": counts,
        "failed": failed,
        "reason": reason,
        "samples": samples,
        "valid_samples": (0 if failed else samples) if valid_samples is None else valid_samples,
        "detail": detail,
    }


def _check_judgment(row: dict[str, Any], path: Path) -> None:
    if not row["failed"] and not isinstance(row["score"], (int, float)):
        raise BadInput(f"{path}: item {row['item']} / {row['system']} is not failed but has no numeric score")
    if not isinstance(row["errors"], dict):
        raise BadInput(f"{path}: item {row['item']} / {row['system']}: 'errors' must be an object")


def read_judgments(path: Path) -> list[dict[str, Any]]:
    """Rows of one judgments file; unique per (judge, item, system)."""
    rows = read_jsonl(path, JUDGMENT_KEYS)
    for row in rows:
        _check_judgment(row, Path(path))
    _unique(rows, lambda r: (r["judge"], r["item"], r["system"]), Path(path))
    return rows


def judgment_files(eval_dir: Path) -> list[Path]:
    folder = Path(eval_dir) / "judgments"
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def read_all_judgments(eval_dir: Path) -> list[dict[str, Any]]:
    """Every judgment row of EVAL_DIR (LLM judges and ``human:<rater>`` rows alike)."""
    return [row for path in judgment_files(eval_dir) for row in read_judgments(path)]


def write_judgments(eval_dir: Path, judge: str, rows: Iterable[dict[str, Any]]) -> Path:
    return write_jsonl(judgments_path(eval_dir, judge), rows)


# --- pairwise ----------------------------------------------------------------------------------------


def pairwise_row(
    item: str,
    a: str,
    b: str,
    judge: str,
    *,
    shown_first: str,
    winner: str | None,
    failed: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "item": item,
        "a": a,
        "b": b,
        "shown_first": shown_first,
        "winner": winner,
        "failed": failed,
        "reason": reason,
        "judge": judge,
    }


def _check_pair(row: dict[str, Any], path: Path) -> None:
    if row["shown_first"] not in ("a", "b"):
        raise BadInput(
            f"{path}: item {row['item']}: shown_first must be 'a' or 'b', got {row['shown_first']!r}"
        )
    if row["winner"] not in ("a", "b", "tie", None):
        raise BadInput(f"{path}: item {row['item']}: winner must be a, b, tie or null, got {row['winner']!r}")
    if not row["failed"] and row["winner"] is None:
        raise BadInput(f"{path}: item {row['item']} {row['a']} vs {row['b']}: not failed but has no winner")


def read_pairwise(path: Path) -> list[dict[str, Any]]:
    rows = read_jsonl(path, PAIRWISE_KEYS)
    for row in rows:
        _check_pair(row, Path(path))
    _unique(rows, lambda r: (r["judge"], r["item"], r["a"], r["b"], r["shown_first"]), Path(path))
    return rows


def pairwise_files(eval_dir: Path) -> list[Path]:
    folder = Path(eval_dir) / "pairwise"
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def read_all_pairwise(eval_dir: Path) -> list[dict[str, Any]]:
    return [row for path in pairwise_files(eval_dir) for row in read_pairwise(path)]


def write_pairwise(eval_dir: Path, judge: str, rows: Iterable[dict[str, Any]]) -> Path:
    return write_jsonl(pairwise_path(eval_dir, judge), rows)


# --- single JSON files -------------------------------------------------------------------------------


def read_eval_config(eval_dir: Path) -> dict[str, Any]:
    eval_dir = Path(eval_dir)
    if not eval_dir.is_dir():
        raise BadInput(f"{eval_dir}: evaluation directory does not exist (run `dsr evaluate run` first)")
    path = eval_config_path(eval_dir)
    if not path.is_file():
        raise BadInput(f"{path}: missing; {eval_dir} is not an evaluation directory (run `dsr evaluate run`)")
    return read_json(path)


def write_eval_config(eval_dir: Path, config: dict[str, Any]) -> Path:
    return write_json(eval_config_path(eval_dir), config)


def read_calibration(eval_dir: Path) -> dict[str, Any] | None:
    path = calibration_path(eval_dir)
    return read_json(path) if path.is_file() else None


def write_metrics(eval_dir: Path, metrics: dict[str, Any]) -> Path:
    return write_json(metrics_path(eval_dir), metrics)
