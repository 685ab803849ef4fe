"""Stage 1 -> Stage 2 for each scene of an episode, in order, without critic or memory.

The shortest path from an episode file to a screenplay: it is what ``dsr write --mode direct`` runs
and what the demo uses, and it shares the artefact layout of the full DSR graph.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.progress import Progress

from graph.artifacts import assemble_episode, write_episode, write_json, write_scene_files
from graph.episode_spec import EpisodeSpec
from models.errors import endpoint_failure
from models.factory import get_chat_model
from models.settings import Settings
from nodes.novelist import write_prose
from nodes.schemas import PreviousContext
from nodes.screenwriter import write_screenplay
from nodes.stage_calls import StageOutput


def _call(role: str, settings: Settings, fn: Any, *args: Any) -> StageOutput:
    try:
        return fn(get_chat_model(role, settings), *args)
    except Exception as exc:
        failure = endpoint_failure(role, settings.role(role), exc)
        if failure is not None:
            raise failure from None
        raise


def _accounting(out: StageOutput) -> dict[str, Any]:
    return {
        "calls": 1,
        "input_tokens": out.input_tokens,
        "output_tokens": out.output_tokens,
        "seconds": out.seconds,
        "prompt_version": f"{out.prompt}@{out.prompt_version}",
    }


def run_direct(
    spec: EpisodeSpec, run_dir: Path, settings: Settings, *, max_scenes: int | None = None, progress: Progress
) -> dict[str, Any]:
    """Write every scene (or the first ``max_scenes``), assemble the episode, return the report."""
    count = min(len(spec.scenes), max_scenes or len(spec.scenes))
    task = progress.add_task("writing scenes", total=count * 2)
    started = time.perf_counter()
    scene_reports, scene_texts, tail = [], [], None
    for index in range(count):
        x = spec.task_input(index, PreviousContext(premise=spec.premise, prev_scene_tail=tail))
        number = index + 1
        progress.update(task, description=f"scene {number}: novelist (Stage 1)")
        prose = _call("novelist", settings, write_prose, x)
        progress.advance(task)
        progress.update(task, description=f"scene {number}: screenwriter (Stage 2)")
        script = _call("screenwriter", settings, write_screenplay, prose.text, x)
        progress.advance(task)
        write_scene_files(
            run_dir,
            number,
            {"inputs.json": x.model_dump(mode="json"), "prose.md": prose.text + "\n", "screenplay.fountain": script.text},
        )
        scene_texts.append(script.text)
        tail = prose.text[-400:]
        scene_reports.append(
            {"scene": number, "roles": {"novelist": _accounting(prose), "screenwriter": _accounting(script)}}
        )
    doc = assemble_episode(spec.title, spec.author, scene_texts)
    write_episode(run_dir, doc)
    report = {
        "mode": "direct",
        "title": spec.title,
        "series": spec.series,
        "episode": spec.episode,
        "scenes": scene_reports,
        "total": _totals(scene_reports) | {"wall_seconds": round(time.perf_counter() - started, 2)},
        "models": {role: settings.role(role).public_dict() for role in ("novelist", "screenwriter")},
    }
    write_json(run_dir / "report.json", report)
    return report


def _totals(scene_reports: list[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, dict[str, float]] = {}
    for scene in scene_reports:
        for role, acc in scene["roles"].items():
            bucket = totals.setdefault(role, {"calls": 0, "input_tokens": 0, "output_tokens": 0, "seconds": 0.0})
            for key in bucket:
                bucket[key] += acc[key]
    return {"roles": totals}
