"""Step 4 (DSR-SPEC 6): examples + review decisions -> train/validation/test JSONL in chat format.

Split by series (every script of a show, and so every screenplay, lands in one split): a scene whose
neighbours are in train would leak its story into test. Groups are shuffled with the seed and dealt
greedily to the split furthest below its target share, so small corpora still fill every split when
they have enough groups. Rows are ``{"id", "messages": [...], ...}``, which ``datasets`` loads as JSON
and TRL's SFT trainer reads as conversations.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from dsr import prompts
from dsr.story.schemas import CreativeDirectives, TaskInput, render_x
from dsr.synthesis.records import Example, write_jsonl
from dsr.synthesis.review import ReviewDecision

SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def stage1_target(directives: CreativeDirectives, prose: str) -> str:
    """The SFT target: I_c then N (DSR-SPEC 3.1)."""
    return f"<directives>{directives.model_dump_json()}</directives>\n<novel>{prose}</novel>"


def apply_decisions(
    examples: list[Example], decisions: dict[str, ReviewDecision]
) -> list[tuple[Example, str]]:
    """Examples the datasets keep, with their review status; rejected ones are left out, edits applied."""
    kept = []
    for example in examples:
        decision = decisions.get(example.id)
        if decision is None:
            kept.append((example, "unreviewed"))
        elif decision.decision == "accept":
            kept.append((example, "accepted"))
        elif decision.decision == "edit":
            edits = decision.edits
            kept.append(
                (
                    example.model_copy(
                        update={
                            "prose": edits.get("prose", example.prose),
                            "directives": CreativeDirectives.model_validate(edits["directives"])
                            if "directives" in edits
                            else example.directives,
                            "x": TaskInput.model_validate(edits["x"]) if "x" in edits else example.x,
                        }
                    ),
                    "edited",
                )
            )
    return kept


def assign_splits(groups: dict[str, int], seed: int) -> dict[str, str]:
    """Group key -> split name, deterministic for a seed."""
    order = sorted(groups, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    total = sum(groups.values()) or 1
    counts = dict.fromkeys(SPLITS, 0)
    out: dict[str, str] = {}
    for group in order:
        split = max(SPLITS, key=lambda s: (SPLITS[s] * total - counts[s], SPLITS[s]))
        out[group] = split
        counts[split] += groups[group]
    return out


def _rows(example: Example, review: str) -> tuple[dict[str, Any], dict[str, Any]]:
    system, user = prompts.messages("stage1", x_text=render_x(example.x))
    meta = {"id": example.id, "script": example.script, "series": example.series, "review": review}
    stage1 = {
        **meta,
        "messages": [
            {"role": "system", "content": system[1]},
            {"role": "user", "content": user[1]},
            {"role": "assistant", "content": stage1_target(example.directives, example.prose)},
        ],
    }
    s2_system, s2_user = prompts.messages(
        "screenwriter", prose=example.prose, heading_hint=example.heading, names=example.x.character_names()
    )
    stage2 = {
        **meta,
        "messages": [
            {"role": "system", "content": s2_system[1]},
            {"role": "user", "content": s2_user[1]},
            {"role": "assistant", "content": example.screenplay},
        ],
    }
    return stage1, stage2


def write_splits(
    data_dir: Path, examples: list[Example], decisions: dict[str, ReviewDecision], seed: int
) -> dict[str, Any]:
    """Write ``stage1/`` and ``stage2/`` splits; returns per-split counts and the series in each."""
    kept = apply_decisions(examples, decisions)
    groups: dict[str, int] = {}
    for example, _ in kept:
        groups[example.series] = groups.get(example.series, 0) + 1
    assignment = assign_splits(groups, seed)
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {
        "stage1": {s: [] for s in SPLITS},
        "stage2": {s: [] for s in SPLITS},
    }
    for example, review in kept:
        split = assignment[example.series]
        stage1, stage2 = _rows(example, review)
        rows["stage1"][split].append(stage1)
        rows["stage2"][split].append(stage2)
    for stage, splits in rows.items():
        for split, items in splits.items():
            write_jsonl(data_dir / stage / f"{split}.jsonl", items)
    reviews = [review for _, review in kept]
    return {
        "splits": {s: len(rows["stage1"][s]) for s in SPLITS},
        "series_by_split": {s: sorted(g for g, a in assignment.items() if a == s) for s in SPLITS},
        "review": {r: reviews.count(r) for r in ("accepted", "edited", "unreviewed")}
        | {"rejected": len(examples) - len(kept)},
        "in_datasets": len(kept),
    }
