"""A small EVAL_DIR on disk, as `dsr evaluate run` leaves it, for tests of judging, metrics and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dsr.evaluation import records

CRITIC_DATA = Path(__file__).parent / "data" / "critic"
GOOD_SCENE = (CRITIC_DATA / "good_scene.fountain").read_text(encoding="utf-8")


def write_eval_dir(
    tmp_path: Path, outputs: dict[str, list[dict[str, Any]]], ids: tuple[str, ...] = ("s1", "s2")
) -> Path:
    """Items ``ids`` (the critic fixture's X, the good scene as reference), systems dsr and e2e with ``outputs``."""
    x = json.loads((CRITIC_DATA / "scene.json").read_text(encoding="utf-8"))
    items = [
        {
            "id": i,
            "x": x,
            "reference": GOOD_SCENE,
            "heading": "EXT.",
            "script": "d",
            "series": "d",
            "licence": "t",
        }
        for i in ids
    ]
    records.write_items(tmp_path / "set", items)
    eval_dir = tmp_path / "eval"
    systems = {name: {"mode": name} for name in outputs}
    records.write_eval_config(eval_dir, {"set_dir": str(tmp_path / "set"), "systems": systems})
    records.write_outputs(eval_dir, "human", records.human_outputs(items))
    for name, rows in outputs.items():
        records.write_outputs(eval_dir, name, rows)
    return eval_dir
