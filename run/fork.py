"""A writer's edit: replace one stage's output of one scene by forking the run there, so that only what is
downstream of it runs again (``dsr edit``, ``dsr history --restore``, the writers' room).

The episode thread is forked with LangGraph's ``update_state`` at the checkpoint right after the scene's X
was retrieved (:func:`dsr.run.history.scene_start`), as if the node that writes the stage had produced the
writer's text: the directives as the directives review, the prose as the prose review, the screenplay as
the screenwriter. The stages before it keep the scene's current outputs; the stages after it, the critic
and every later scene are what the fork has still to run, so ``dsr resume`` re-runs exactly that. The
edited pass carries ``writer_edit``, so the critic's findings on the edit go to review instead of a rewrite
(:mod:`dsr.nodes.writer_edit`). Memory written by the superseded scenes is retired with the fork.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dsr.common.errors import BadInput
from dsr.nodes.runtime import write_artefact
from dsr.nodes.writer_edit import EDITABLE
from dsr.run.edits import record_edit
from dsr.run.history import Node, TreeCache, committed, scene_now, scene_start, tree_of
from dsr.run.runlock import holding
from dsr.run.runner import load_run, run_graph
from dsr.story.schemas import CreativeDirectives

STAGE_NAMES = tuple(EDITABLE)  # directives, prose, screenplay: the order they are written in
#: The node the fork pretends wrote the stage: its outgoing edge is where the re-run starts.
AS_NODE = {"directives": "review_directives", "prose": "review_prose", "screenplay": "screenwriter"}
ARTEFACT = {"directives": "directives.json", "prose": "prose.md", "screenplay": "screenplay.fountain"}
IN_MODE = {"dsr": STAGE_NAMES, "dsr-nocot": ("prose", "screenplay"), "e2e": ("screenplay",)}


@dataclass
class EditResult:
    edit: dict[str, Any]  # as recorded in edits.json
    stale: dict[int, str]  # scene -> the work left to redo
    retired: int  # memory records removed
    diff: str  # unified diff of the stage's text, before -> after


def parse_value(stage: str, text: str) -> Any:
    """The stage's new output from a writer's text: directives as JSON in the planner's schema, prose and
    Fountain as text (stripped the way review edits are). Unusable text is bad input."""
    if not text.strip():
        raise BadInput(f"the edited {stage} is empty; give the text the scene should have")
    if stage == "directives":
        try:
            return CreativeDirectives.model_validate(json.loads(text)).model_dump(mode="json")
        except json.JSONDecodeError as exc:
            raise BadInput(f"the edited directives are not JSON ({exc.msg}, line {exc.lineno})") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the top level"
            raise BadInput(
                f"the edited directives do not fit the planner's schema: {where}: {first['msg']}"
            ) from None
    return text.strip() + "\n" if stage == "screenplay" else text.strip()


def as_text(stage: str, value: Any) -> str:
    """A stage's output as the writer edits it (directives as indented JSON)."""
    if value is None:
        return ""
    return json.dumps(value, indent=1, ensure_ascii=False) + "\n" if stage == "directives" else str(value)


def diff_text(stage: str, before: Any, after: Any) -> str:
    old, new = (as_text(stage, v).rstrip("\n") + "\n" if v is not None else "" for v in (before, after))
    lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    return "".join(difflib.unified_diff(*lines, f"{stage} (before)", f"{stage} (edited)", n=2))


def current_outputs(node: Node | None) -> dict[str, Any]:
    """The scene's directives, prose and screenplay as they stand at ``node``."""
    values = node.values if node else {}
    return {
        "directives": values.get("directives"),
        "prose": values.get("prose"),
        "screenplay": values.get("screenplay"),
    }


def current_text(run_dir: Path, scene: int, stage: str) -> Any:
    """Scene ``scene``'s ``stage`` output as the run stands (what an editor opens on)."""
    with run_graph(run_dir) as graph:
        lineage = tree_of(graph, run_dir).lineage()
    return current_outputs(scene_now(lineage, scene))[stage]


def _check(run_dir: Path, scene: int, stage: str, total: int, mode: str) -> None:
    if stage not in STAGE_NAMES:
        raise BadInput(f"unknown stage '{stage}'; use one of: {', '.join(STAGE_NAMES)}")
    if stage not in IN_MODE[mode]:
        raise BadInput(f"a {mode} run has no {stage} stage; edit one of: {', '.join(IN_MODE[mode])}")
    if not 1 <= scene <= total:
        raise BadInput(f"{run_dir} has scenes 1 to {total}; there is no scene {scene}")


def _stale(scene: int, stage: str, total: int) -> dict[int, str]:
    later = [s for s in STAGE_NAMES if STAGE_NAMES.index(s) > STAGE_NAMES.index(stage)]
    return {scene: ", ".join([*later, "critic", "commit"]), **{n: "all" for n in range(scene + 1, total + 1)}}


def _retire(context: Any, spec: Any, scene: int) -> int:
    from dsr.memory.client import is_server

    if not context.memory_dir or not (is_server(context.memory_dir) or Path(context.memory_dir).is_dir()):
        return 0  # no memory yet: nothing was committed to it
    from dsr.memory.retire import retire_scenes

    return retire_scenes(context.memory_dir, spec.series, spec.episode, scene)


def fork_scene(
    run_dir: Path,
    scene: int,
    stage: str,
    value: Any,
    *,
    by: str = "cli",
    restore: dict[str, Any] | None = None,
    trees: TreeCache | None = None,
) -> EditResult | None:
    """Replace ``stage`` of ``scene`` with ``value`` (see :func:`parse_value`) by forking the run; None when
    the value is what the scene already has (nothing is forked).

    ``restore``: the outputs of a version to put back whole (directives, prose and screenplay), with its
    label; the fork is then a screenplay edit whose every stage is the version's. ``trees``: the caller's
    checkpoints read before (run/history.py).
    """
    spec, context = load_run(run_dir)
    _check(run_dir, scene, stage, len(spec.scenes), context.mode)
    with holding(run_dir, f"an edit of scene {scene}"), run_graph(run_dir) as graph:
        tree = tree_of(graph, run_dir, trees)
        lineage = tree.lineage()
        start = scene_start(lineage, scene)
        if start is None:
            raise BadInput(
                f"scene {scene} of {run_dir} has not been written yet; run `dsr resume {run_dir}` first"
            )
        now = scene_now(lineage, scene)
        current = current_outputs(now)
        if current[stage] is None and not committed(now, scene) and not restore:
            raise BadInput(f"scene {scene} has no {stage} yet; run `dsr resume {run_dir}` until it has")
        outputs = dict(restore["outputs"]) if restore else {**current, stage: value}
        if outputs == current and not restore:
            return None
        mark = {"stage": stage, "restored": restore["label"] if restore else None}
        update: dict[str, Any] = {"writer_edit": mark}
        for name in STAGE_NAMES[: STAGE_NAMES.index(stage) + 1]:
            update[name] = outputs[name]
        if stage in ("directives", "prose"):
            update["last_review"] = {"point": stage, "action": "edit"}
        config = graph.update_state(start.config, update, as_node=AS_NODE[stage])
        retired = _retire(context, spec, scene)
        for name in STAGE_NAMES[: STAGE_NAMES.index(stage) + 1]:
            if outputs[name] is not None:
                write_artefact(str(run_dir), scene, ARTEFACT[name], as_text(name, outputs[name]))
        stale = _stale(scene, stage, len(spec.scenes))
        entry = record_edit(
            run_dir,
            {
                "scene": scene,
                "stage": stage,
                "fork": config["configurable"]["checkpoint_id"],
                "base": start.id,
                "restored": mark["restored"],
                "stale": {str(k): v for k, v in stale.items()},
                "retired": retired,
                "by": by,
            },
        )
    changed: list[str] = [name for name in STAGE_NAMES if outputs[name] != current[name]] or [stage]
    diff = "".join(diff_text(name, current[name], outputs[name]) for name in changed)
    return EditResult(edit=entry, stale=stale, retired=retired, diff=diff)


def restore_version(
    run_dir: Path, label: str, *, by: str = "cli", trees: TreeCache | None = None
) -> EditResult:
    """Put version ``label`` (``SCENE.VERSION``, as ``dsr history`` lists them) back as the scene's current
    one: a fork whose directives, prose and screenplay are that version's; later scenes re-run."""
    try:
        scene_text, number_text = label.split(".")
        scene, number = int(scene_text), int(number_text)
    except ValueError:
        raise BadInput(
            f"'{label}' is not a version; give SCENE.VERSION as `dsr history` lists them, e.g. 2.1"
        ) from None
    with run_graph(run_dir) as graph:
        versions = tree_of(graph, run_dir, trees).versions().get(scene, [])
    if not 1 <= number <= len(versions):
        have = ", ".join(v.label for v in versions) or "none"
        raise BadInput(
            f"scene {scene} has no version {number} (versions: {have}); see `dsr history {run_dir}`"
        )
    record = versions[number - 1].record
    outputs = {name: record.get(name) for name in STAGE_NAMES}
    result = fork_scene(
        run_dir,
        scene,
        "screenplay",
        outputs["screenplay"],
        by=by,
        restore={"label": label, "outputs": outputs},
        trees=trees,
    )
    assert result is not None  # a restore always forks
    return result
