"""What the writers' room shows of a run, read from its checkpoints and files (no model, no writes).

The episode page needs the run as it stands: one read of the newest checkpoint (its accepted scene
records, the scene in progress, a pending review). A scene's details (X, directives, prose, every critic
verdict, calls and tokens) and its versions read the checkpoint tree, on demand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsr.contract.call_log import CALL_LOG, read_call_log
from dsr.run.edits import read_edits
from dsr.run.fork import IN_MODE, as_text, current_outputs
from dsr.run.history import Node, Tree, TreeCache, read_tree, scene_now
from dsr.run.runner import RUN_FILE, load_run, run_state
from dsr.screenplay.html import scene_html
from dsr.story.artifacts import accepted_scene
from dsr.story.episode_spec import EpisodeSpec


@dataclass
class SceneView:
    number: int
    outline: str
    status: str  # the commit status, "in progress", "waiting for review" or "not written"
    stale: str | None  # the work the run has still to do for it
    html: str  # the accepted screenplay (or the current draft) as the HTML export lays it out
    draft: bool  # html is an unaccepted draft
    calls: int = 0
    tokens: int = 0


@dataclass
class RunView:
    run_id: str
    title: str
    mode: str
    review: list[str]
    finished: bool
    pending: dict[str, Any] | None
    scenes: list[SceneView]
    stages: tuple[str, ...]
    edits: list[dict[str, Any]] = field(default_factory=list)
    writer_edit: dict[str, Any] | None = None  # the edit the scene in progress carries
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def pending_text(self) -> str:
        if not self.pending:
            return ""
        point = self.pending["point"]
        key = {"directives": "directives", "prose": "prose", "scene": "screenplay"}[point]
        return as_text("screenplay" if point == "scene" else point, self.pending.get(key))


def _scene_markup(text: str | None, spec: EpisodeSpec, number: int) -> str:
    if not text or not text.strip():
        return ""
    scene, _ = accepted_scene(text, spec.task_input(number - 1))
    return scene_html(scene)


def _usage(run_dir: Path) -> dict[int, dict[str, int]]:
    per: dict[int, dict[str, int]] = {}
    for call in read_call_log(run_dir / CALL_LOG):
        bucket = per.setdefault(int(call.get("scene") or 0), {"calls": 0, "tokens": 0})
        bucket["calls"] += 1
        bucket["tokens"] += int(call.get("input_tokens", 0)) + int(call.get("output_tokens", 0))
    return per


def _stale(values: dict[str, Any], finished: bool, total: int) -> dict[int, str]:
    """The work the run has still to do, from its newest checkpoint alone (no tree read)."""
    if finished:
        return {}
    x = values.get("x")
    if not x:
        return dict.fromkeys(range(1, total + 1), "to write")
    current = int(x["meta"]["scene_no"])
    stale = dict.fromkeys(range(current + 1, total + 1), "to write")
    if (values.get("accepted") or {}).get("scene_no") != current:
        stale[current] = "to finish"
    return stale


def run_view(run_id: str, run_dir: Path) -> RunView:
    """The episode page's data."""
    spec, context = load_run(run_dir)
    finished, pending, values = run_state(run_dir)
    total = len(spec.scenes)
    records = {int(r["scene_no"]): r for r in values.get("scenes", [])}
    stale = _stale(values, finished, total)
    usage = _usage(run_dir)
    current = (values.get("x") or {}).get("meta", {}).get("scene_no")
    scenes = []
    for number in range(1, total + 1):
        record = records.get(number)
        outline = spec.scenes[number - 1].outline.strip()
        if record is not None:
            status, text, draft = record["status"], record["screenplay"], False
        elif number == current:
            waiting = pending is not None and pending.get("scene") == number
            status, text, draft = (
                ("waiting for review" if waiting else "in progress"),
                values.get("screenplay"),
                True,
            )
        else:  # a scene a fork left behind keeps its files until it is written again
            old = run_dir / "scenes" / f"{number:02d}" / "screenplay.fountain"
            text = old.read_text(encoding="utf-8") if old.is_file() else None
            status, draft = ("stale" if text else "not written"), bool(text)
        used = usage.get(number, {})
        scenes.append(
            SceneView(
                number=number,
                outline=outline,
                status=status,
                stale=stale.get(number),
                html=_scene_markup(text, spec, number),
                draft=draft,
                calls=used.get("calls", 0),
                tokens=used.get("tokens", 0),
            )
        )
    return RunView(
        run_id=run_id,
        title=spec.title,
        mode=context.mode,
        review=list(context.review),
        finished=finished,
        pending=pending,
        scenes=scenes,
        stages=IN_MODE[context.mode],
        edits=read_edits(run_dir),
        writer_edit=None if finished else values.get("writer_edit"),
        totals={
            "calls": sum(u["calls"] for u in usage.values()),
            "tokens": sum(u["tokens"] for u in usage.values()),
        },
    )


REJECTED_TO = {"directives": "planner", "prose": "novelist"}


def _note(values: dict[str, Any], stage: str | None) -> str | None:
    """A rejection's note as the reviewer wrote it (the state keeps it as the stage's critique line)."""
    note = (values.get("critique") or {}).get(stage or "") or ""
    return note.removeprefix("- [human] ") or None


def timeline(tree: Tree, chain: list[Node]) -> list[dict[str, Any]]:
    """What decided where a scene pass's draft went, in order: the writer's edit that forked it, every critic
    verdict (findings, route) and every human review (action, the stage a rejection went to, its note)."""
    forks = {edit["fork"]: edit for edit in tree.edits}
    events: list[dict[str, Any]] = []
    for node in chain:
        parent = tree.nodes.get(node.parent) if node.parent else None
        step = parent.next[0] if parent is not None and parent.next else ""
        if node.id in forks:
            edit = forks[node.id]
            what = f"restored version {edit['restored']}" if edit.get("restored") else f"the {edit['stage']}"
            events.append({"kind": "edit", "text": f"writer's edit #{edit['id']}: {what}"})
        elif step == "critic" and node.values.get("verdicts"):
            events.append({"kind": "verdict", **node.values["verdicts"][-1]})
        elif step.startswith("review_"):
            review = node.values.get("last_review") or {}
            stage = review.get("stage") or REJECTED_TO.get(review.get("point", ""))
            note = _note(node.values, stage) if review.get("action") == "reject" else None
            events.append({"kind": "review", **review, "stage": stage, "note": note})
    return events


def scene_detail(run_dir: Path, number: int, trees: TreeCache | None = None) -> dict[str, Any]:
    """A scene's X, directives, prose, screenplay, critique timeline, calls and versions (``trees``: the
    checkpoints read before, run/history.py)."""
    spec, context = load_run(run_dir)
    if not 1 <= number <= len(spec.scenes):
        raise KeyError(number)
    tree = read_tree(run_dir, trees)
    lineage = tree.lineage()
    node = scene_now(lineage, number)
    versions = tree.versions().get(number, [])
    latest = next((v for v in versions if v.current), versions[-1] if versions else None)
    if node is not None:
        values, events = node.values, timeline(tree, [n for n in lineage if n.scene == number])
    elif latest is not None:  # stale: not on the run as it stands; its last version
        values, events = latest.record, [{"kind": "verdict", **v} for v in latest.verdicts]
    else:
        values, events = {}, []
    outputs = current_outputs(Node("", None, (), values, "", {}))
    calls = [c for c in read_call_log(run_dir / CALL_LOG) if c.get("scene") == number]
    roles: dict[str, dict[str, float]] = {}
    for call in calls:
        bucket = roles.setdefault(
            call.get("role") or "?", {"calls": 0, "input_tokens": 0, "output_tokens": 0, "seconds": 0.0}
        )
        bucket["calls"] += 1
        bucket["input_tokens"] += call.get("input_tokens", 0)
        bucket["output_tokens"] += call.get("output_tokens", 0)
        bucket["seconds"] = round(bucket["seconds"] + call.get("seconds", 0.0), 2)
    x = values.get("x") if isinstance(values.get("x"), dict) else _x_file(run_dir, number)
    return {
        "number": number,
        "outline": spec.scenes[number - 1].outline.strip(),
        "on_lineage": node is not None,
        "x": json.dumps(x, indent=1, ensure_ascii=False) if x else "",
        "texts": {stage: as_text(stage, outputs[stage]) for stage in IN_MODE[context.mode]},
        "timeline": events,
        "verdicts": sum(e["kind"] == "verdict" for e in events),
        "roles": roles,
        "versions": [
            {
                "label": v.label,
                "current": v.current,
                "origin": v.origin(),
                "status": v.record.get("status"),
                "created": v.created[:19],
            }
            for v in versions
        ],
    }


def _x_file(run_dir: Path, number: int) -> dict[str, Any] | None:
    path = run_dir / "scenes" / f"{number:02d}" / "inputs.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def find_runs(root: Path) -> dict[str, Path]:
    """Run directories by id: ``root`` itself when it is a run, else the runs up to two levels below it."""
    if (root / RUN_FILE).is_file():
        return {root.name or "run": root}
    found: dict[str, Path] = {}
    for marker in sorted([*root.glob(f"*/{RUN_FILE}"), *root.glob(f"*/*/{RUN_FILE}")]):
        found[marker.parent.relative_to(root).as_posix()] = marker.parent
    return found
