"""Test sets with human references (the paper's set-up): X from reverse synthesis, the real scene is S*.

Two sources:

* a corpus of real screenplays: the synthesis corpus loader (same cleaning and filters), then *only* the
  reverse-synthesis step with the teacher role (cached in ``SET_DIR/cache.sqlite``, concurrent);
* an existing synthesis output (``--from-synthesis``): its examples restricted to one split's ids, so a
  test set built from the ``test`` split never overlaps the training data.

Scenes that fail are listed in ``set.json`` with their step and reason, never dropped silently. A set
with zero items is still written (with a loud summary): the manifest is the record of why.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dsr import prompts
from dsr.common.errors import BadInput
from dsr.common.fsutil import write_json
from dsr.evaluation import records
from dsr.models.structured import counting, tally
from dsr.synthesis.cache import CallCache
from dsr.synthesis.corpus import Rejection, SourceScene, load_corpus
from dsr.synthesis.loop import run_async
from dsr.synthesis.steps import Draft, reverse
from dsr.synthesis.teacher import Teacher, TeacherError
from dsr.synthesis.validate import Invalid

CACHE_FILE = "cache.sqlite"
PROMPTS = ("reverse_outline", "reverse_context", "reverse_characters", "reverse_guidelines", "task_input")


def item_row(
    item_id: str, x: dict[str, Any], reference: str, *, heading: str, script: str, series: str, licence: str
) -> dict[str, Any]:
    return {
        "id": item_id,
        "x": x,
        "reference": reference,
        "heading": heading,
        "script": script,
        "series": series,
        "licence": licence,
    }


async def _reverse_one(
    teacher: Teacher, source: SourceScene
) -> tuple[dict[str, Any] | None, Rejection | None]:
    draft = Draft(source)
    try:
        await reverse(teacher, draft)
    except (TeacherError, Invalid) as exc:
        return None, Rejection("reverse", exc.reason, source.id, exc.detail, source.script)
    except Exception as exc:  # an unforeseen teacher answer costs one scene, not the set
        return None, Rejection(
            "reverse", "unexpected-error", source.id, f"{type(exc).__name__}: {exc}"[:300], source.script
        )
    assert draft.x is not None
    row = item_row(
        source.id,
        draft.x.model_dump(mode="json"),
        source.text,
        heading=source.scene.heading.text,
        script=source.script,
        series=source.series,
        licence=source.licence,
    )
    return row, None


async def _reverse_all(
    teacher: Teacher, scenes: list[SourceScene], on_done: Callable[[], None]
) -> list[tuple[dict[str, Any] | None, Rejection | None]]:
    open_scenes = asyncio.Semaphore(max(4, 4 * teacher.concurrency))

    async def one(scene: SourceScene) -> tuple[dict[str, Any] | None, Rejection | None]:
        async with open_scenes:
            out = await _reverse_one(teacher, scene)
        on_done()
        return out

    return list(await asyncio.gather(*(one(s) for s in scenes)))


def _manifest(
    source: dict[str, Any], items: list[dict[str, Any]], rejections: list[Rejection], **extra: Any
) -> dict[str, Any]:
    return {
        "source": source,
        "counts": {"items": len(items), "rejected": len(rejections), **extra.pop("counts", {})},
        "rejections_by_reason": dict(Counter(f"{r.step}: {r.reason}" for r in rejections).most_common()),
        "rejections": [asdict(r) for r in rejections],
        "series": dict(Counter(i["series"] for i in items)),
        "prompt_versions": {name: prompts.version(name) for name in PROMPTS},
        **extra,
    }


def build_from_corpus(
    corpus_dir: Path,
    set_dir: Path,
    teacher_factory: Callable[[CallCache], Teacher],
    *,
    limit: int | None = None,
    on_start: Callable[[int], None] = lambda total: None,
    on_done: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Reverse-synthesise X for every kept corpus scene; writes items.jsonl and set.json, returns set.json."""
    if not corpus_dir.is_dir():
        raise BadInput(f"{corpus_dir}: corpus directory not found")
    started = time.perf_counter()
    corpus = load_corpus(corpus_dir)
    scenes = corpus.scenes[:limit] if limit is not None else corpus.scenes
    set_dir.mkdir(parents=True, exist_ok=True)
    cache = CallCache(set_dir / CACHE_FILE)
    try:
        teacher = teacher_factory(cache)
        on_start(len(scenes))
        with counting() as structured:  # this build's teacher calls
            outcomes = run_async(_reverse_all(teacher, scenes, on_done))
    finally:
        cache.close()
    items = [row for row, _ in outcomes if row is not None]
    failed = [r for _, r in outcomes if r is not None]
    manifest = _manifest(
        {"kind": "corpus", "corpus_dir": str(corpus_dir), "limit": limit},
        items,
        corpus.rejections + failed,
        counts={
            "files": len(corpus.files),
            "scripts_read": len(corpus.scripts),
            "scenes_after_filters": len(corpus.scenes),
            "scenes_processed": len(scenes),
            "reverse_failed": len(failed),
        },
        teacher=teacher.identity,
        teacher_usage=asdict(teacher.usage) | {"wall_seconds": round(time.perf_counter() - started, 3)},
        structured=tally(structured),
        licences=corpus.licences,
    )
    records.write_items(set_dir, items)
    write_json(records.set_manifest_path(set_dir), manifest)
    return manifest


def build_from_synthesis(
    data_dir: Path, set_dir: Path, *, split: str = "test", limit: int | None = None
) -> dict[str, Any]:
    """Items from a synthesis output's examples whose ids are in ``stage1/<split>.jsonl`` (review edits applied)."""
    from dsr.synthesis.assemble import SPLITS, apply_decisions
    from dsr.synthesis.records import RUN_FILE, read_examples
    from dsr.synthesis.review import load_decisions

    if not (data_dir / RUN_FILE).is_file():
        raise BadInput(
            f"{data_dir}: not a synthesis output directory (no {RUN_FILE}); run `dsr synthesize` first"
        )
    if split not in SPLITS:
        raise BadInput(f"unknown split '{split}'; use one of: {', '.join(SPLITS)}")
    split_file = data_dir / "stage1" / f"{split}.jsonl"
    if not split_file.is_file():
        raise BadInput(f"{split_file}: missing; rebuild the splits with `dsr review {data_dir}`")
    ids = [row["id"] for row in records.read_jsonl(split_file, ("id",))]
    wanted = set(ids)
    kept = {
        e.id: e
        for e, _ in apply_decisions(read_examples(data_dir), load_decisions(data_dir))
        if e.id in wanted
    }
    missing = [i for i in ids if i not in kept]
    chosen = [kept[i] for i in ids if i in kept][:limit]
    items = [
        item_row(
            e.id,
            e.x.model_dump(mode="json"),
            e.screenplay,
            heading=e.heading,
            script=e.script,
            series=e.series,
            licence=e.licence,
        )
        for e in chosen
    ]
    rejections = [
        Rejection("select", "not-in-examples", i, f"id listed in {split_file} has no example")
        for i in missing
    ]
    run = json.loads((data_dir / RUN_FILE).read_text(encoding="utf-8"))
    manifest = _manifest(
        {"kind": "synthesis", "data_dir": str(data_dir), "split": split, "limit": limit},
        items,
        rejections,
        counts={"split_ids": len(ids)},
        teacher=run.get("config", {}).get("teacher"),
        prompt_versions=run.get("config", {}).get("prompt_versions", {}),
    )
    set_dir.mkdir(parents=True, exist_ok=True)
    records.write_items(set_dir, items)
    write_json(records.set_manifest_path(set_dir), manifest)
    return manifest
