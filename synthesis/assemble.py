"""Step 4 (DSR-SPEC 6): examples + review decisions -> train/validation/test JSONL in chat format.

Split by source and series: every script of a show and every script of one source (the author or
upstream repository, the ``<source>__`` prefix of the corpus file name) lands in one split, and so does
every screenplay. A scene whose neighbours are in train would leak its story into test, and an author's
other scripts share characters, voice and habits. Groups are the connected components of "same series"
and "same source" (:func:`split_groups`). They are dealt greedily, largest first (ties in an order
shuffled by the seed), each to the split furthest below its target share: a corpus dominated by one long
series then puts that series in train and its other groups where they balance the shares, and small
corpora still fill every split when they have enough groups. Two unrelated sources whose series keys
happen to coincide are merged too: that can only unbalance the shares, never leak.

Rows are ``{"id", "messages": [...], ...}``, which ``datasets`` loads as JSON and TRL's SFT trainer
reads as conversations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dsr import prompts
from dsr.story.schemas import CreativeDirectives, TaskInput, render_x
from dsr.synthesis.corpus import source_of
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


def split_groups(members: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(script, series) -> its split group: scripts that share a series or a source are one group.

    The group's key lists its series and sources (sorted), so it is deterministic and readable; a
    script without a ``<source>__`` prefix is grouped by its series alone.
    """
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    links: dict[tuple[str, str], list[str]] = {}
    for script, series in members:
        source = source_of(script)
        keys = [f"series:{series}"] + ([f"source:{source}"] if source else [])
        links[(script, series)] = keys
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    components: dict[str, set[str]] = {}
    for keys in links.values():
        for key in keys:
            components.setdefault(find(key), set()).add(key)
    names = {root: " + ".join(sorted(keys)) for root, keys in components.items()}
    return {member: names[find(keys[0])] for member, keys in links.items()}


def assign_splits(groups: dict[str, int], seed: int) -> dict[str, str]:
    """Group key -> split name, deterministic for a seed: largest group first, ties in seed order."""
    order = sorted(groups, key=lambda g: (-groups[g], hashlib.sha256(f"{seed}:{g}".encode()).hexdigest()))
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
    meta = {
        "id": example.id,
        "script": example.script,
        "series": example.series,
        "teacher": example.teacher,
        "review": review,
    }
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
    """Write ``stage1/`` and ``stage2/`` splits; returns per-split counts, series and sources."""
    kept = apply_decisions(examples, decisions)
    group_of = split_groups((example.script, example.series) for example, _ in kept)
    groups: dict[str, int] = {}
    for example, _ in kept:
        group = group_of[(example.script, example.series)]
        groups[group] = groups.get(group, 0) + 1
    assignment = assign_splits(groups, seed)
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {
        "stage1": {s: [] for s in SPLITS},
        "stage2": {s: [] for s in SPLITS},
    }
    series_by_split: dict[str, set[str]] = {s: set() for s in SPLITS}
    sources_by_split: dict[str, set[str]] = {s: set() for s in SPLITS}
    for example, review in kept:
        split = assignment[group_of[(example.script, example.series)]]
        series_by_split[split].add(example.series)
        sources_by_split[split].add(source_of(example.script) or "-")
        stage1, stage2 = _rows(example, review)
        rows["stage1"][split].append(stage1)
        rows["stage2"][split].append(stage2)
    for stage, splits in rows.items():
        for split, items in splits.items():
            write_jsonl(data_dir / stage / f"{split}.jsonl", items)
    reviews = [review for _, review in kept]
    return {
        "splits": {s: len(rows["stage1"][s]) for s in SPLITS},
        "series_by_split": {s: sorted(series_by_split[s]) for s in SPLITS},
        "sources_by_split": {s: sorted(sources_by_split[s]) for s in SPLITS},
        "review": {r: reviews.count(r) for r in ("accepted", "edited", "unreviewed")}
        | {"rejected": len(examples) - len(kept)},
        "in_datasets": len(kept),
    }
