"""Durable episode runs: SQLite checkpoints in the run directory, resume, review pauses.

``RUN_DIR/run.json`` holds the episode spec and the run context (context is not checkpointed);
``RUN_DIR/checkpoints.sqlite`` holds every node's checkpoint. A killed run resumes at the last
finished node, so no finished model call is repeated.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from common.errors import BadInput
from common.fsutil import write_json
from graph.builder import compile_episode_graph
from graph.call_log import CallLog
from graph.context import RunContext
from graph.episode_spec import EpisodeSpec

RUN_FILE = "run.json"
CHECKPOINTS = "checkpoints.sqlite"
CALL_LOG = "calls.jsonl"
THREAD = {"configurable": {"thread_id": "episode"}}

Progress = Callable[[str, dict[str, Any]], None]  # (node name, its state update)
Reviewer = Callable[[dict[str, Any]], Any]  # interrupt payload -> resume value, or None to stay paused


@dataclass
class RunResult:
    finished: bool
    paused_for: dict[str, Any] | None  # the pending interrupt's payload when paused for review
    state: dict[str, Any]


def start_run(spec: EpisodeSpec, run_dir: Path, context: RunContext) -> None:
    """Create the run directory's record; refuses a directory that already holds a run."""
    if (run_dir / RUN_FILE).exists():
        raise BadInput(f"{run_dir} already holds a run; continue it with `dsr resume {run_dir}` or pick a new -o")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / RUN_FILE, {"spec": spec.model_dump(mode="json"), "context": context.to_dict()})


def initial_input(spec: EpisodeSpec) -> dict[str, Any]:
    return {"spec": spec.model_dump(mode="json"), "scene_index": 0, "calls": [], "timings": [], "scenes": []}


def load_run(run_dir: Path) -> tuple[EpisodeSpec, RunContext]:
    record_path = run_dir / RUN_FILE
    if not record_path.is_file():
        raise BadInput(f"{run_dir} is not a run directory (no {RUN_FILE}); start one with `dsr write`")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        return EpisodeSpec.model_validate(record["spec"]), RunContext(**record["context"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"{record_path} is damaged ({exc}); start a new run with `dsr write`") from None


def _check_checkpoints(path: Path) -> None:
    """A damaged checkpoint file (truncated, overwritten) is bad input with its fix, not a traceback."""
    if not path.exists():
        return
    try:
        with closing(sqlite3.connect(path)) as db:
            problem = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    if problem != "ok":
        raise BadInput(
            f"{path} is damaged ({problem}); move {path.name}* aside and run `dsr resume {path.parent}` to "
            "write the episode again from its first scene"
        )


@contextmanager
def episode_graph(run_dir: Path) -> Iterator[Any]:
    """The episode graph compiled with the run's SQLite checkpointer."""
    _check_checkpoints(run_dir / CHECKPOINTS)
    with SqliteSaver.from_conn_string(str(run_dir / CHECKPOINTS)) as saver:
        yield compile_episode_graph(checkpointer=saver)


def _pending(graph: Any) -> tuple[bool, dict[str, Any] | None, dict[str, Any]]:
    snapshot = graph.get_state(THREAD)
    payload = snapshot.interrupts[0].value if snapshot.interrupts else None
    return not snapshot.next, payload, dict(snapshot.values)


def drive(
    run_dir: Path, context: RunContext, first_input: Any, *, on_update: Progress, reviewer: Reviewer
) -> RunResult:
    """Run (or continue) until the episode is finished, or a review is left pending."""
    with episode_graph(run_dir) as graph:
        pending_input = first_input
        while True:
            config = {**THREAD, "callbacks": [CallLog(run_dir / CALL_LOG)]}
            for chunk in graph.stream(pending_input, config, context=context, stream_mode="updates"):
                for node, update in chunk.items():
                    if node != "__interrupt__":
                        on_update(node, update or {})
            finished, payload, values = _pending(graph)
            if finished or payload is None:
                return RunResult(finished, None, values)
            answer = reviewer(payload)
            if answer is None:
                return RunResult(False, payload, values)
            pending_input = Command(resume=answer)


def run_state(run_dir: Path) -> tuple[bool, dict[str, Any] | None, dict[str, Any]]:
    """(finished, pending review payload, state values) of a run directory."""
    with episode_graph(run_dir) as graph:
        return _pending(graph)
