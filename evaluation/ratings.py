"""``dsr evaluate import-ratings``: filled blind rating sheets -> the contract's human judgments and pairwise rows.

Every row is validated (known pair id, whole-number scores 1-12, preferred A/B/tie, error counts >= 0);
a bad row stops the import with ``file:line`` and the problem. A blank row means "not rated": it is
counted and recorded (a failed pairwise row; a script with no rated pair gets a failed judgment row),
never dropped silently. Un-blinding uses the packet's ``key.json``. Output, per rater, in EVAL_DIR:
``judgments/human-<rater>.jsonl`` (one row per item and system: the mean of that rater's scores over
the pairs the script appeared in) and ``pairwise/human-<rater>.jsonl`` (file names via :func:`dsr.evaluation.records.slug`) (one row per pair, in the order
the rater saw it), so the evaluation's metrics treat people and the LLM judge alike.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path
from typing import Any

from dsr.common.errors import BadInput
from dsr.evaluation import records
from dsr.evaluation.packets import COLUMNS, ERROR_SHORT, KEY_FILE

REQUIRED = ("score_a", "score_b", "preferred")
FILLABLE = [c for c in COLUMNS if c not in ("pair_id", "item_brief_file", "script_a", "script_b")]
PREFERRED = {"a": "A", "b": "B", "tie": "tie"}


def load_key(packet_dir: Path) -> dict[str, Any]:
    path = packet_dir / KEY_FILE
    if not path.is_file():
        raise BadInput(f"{packet_dir}: no {KEY_FILE}; give the PACKET_DIR written by dsr evaluate packets")
    return records.read_json(path)


def _int(where: str, column: str, text: str, low: int, high: int | None) -> int:
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise BadInput(f"{where}: {column} is {text!r}, not a whole number") from None
        if not number.is_integer():
            raise BadInput(f"{where}: {column} is {text!r}, not a whole number") from None
        value = int(number)
    if value < low or (high is not None and value > high):
        bound = f"{low}-{high}" if high is not None else f">= {low}"
        raise BadInput(f"{where}: {column} is {value}, outside {bound}")
    return value


def read_sheet(
    path: Path, pairs: dict[str, tuple[str, dict[str, Any]]]
) -> tuple[str, list[dict[str, Any]], int]:
    """(rater, rated rows, blank rows) of one sheet; any bad row raises :class:`BadInput` naming file:line."""
    if not path.is_file():
        raise BadInput(f"{path}: rating sheet not found")
    with path.open(encoding="utf-8-sig", newline="") as handle:  # -sig: spreadsheet programs add a BOM
        reader = csv.DictReader(handle)
        missing = [c for c in ("pair_id", *REQUIRED) if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInput(
                f"{path}:1: missing column(s) {', '.join(missing)}; use the sheet.csv from the packet"
            )
        rated, blank, raters = [], 0, set()
        seen: set[str] = set()
        for row in reader:
            where = f"{path}:{reader.line_num}"
            cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
            pair_id = cells.get("pair_id", "")
            if not pair_id and not any(cells.get(c) for c in FILLABLE):
                continue  # a fully empty line
            if pair_id not in pairs:
                raise BadInput(
                    f"{where}: pair_id {pair_id!r} is not in {KEY_FILE}; is this sheet from another packet?"
                )
            if pair_id in seen:
                raise BadInput(f"{where}: pair_id {pair_id} appears twice")
            seen.add(pair_id)
            raters.add(pairs[pair_id][0])
            if not any(cells.get(c) for c in FILLABLE):
                blank += 1
                rated.append({"pair_id": pair_id, "blank": True})
                continue
            empty = [c for c in REQUIRED if not cells.get(c)]
            if empty:
                raise BadInput(
                    f"{where}: {', '.join(empty)} empty; fill score_a, score_b and preferred, or leave the whole row empty"
                )
            preferred = PREFERRED.get(cells["preferred"].lower())
            if preferred is None:
                raise BadInput(f"{where}: preferred is {cells['preferred']!r}; write A, B or tie")
            errors = {
                side: {
                    ERROR_SHORT[s]: _int(
                        where, f"errors_{side}_{s}", cells.get(f"errors_{side}_{s}") or "0", 0, None
                    )
                    for s in ERROR_SHORT
                }
                for side in "ab"
            }
            rated.append(
                {
                    "pair_id": pair_id,
                    "blank": False,
                    "preferred": preferred,
                    "errors": errors,
                    "notes": cells.get("notes", ""),
                    "score_a": _int(where, "score_a", cells["score_a"], 1, 12),
                    "score_b": _int(where, "score_b", cells["score_b"], 1, 12),
                }
            )
    if not rated:
        raise BadInput(f"{path}: no pair rows (only a header?)")
    if len(raters) > 1:
        raise BadInput(f"{path}: rows of several raters ({', '.join(sorted(raters))}); one sheet per rater")
    return raters.pop(), rated, blank


def unblind(
    rater_label: str, entries: dict[str, Any], rows: list[dict[str, Any]], order: list[str], sheet: str
) -> tuple[list[dict], list[dict]]:
    """Contract rows from one rater's sheet rows: judgments per (item, system) and pairwise per pair."""
    judge = f"human:{rater_label}"
    by_script: dict[tuple[str, str], list[tuple[str, int, dict[str, int], str]]] = {}
    shown: dict[tuple[str, str], list[str]] = {}
    pairwise = []
    for pair_id, entry in entries.items():
        for side in "ab":
            shown.setdefault((entry["item"], entry[side]), []).append(pair_id)
    by_pair = {r["pair_id"]: r for r in rows}
    for pair_id, entry in entries.items():
        row = by_pair.get(pair_id)
        # canonical a/b: the evaluation's system order; shown_first says which one was Script A
        a, b = sorted((entry["a"], entry["b"]), key=order.index)
        flipped = a != entry["a"]
        base = {"item": entry["item"], "a": a, "b": b, "shown_first": "b" if flipped else "a", "judge": judge}
        if row is None or row["blank"]:
            why = "not rated (blank row)" if row else "not in the imported sheet"
            pairwise.append({**base, "winner": None, "failed": True, "reason": why})
            continue
        winner = {"A": "b" if flipped else "a", "B": "a" if flipped else "b", "tie": "tie"}[row["preferred"]]
        pairwise.append({**base, "winner": winner, "failed": False, "reason": None, "pair_id": pair_id})
        for side in "ab":
            by_script.setdefault((entry["item"], entry[side]), []).append(
                (pair_id, row[f"score_{side}"], row["errors"][side], row["notes"])
            )
    judgments = []
    for (item, system), pair_ids in sorted(shown.items()):
        ratings = by_script.get((item, system), [])
        scores = [r[1] for r in ratings]
        errors = {
            c: round(statistics.fmean(r[2][c] for r in ratings)) if ratings else 0
            for c in ERROR_SHORT.values()
        }
        judgments.append(
            {
                "item": item,
                "system": system,
                "judge": judge,
                "score": round(statistics.fmean(scores), 3) if scores else None,
                "variance": round(statistics.pvariance(scores), 3) if scores else None,
                "errors": errors,
                "failed": not scores,
                "reason": None if scores else "not rated: every pair with this script was left blank",
                "samples": len(pair_ids),
                "valid_samples": len(scores),
                "detail": {
                    "sheet": sheet,
                    "pairs": [r[0] for r in ratings],
                    "scores": scores,
                    "notes": [r[3] for r in ratings if r[3]],
                },
            }
        )
    return judgments, pairwise


def import_ratings(
    packet_dir: Path, sheets: list[Path], *, eval_dir: Path | None = None, rater: str | None = None
) -> dict[str, Any]:
    """Validate every sheet first, then write the contract files; returns counts per rater."""
    key = load_key(packet_dir)
    eval_dir = eval_dir or Path(key["eval_dir"])
    if not eval_dir.is_dir():
        raise BadInput(f"{eval_dir}: evaluation directory not found; give --eval-dir")
    pairs = {pid: (r, entry) for r, block in key["raters"].items() for pid, entry in block["pairs"].items()}
    parsed: dict[str, tuple[Path, list[dict[str, Any]], int]] = {}
    for sheet in sheets:
        who, rows, blank = read_sheet(sheet, pairs)
        if who in parsed:
            raise BadInput(f"{sheet}: a second sheet for rater {who} (first: {parsed[who][0]})")
        parsed[who] = (sheet, rows, blank)
    if rater and len(parsed) != 1:
        raise BadInput("--rater names one rater, but the sheets belong to several; import them one at a time")
    summary: dict[str, Any] = {}
    for who, (sheet, rows, blank) in parsed.items():
        label = rater or who
        judgments, pairwise = unblind(label, key["raters"][who]["pairs"], rows, key["systems"], str(sheet))
        j_path = records.write_judgments(eval_dir, f"human:{label}", judgments)
        p_path = records.write_pairwise(eval_dir, f"human:{label}", pairwise)
        summary[label] = {
            "sheet": str(sheet),
            "packet_rater": who,
            "pairs": len(key["raters"][who]["pairs"]),
            "rated": len(rows) - blank,
            "blank": blank,
            "missing_rows": len(key["raters"][who]["pairs"]) - len(rows),
            "judgments": str(j_path),
            "pairwise": str(p_path),
            "scripts_rated": sum(not j["failed"] for j in judgments),
            "scripts_unrated": sum(j["failed"] for j in judgments),
        }
    return summary
