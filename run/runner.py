"""The one run driver: checkpoints, resume, review pauses.

``RUN_DIR/run.json`` holds the episode spec and the run context (context is not checkpointed), the
per-role model configurations resolved when the run started included, and where its checkpoints are
(run/checkpoints.py: ``RUN_DIR/checkpoints.sqlite`` by default, or a PostgreSQL database). Every node
is a checkpoint. A killed run resumes at the last finished node, so no finished model call is repeated.
``dsr write``, ``dsr resume``, ``dsr season`` (episode graph) and the evaluation runs (scene graph, one per
item) all go through :func:`drive`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from langgraph.types import Command

from dsr.common.errors import BadInput
from dsr.common.fsutil import write_json
from dsr.contract.call_log import CALL_LOG, CallLog, read_call_log
from dsr.contract.context import RunContext, resolve_roles, role_changes, roles_for
from dsr.contract.resources import RunResources
from dsr.graph.builder import compile_episode_graph, compile_scene_graph
from dsr.memory.client import is_server
from dsr.run.checkpoints import SQLITE_FILE, CheckpointStore, choose, open_saver, prepare
from dsr.story.episode_spec import EpisodeSpec

RUN_FILE = "run.json"
CHECKPOINTS = SQLITE_FILE
GraphKind = Literal["episode", "scene"]
_COMPILE = {"episode": compile_episode_graph, "scene": compile_scene_graph}

Progress = Callable[[str, dict[str, Any]], None]  # (node name, its state update)
Reviewer = Callable[[dict[str, Any]], Any]  # interrupt payload -> resume value, or None to stay paused


@dataclass
class RunResult:
    finished: bool
    paused_for: dict[str, Any] | None  # the pending interrupt's payload when paused for review
    state: dict[str, Any]


def with_models(context: RunContext) -> RunContext:
    """``context`` with every role it calls resolved now (``DSR_*`` / dsr.toml), unless already recorded."""
    if context.roles:
        return context
    return replace(context, roles=resolve_roles(roles_for(context.mode, use_rubric=context.use_rubric)))


def start_run(
    spec: EpisodeSpec, run_dir: Path, context: RunContext, checkpoints: str | None = None
) -> RunContext:
    """Create the run directory's record, models resolved once here; refuses a directory that already holds
    a run. ``checkpoints``: ``--checkpoints`` (else ``DSR_CHECKPOINTS``, else SQLite in the run directory),
    reached before anything is written. Returns the context the run goes on with."""
    if (run_dir / RUN_FILE).exists():
        raise BadInput(
            f"{run_dir} already holds a run; continue it with `dsr resume {run_dir}` or pick a new -o"
        )
    store = choose(checkpoints)
    prepare(store, checkpoints)
    run_dir.mkdir(parents=True, exist_ok=True)
    context = with_models(context)
    record = {"spec": spec.model_dump(mode="json"), "context": context.to_dict()}
    if store.store != "sqlite":
        record["checkpoints"] = store.record()
    write_json(run_dir / RUN_FILE, record)
    return context


def initial_input(spec: EpisodeSpec) -> dict[str, Any]:
    return {"spec": spec.model_dump(mode="json"), "scene_index": 0, "timings": [], "scenes": []}


def scene_input(x: dict[str, Any]) -> dict[str, Any]:
    """The scene graph's first input: one X (a TaskInput dump)."""
    return {"x": x, "timings": [], "scenes": []}


def _read_record(run_dir: Path) -> dict[str, Any]:
    record_path = run_dir / RUN_FILE
    if not record_path.is_file():
        raise BadInput(f"{run_dir} is not a run directory (no {RUN_FILE}); start one with `dsr write`")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        EpisodeSpec.model_validate(record["spec"]), RunContext(**record["context"])
        return record
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"{record_path} is damaged ({exc}); start a new run with `dsr write`") from None


def load_run(run_dir: Path) -> tuple[EpisodeSpec, RunContext]:
    """The run's spec and context as recorded (models as the run started with them), in ``run_dir`` wherever
    it is now (see :func:`_relocated`)."""
    record = _read_record(run_dir)
    return EpisodeSpec.model_validate(record["spec"]), _relocated(RunContext(**record["context"]), run_dir)


def _relocated(context: RunContext, run_dir: Path) -> RunContext:
    """A run directory moved or copied since it was recorded writes into itself, not its old place: the context's
    ``run_dir`` is the one opened, and a story memory inside the old directory is the one inside this one."""
    here = run_dir.resolve()
    if context.run_dir is None or Path(context.run_dir) == here:
        return context
    old = Path(context.run_dir)
    memory = context.memory_dir
    if memory and not is_server(memory) and Path(memory).is_relative_to(old):
        memory = str(here / Path(memory).relative_to(old))
    return replace(context, run_dir=str(here), memory_dir=memory)


def keep_models(run_dir: Path, context: RunContext, *, reconfigure: bool = False) -> RunContext:
    """The context a resumed run goes on with: its recorded models, which the current configuration must match.

    A run recorded before models were part of it is resolved now and recorded. Any difference is refused
    unless ``reconfigure``: then the current configuration is used and the switch recorded with its time.
    """
    now = with_models(replace(context, roles={}))
    changes = role_changes(context.roles, now.roles) if context.roles else []
    if changes and not reconfigure:
        more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
        raise BadInput(
            f"{run_dir} was started with other models: {changes[0]}{more}; restore that configuration or run "
            f"`dsr resume {run_dir} --reconfigure` to switch the rest of the run to the current one"
        )
    if context.roles and not changes:
        return context
    record = _read_record(run_dir)
    record["context"] = now.to_dict()
    if changes:
        when = datetime.now(UTC).isoformat(timespec="seconds")
        record.setdefault("reconfigured", []).append({"time": when, "changes": changes})
    write_json(run_dir / RUN_FILE, record)
    return now


def checkpoint_store(run_dir: Path) -> CheckpointStore:
    """Where the run's checkpoints are (SQLite in the run directory unless run.json names another store)."""
    try:  # evaluation items and runs killed before their record have none: SQLite
        record = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return CheckpointStore()
    return CheckpointStore.from_record(record.get("checkpoints") if isinstance(record, dict) else None)


def _thread(kind: GraphKind, run_dir: Path | None = None) -> dict[str, Any]:
    """The run's thread config: ``kind`` for a run in SQLite, ``<run id>:kind`` in a shared database."""
    store = checkpoint_store(run_dir) if run_dir is not None else CheckpointStore()
    return {"configurable": {"thread_id": store.thread_id(kind)}}


@contextmanager
def run_graph(run_dir: Path, kind: GraphKind = "episode", checkpoints: str | None = None) -> Iterator[Any]:
    """The episode (or scene) graph compiled with the run's checkpointer (its thread: ``_thread(kind, run_dir)``).

    ``checkpoints``: an address given now (``--checkpoints``), used for its password when it names the
    run's database (run/checkpoints.py)."""
    with open_saver(run_dir, checkpoint_store(run_dir), checkpoints) as saver:
        yield _COMPILE[kind](checkpointer=saver)


@contextmanager
def with_resources(context: RunContext) -> Iterator[RunContext]:
    """``context`` with resources of its own for one run (contract/resources.py), closed when the block ends;
    a context that has some already keeps them (its caller closes them)."""
    if context.resources is not None:
        yield context
        return
    resources = RunResources()
    try:
        yield replace(context, resources=resources)
    finally:
        resources.close()


def _pending(graph: Any, thread: dict[str, Any]) -> tuple[bool, dict[str, Any] | None, dict[str, Any]]:
    """(finished, pending review payload, values). A run killed after a node saved its writes but before the
    next step's checkpoint shows no ``next`` node, yet the finished task is still there to apply: it is not
    finished (resuming applies the writes and goes on), which ``next`` alone would hide."""
    snapshot = graph.get_state(thread)
    payload = snapshot.interrupts[0].value if snapshot.interrupts else None
    finished = bool(snapshot.values) and not snapshot.next and not snapshot.tasks
    return finished, payload, dict(snapshot.values)


def drive(
    run_dir: Path,
    context: RunContext,
    first_input: Any,
    *,
    on_update: Progress = lambda node, update: None,
    reviewer: Reviewer = lambda payload: None,
    kind: GraphKind = "episode",
    checkpoints: str | None = None,
    start_over: bool = False,
) -> RunResult:
    """Run (or continue) until the graph is finished, or a review is left pending.

    ``first_input`` starts a run without a checkpoint; one with checkpoints continues where it stopped
    (a pending review is asked again), and a finished one is returned as it is. ``checkpoints``: see
    :func:`run_graph`. The run's models and memory (``context.resources``) are made here for this run and
    closed when it stops, unless the caller gave the context its own (then they are the caller's to close).
    """
    thread = _thread(kind, run_dir)
    with with_resources(context) as context, run_graph(run_dir, kind, checkpoints) as graph:
        finished, _, values = _pending(graph, thread)
        if finished:
            return RunResult(True, None, values)
        if not values and kind == "episode" and not start_over:
            refuse_lost_checkpoints(run_dir)
        pending_input = None if values else first_input
        while True:
            config = {**thread, "callbacks": [CallLog(run_dir / CALL_LOG)]}
            for chunk in graph.stream(pending_input, config, context=context, stream_mode="updates"):
                for node, update in chunk.items():
                    if node != "__interrupt__":
                        on_update(node, update or {})
            finished, payload, values = _pending(graph, thread)
            if finished or payload is None:
                return RunResult(finished, None, values)
            answer = reviewer(payload)
            if answer is None:
                return RunResult(False, payload, values)
            pending_input = Command(resume=answer)


def refuse_lost_checkpoints(run_dir: Path) -> None:
    """A run with no checkpoint that has made model calls lost its checkpoints (a ``checkpoints.sqlite`` whose
    ``-wal`` is gone or that was truncated, a database restored from an older backup): starting again from
    scene 1 would repeat every finished call without a word, so it is refused unless asked for
    (``start_over``). ``calls.jsonl`` and the scene folders say what had finished."""
    calls = len(read_call_log(run_dir / CALL_LOG))
    scenes = sorted(p.parent.name for p in (run_dir / "scenes").glob("*/screenplay.fountain"))
    if not calls and not scenes:
        return
    store = checkpoint_store(run_dir)
    where = (
        run_dir / SQLITE_FILE if store.store == "sqlite" else f"thread {store.thread} of {store.describe()}"
    )
    done = f"{calls} model call(s)" + (
        f" and scene(s) {', '.join(s.lstrip('0') or '0' for s in scenes)}" if scenes else ""
    )
    raise BadInput(
        f"{where} holds no checkpoint of this run, but it had made {done}: restore the checkpoints (with their "
        f"-wal file) from a backup, or write the episode again from scene 1 with `dsr resume {run_dir} --start-over`"
    )


def run_state(
    run_dir: Path, kind: GraphKind = "episode", checkpoints: str | None = None
) -> tuple[bool, dict[str, Any] | None, dict[str, Any]]:
    """(finished, pending review payload, state values) of a run directory."""
    with run_graph(run_dir, kind, checkpoints) as graph:
        return _pending(graph, _thread(kind, run_dir))
