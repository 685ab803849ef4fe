"""``synthesize``: corpus -> filtered scenes -> (X, I_c, N) examples -> splits + datasheet.

Scenes are processed concurrently; the teacher's semaphore bounds requests in flight. Every teacher call
is cached by content before it is used, and all outputs are written atomically at the end, so a run
killed at any moment leaves either the previous complete outputs or none, and a rerun replays finished
calls from the cache. Results are collected in corpus order, so outputs do not depend on timing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dsr import prompts
from dsr.common.errors import BadInput
from dsr.common.fsutil import write_json
from dsr.models.structured import counting, tally
from dsr.synthesis import datasheet
from dsr.synthesis.assemble import apply_decisions, write_splits
from dsr.synthesis.cache import CallCache
from dsr.synthesis.corpus import Rejection, SourceScene, load_corpus
from dsr.synthesis.loop import run_async
from dsr.synthesis.records import (
    EXAMPLES_FILE,
    REJECTIONS_FILE,
    RUN_FILE,
    Example,
    read_examples,
    write_jsonl,
)
from dsr.synthesis.review import load_decisions
from dsr.synthesis.rules_teacher import RulesTeacher
from dsr.synthesis.steps import Draft, extract_directives, forward, reverse
from dsr.synthesis.teacher import Teacher, TeacherError
from dsr.synthesis.validate import Invalid

CACHE_FILE = "cache.sqlite"
PROMPTS = (
    "reverse_outline",
    "reverse_context",
    "reverse_characters",
    "reverse_guidelines",
    "extract_exposition",
    "extract_pacing",
    "extract_characters",
    "forward_novel",
    "fidelity_check",
    "stage1",
    "screenwriter",
    "task_input",
    "structured_output",
    "structured_repair",
)
STEPS = ("reverse", "directives", "forward")
AnyTeacher = Teacher | RulesTeacher
Step = Callable[[Draft], Awaitable[None]]


@dataclass
class Outcome:
    example: Example | None
    rejection: Rejection | None
    coercions: list[str]


def steps_of(teacher: AnyTeacher) -> tuple[Step, Step, Step]:
    """The three steps as this teacher takes them: the rules teacher's own, or the LLM prompts'."""
    if isinstance(teacher, RulesTeacher):
        return teacher.reverse, teacher.extract_directives, teacher.forward

    async def rev(draft: Draft) -> None:
        await reverse(teacher, draft)

    async def directives(draft: Draft) -> None:
        await extract_directives(teacher, draft)

    async def fwd(draft: Draft) -> None:
        await forward(teacher, draft)

    return rev, directives, fwd


async def process_scene(teacher: AnyTeacher, source: SourceScene) -> Outcome:
    """All teacher steps for one scene; any failure becomes a rejection naming the step and reason."""
    draft = Draft(source)
    step = STEPS[0]
    first, second, third = steps_of(teacher)
    try:
        await first(draft)
        step = STEPS[1]
        await second(draft)
        step = STEPS[2]
        await third(draft)
    except (TeacherError, Invalid) as exc:
        return Outcome(
            None, Rejection(step, exc.reason, source.id, exc.detail, source.script), draft.coercions
        )
    except Exception as exc:  # a bug or an unforeseen teacher answer must cost one scene, not the run
        detail = f"{type(exc).__name__}: {exc}"[:300]
        return Outcome(
            None, Rejection(step, "unexpected-error", source.id, detail, source.script), draft.coercions
        )
    assert draft.x is not None and draft.directives is not None
    example = Example(
        id=source.id,
        script=source.script,
        series=source.series,
        licence=source.licence,
        heading=source.scene.heading.text,
        x=draft.x,
        directives=draft.directives,
        prose=draft.prose,
        screenplay=source.text,
        coercions=draft.coercions,
        teacher=teacher.name,
    )
    return Outcome(example, None, draft.coercions)


async def run_scenes(
    teacher: AnyTeacher, scenes: list[SourceScene], on_done: Callable[[], None], concurrency: int
) -> list[Outcome]:
    """Process scenes with at most ``4 * concurrency`` scenes open, so memory stays flat on big corpora.

    A scene's calls are mostly sequential (about seven rounds), so several scenes per request slot are
    needed to keep every slot busy, also while the last scenes drain.
    """
    open_scenes = asyncio.Semaphore(max(4, 4 * concurrency))

    async def one(scene: SourceScene) -> Outcome:
        async with open_scenes:
            outcome = await process_scene(teacher, scene)
        on_done()
        return outcome

    return list(await asyncio.gather(*(one(s) for s in scenes)))


def _counts_by_step(rejections: list[Rejection]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in rejections:
        out.setdefault(r.step, {})
        out[r.step][r.reason] = out[r.step].get(r.reason, 0) + 1
    return out


def synthesize(
    corpus_dir: Path,
    data_dir: Path,
    teacher_factory: Callable[[CallCache], AnyTeacher],
    *,
    limit: int | None = None,
    seed: int = 0,
    on_start: Callable[[int], None] = lambda total: None,
    on_done: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Run the whole pipeline; returns the datasheet dict (also written to ``data_dir``)."""
    if not corpus_dir.is_dir():
        raise BadInput(f"{corpus_dir}: corpus directory not found")
    started = time.perf_counter()
    corpus = load_corpus(corpus_dir)
    scenes = corpus.scenes[:limit] if limit is not None else corpus.scenes
    cache = CallCache(data_dir / CACHE_FILE)
    try:
        teacher = teacher_factory(cache)
        on_start(len(scenes))
        with counting() as structured:  # this run's teacher calls
            outcomes = run_async(run_scenes(teacher, scenes, on_done, teacher.concurrency))
    finally:
        cache.close()
    examples = [o.example for o in outcomes if o.example is not None]
    rejections = corpus.rejections + [o.rejection for o in outcomes if o.rejection is not None]
    failed = Counter(o.rejection.step for o in outcomes if o.rejection is not None)
    after_reverse = len(scenes) - failed["reverse"]
    after_directives = after_reverse - failed["directives"]
    run = {
        "counts": {
            "files": len(corpus.files),
            "scripts_read": len(corpus.scripts),
            "scenes_split": corpus.scenes_split,
            "scenes_after_filters": len(corpus.scenes),
            "scenes_processed": len(scenes),
            "after_reverse_synthesis": after_reverse,
            "after_directive_extraction": after_directives,
            "after_forward_synthesis": len(examples),
        },
        "rejections": _counts_by_step(rejections),
        "coercions": dict(Counter(c.split(": ")[0] for o in outcomes for c in o.coercions).most_common()),
        "usage": asdict(teacher.usage) | {"wall_seconds": round(time.perf_counter() - started, 3)},
        "structured": tally(structured),
        "licences": corpus.licences,
        "config": {
            "corpus_dir": str(corpus_dir),
            "seed": seed,
            "limit": limit,
            "concurrency": teacher.concurrency,
            "max_repairs": teacher.max_repairs,
            "teacher": teacher.identity,
            "teacher_name": teacher.name,
            "prompt_versions": {name: prompts.version(name) for name in PROMPTS},
        },
    }
    write_jsonl(data_dir / EXAMPLES_FILE, [e.model_dump(mode="json") for e in examples])
    write_jsonl(data_dir / REJECTIONS_FILE, [asdict(r) for r in rejections])
    write_json(data_dir / RUN_FILE, run)
    return rebuild(data_dir)


def rebuild(data_dir: Path) -> dict[str, Any]:
    """Splits and datasheet from the stored examples and the current review decisions."""
    run_path = data_dir / RUN_FILE
    if not run_path.exists():
        raise BadInput(
            f"{data_dir}: not a synthesis output directory (no {RUN_FILE}); run dsr synthesize first"
        )
    run = json.loads(run_path.read_text(encoding="utf-8"))
    examples = read_examples(data_dir)
    decisions = load_decisions(data_dir)
    summary = write_splits(data_dir, examples, decisions, run["config"]["seed"])
    sheet = datasheet.build(run, [e for e, _ in apply_decisions(examples, decisions)], summary)
    datasheet.write(data_dir, sheet)
    return sheet
