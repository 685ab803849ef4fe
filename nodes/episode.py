"""Episode-level nodes: set up each scene from the episode file, assemble the episode at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from dsr.common.fsutil import write_json
from dsr.contract.call_log import CALL_LOG, read_run_log
from dsr.contract.context import RunContext
from dsr.contract.dumps import dump
from dsr.contract.records import AcceptedScene
from dsr.contract.report import build_report
from dsr.contract.state import EpisodeState
from dsr.memory import embed_scene_queries
from dsr.memory.context import scene_query
from dsr.nodes.runtime import story_memory, timed_node, write_artefact
from dsr.screenplay.fountain_writer import write_fountain
from dsr.screenplay.model import Screenplay
from dsr.story.artifacts import accepted_scene, assemble_episode, write_episode
from dsr.story.episode_spec import EpisodeSpec
from dsr.story.findings import STAGES


@timed_node("start_scene")
def start_scene_node(state: EpisodeState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """X for the next scene from the episode file; the per-scene fields start empty."""
    index = state["scene_index"] + 1 if state.get("accepted") else state.get("scene_index", 0)
    spec = EpisodeSpec.model_validate(state["spec"])
    x = spec.task_input(index)
    if runtime.context.memory_dir:
        mem = story_memory(runtime.context)
        if not mem.embedding.has_query(scene_query(x.outline.synopsis, x.outline.characters)):
            # the first scene this process writes: its and the later scenes' memory queries in one batch
            later = [spec.task_input(i).outline for i in range(index, len(spec.scenes))]
            embed_scene_queries(mem, [(o.synopsis, o.characters) for o in later])
    return {
        "scene_index": index,
        "x": x.model_dump(mode="json"),
        "directives": None,
        "stage1": None,
        "prose": None,
        "screenplay": None,
        "critique": dict.fromkeys(STAGES),  # every stage's note consumed
        "verdicts": [],
        "retries": {},
        "known_facts": [],
        "last_review": None,
        "writer_edit": None,
        "accepted": None,
    }


@timed_node("assemble")
def assemble_node(state: EpisodeState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """episode.fountain / .fdx / .pdf and report.json in the run directory.

    Each accepted scene becomes exactly one scene of the episode; what assembly changed in a scene is
    added to its open findings in report.json and written to ``scenes/NN/assembly.json``.
    """
    ctx = runtime.context
    spec = EpisodeSpec.model_validate(state["spec"])
    scenes = []
    records: list[AcceptedScene] = []
    for record in state.get("scenes", []):
        scene, findings = accepted_scene(record["screenplay"], spec.task_input(record["scene_no"] - 1))
        scenes.append(scene)
        if findings:
            found = [dump(f) for f in findings]
            write_artefact(ctx.run_dir, record["scene_no"], "assembly.json", found)
            record = {
                **record,
                "screenplay": write_fountain(Screenplay(scenes=[scene])),
                "open_findings": [*record.get("open_findings", []), *found],
            }
        records.append(record)
    doc = assemble_episode(spec.title, spec.author, scenes)
    outputs: dict[str, str] = {}
    if ctx.run_dir:
        run_dir = Path(ctx.run_dir)
        outputs = {path.suffix.lstrip("."): str(path) for path in write_episode(run_dir, doc)}
        report = build_report({**state, "scenes": records}, ctx.to_dict(), read_run_log(run_dir / CALL_LOG))
        write_json(run_dir / "report.json", report)
        outputs["report"] = str(run_dir / "report.json")
    return {"outputs": outputs}
