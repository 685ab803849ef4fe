"""A run's history: the tree of its episode thread's checkpoints, read back as scenes and their versions.

Every node of a run is a checkpoint and every checkpoint knows its parent; a writer's edit (``dsr edit``)
forks the thread at a scene, so the checkpoints form a tree whose newest leaf is the run as it stands (its
*lineage*: that leaf and its ancestors). A scene's *version* is one commit of that scene anywhere in the
tree, numbered per scene in the order they were made; the version on the lineage is the current one. The
edits themselves are recorded in ``RUN_DIR/edits.json`` (:mod:`dsr.run.edits`), which names for every version
the edit that made it (the nearest edit among its ancestors).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsr.run.edits import read_edits
from dsr.run.runner import _thread, run_graph


@dataclass
class Node:
    """One checkpoint: its id, parent, what runs next and the state values at that point."""

    id: str
    parent: str | None
    next: tuple[str, ...]
    values: dict[str, Any]
    created: str
    config: dict[str, Any]

    @property
    def scene(self) -> int | None:
        """The scene whose pass this checkpoint belongs to (None before the first X is read)."""
        x = self.values.get("x")
        return int(x["meta"]["scene_no"]) if x else None


@dataclass
class Version:
    """One accepted version of a scene."""

    scene: int
    number: int  # 1, 2, ... per scene, in the order made
    checkpoint: str  # the checkpoint right after its commit
    created: str
    record: dict[str, Any]  # the commit record (status, directives, prose, screenplay, verdict log)
    verdicts: list[dict[str, Any]]  # every critic verdict of the pass, in full
    made_by: dict[str, Any] | None  # the edit among its ancestors nearest to it; None: written by `dsr write`
    current: bool = False

    @property
    def label(self) -> str:
        return f"{self.scene}.{self.number}"

    def origin(self) -> str:
        """How this version came to be, in words."""
        edit = self.made_by
        if edit is None:
            return "written by dsr write"
        what = f"restore of {edit['restored']}" if edit.get("restored") else f"{edit['stage']} edit"
        if edit["scene"] == self.scene:
            return f"edit #{edit['id']} ({what})"
        return f"re-run after edit #{edit['id']} (scene {edit['scene']} {what})"


@dataclass
class Tree:
    """Every checkpoint of a run's episode thread, the current lineage and the recorded edits."""

    nodes: dict[str, Node]
    head: Node | None
    edits: list[dict[str, Any]] = field(default_factory=list)

    def lineage(self) -> list[Node]:
        """The run as it stands, oldest checkpoint first."""
        chain, node = [], self.head
        while node is not None:
            chain.append(node)
            node = self.nodes.get(node.parent) if node.parent else None
        return chain[::-1]

    def ancestors(self, node_id: str) -> list[Node]:
        """``node_id`` and its ancestors, newest first."""
        chain, node = [], self.nodes.get(node_id)
        while node is not None:
            chain.append(node)
            node = self.nodes.get(node.parent) if node.parent else None
        return chain

    def commits(self) -> list[Node]:
        """The checkpoints right after a commit (each is one version of its scene), oldest first."""
        found = [
            node
            for node in self.nodes.values()
            if node.parent in self.nodes
            and self.nodes[node.parent].next == ("commit",)
            and node.values.get("accepted")
        ]
        return sorted(found, key=lambda node: node.created)

    def versions(self) -> dict[int, list[Version]]:
        """Per scene number, every version in the order made."""
        on_lineage = {node.id for node in self.lineage()}
        by_fork = {edit["fork"]: edit for edit in self.edits}
        out: dict[int, list[Version]] = {}
        for node in self.commits():
            record = node.values["accepted"]
            number = int(record["scene_no"])
            made_by = next((by_fork[a.id] for a in self.ancestors(node.id) if a.id in by_fork), None)
            versions = out.setdefault(number, [])
            versions.append(
                Version(
                    scene=number,
                    number=len(versions) + 1,
                    checkpoint=node.id,
                    created=node.created,
                    record=record,
                    verdicts=list(node.values.get("verdicts") or []),
                    made_by=made_by,
                    current=node.id in on_lineage,
                )
            )
        return out


def episode_thread(run_dir: Path) -> dict[str, Any]:
    """The run's episode thread config, as the run driver names it (its own thread in a shared database)."""
    return _thread("episode", run_dir)


#: What a tree keeps of each checkpoint's state: the scene pass, not what accumulates over the episode (the
#: accepted records, the timing log, the spec), so a tree stays linear in the number of checkpoints.
_EPISODE_WIDE = frozenset({"scenes", "timings", "spec", "known_facts", "continuity_facts"})


def _node(snapshot: Any) -> Node:
    parent = snapshot.parent_config["configurable"]["checkpoint_id"] if snapshot.parent_config else None
    values = {k: v for k, v in snapshot.values.items() if k not in _EPISODE_WIDE}
    return Node(
        id=snapshot.config["configurable"]["checkpoint_id"],
        parent=parent,
        next=tuple(snapshot.next),
        values=values,
        created=snapshot.created_at or "",
        config=snapshot.config,
    )


def _newest_first(graph: Any, thread: dict[str, Any], batch: int = 8) -> Iterator[Any]:
    """The thread's checkpoints newest first, read in growing pages (``get_state_history`` reads and decodes
    every checkpoint it is asked for at once)."""
    before = None
    while True:
        page = list(graph.get_state_history(thread, before=before, limit=batch))
        yield from page
        if len(page) < batch:
            return
        before, batch = page[-1].config, min(batch * 4, 512)


class TreeCache:
    """The checkpoints already read, per run directory, for a reader that reads the same runs' trees again and
    again (the writers' room keeps one for the runs it serves, as long as it serves them).

    Checkpoints never change once written and a new one always has the newest id (uuid6), so only the newer
    ones are read (newest first, up to the first one known): the room reads a 30-scene run's tree once, then
    a few checkpoints per refresh.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nodes: dict[str, dict[str, Node]] = {}

    def read(self, graph: Any, run_dir: Path) -> tuple[dict[str, Node], str | None]:
        """Every checkpoint of the run's episode thread by id, and the newest one's id (None: no checkpoint)."""
        key = str(Path(run_dir).resolve())
        with self._lock:
            known = self._nodes.get(key, {})
            fresh: dict[str, Node] = {}
            newest: str | None = None
            for snapshot in _newest_first(graph, episode_thread(run_dir)):
                checkpoint = snapshot.config["configurable"]["checkpoint_id"]
                newest = newest or checkpoint
                if checkpoint in known:
                    break
                fresh[checkpoint] = _node(snapshot)
            else:
                known = {}  # read whole: nothing read before is (still) there
            if newest is not None and known and newest in known and newest != max(known):
                history = graph.get_state_history(episode_thread(run_dir))
                known, fresh = {}, {n.id: n for n in map(_node, history)}
            nodes = self._nodes[key] = {**known, **fresh}
        return nodes, newest


def tree_of(graph: Any, run_dir: Path, trees: TreeCache | None = None) -> Tree:
    """The checkpoint tree of a compiled episode graph (with the run's checkpointer); ``trees``: the reader's
    checkpoints read before (without: all of them are read)."""
    nodes, newest = (trees or TreeCache()).read(graph, run_dir)
    head = nodes.get(newest) if newest else None
    return Tree(nodes=dict(nodes), head=head, edits=read_edits(run_dir))


def read_tree(run_dir: Path, trees: TreeCache | None = None) -> Tree:
    """The checkpoint tree of the run in ``run_dir`` (``trees``: see :func:`tree_of`)."""
    with run_graph(run_dir) as graph:
        return tree_of(graph, run_dir, trees)


def scene_start(lineage: list[Node], scene: int) -> Node | None:
    """The checkpoint right after scene ``scene``'s X was retrieved on ``lineage`` (where a fork of it starts)."""
    for before, after in zip(lineage, lineage[1:], strict=False):
        if (
            before.next == ("retrieve_context",)
            and after.scene == scene
            and before.values.get("scene_index") == scene - 1
        ):
            return after
    return None


def scene_now(lineage: list[Node], scene: int) -> Node | None:
    """The newest checkpoint of scene ``scene``'s pass on ``lineage`` (its values are the scene as it stands)."""
    return next((node for node in reversed(lineage) if node.scene == scene), None)


def committed(node: Node | None, scene: int) -> bool:
    return bool(node and (node.values.get("accepted") or {}).get("scene_no") == scene)


def stale_work(lineage: list[Node], total_scenes: int) -> dict[int, str]:
    """Per scene, the work the run has still to (re)do as it stands: ``"all"`` for a scene not reached,
    ``"from NODE"`` or ``"waiting for review"`` for the scene in progress; empty for a finished run."""
    head = lineage[-1] if lineage else None
    if head is None or head.scene is None:
        return dict.fromkeys(range(1, total_scenes + 1), "all")
    if not head.next:
        return {}
    stale = dict.fromkeys(range(head.scene + 1, total_scenes + 1), "all")
    step = head.next[0]
    if step.startswith("review_"):
        stale[head.scene] = "waiting for review"
    elif step not in ("start_scene", "assemble"):
        stale[head.scene] = f"from {step}"
    return stale
