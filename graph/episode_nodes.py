"""Episode-level nodes: set up each scene from the episode file, assemble the episode at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.fsutil import write_json
from graph.artifacts import assemble_episode, write_episode
from graph.episode_spec import EpisodeSpec
from graph.report import build_report
from nodes.runtime import timed_node


@timed_node("start_scene")
def start_scene_node(state: dict[str, Any], runtime: Any) -> dict[str, Any]:
    """X for the next scene from the episode file; the per-scene fields start empty."""
    index = state["scene_index"] + 1 if state.get("accepted") else state.get("scene_index", 0)
    spec = EpisodeSpec.model_validate(state["spec"])
    x = spec.task_input(index)
    return {
        "scene_index": index,
        "x": x.model_dump(mode="json"),
        "directives": None,
        "prose": None,
        "screenplay": None,
        "critique": {},
        "verdicts": [],
        "retries": {},
        "known_facts": [],
        "last_review": None,
        "accepted": None,
    }


@timed_node("assemble")
def assemble_node(state: dict[str, Any], runtime: Any) -> dict[str, Any]:
    """episode.fountain / .fdx / .pdf and report.json in the run directory."""
    ctx = runtime.context
    spec = EpisodeSpec.model_validate(state["spec"])
    doc = assemble_episode(spec.title, spec.author, [scene["screenplay"] for scene in state.get("scenes", [])])
    outputs: dict[str, str] = {}
    if ctx.run_dir:
        run_dir = Path(ctx.run_dir)
        outputs = {path.suffix.lstrip("."): str(path) for path in write_episode(run_dir, doc)}
        report = build_report(state, ctx.to_dict())
        write_json(run_dir / "report.json", report)
        outputs["report"] = str(run_dir / "report.json")
    return {"outputs": outputs}
