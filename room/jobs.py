"""Runs continued from the writers' room: one background thread per run, its progress as events.

A job holds the run's lock (run/runlock.py) while it drives the run with the same driver as
``dsr resume`` (run/runner.py), answering a pending review with the room's answer and pausing at the next
one. Its events (each finished node, then how the job ended) are kept in order, numbered, so a page can
follow them from any point (server-sent events in room/app.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsr.common.errors import BadInput

MAX_EVENTS = 2000  # per run; older ones are dropped (a page reloads the run's state anyway)


@dataclass
class Job:
    run_id: str
    what: str
    state: str = "running"  # running, paused, finished, failed
    message: str = ""
    started: float = field(default_factory=time.time)
    thread: threading.Thread | None = None


class Jobs:
    """Background jobs and their event streams, per run id."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._serial = 0

    def job(self, run_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(run_id)

    def busy(self, run_id: str) -> bool:
        job = self.job(run_id)
        return job is not None and job.state == "running"

    def emit(self, run_id: str, event: dict[str, Any]) -> None:
        with self._lock:
            self._serial += 1
            events = self._events.setdefault(run_id, [])
            events.append({"id": self._serial, "time": round(time.time(), 3), **event})
            del events[:-MAX_EVENTS]
            self._lock.notify_all()

    def events_after(self, run_id: str, after: int, timeout: float) -> list[dict[str, Any]]:
        """Events of ``run_id`` numbered above ``after``; waits up to ``timeout`` seconds for one."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                fresh = [e for e in self._events.get(run_id, []) if e["id"] > after]
                left = deadline - time.monotonic()
                if fresh or left <= 0:
                    return fresh
                self._lock.wait(left)

    def last_id(self, run_id: str) -> int:
        with self._lock:
            events = self._events.get(run_id, [])
            return events[-1]["id"] if events else 0

    def start(self, run_id: str, run_dir: Path, what: str, answer: Any = None) -> Job:
        """Continue the run in a background thread (answering a pending review with ``answer``)."""
        with self._lock:
            if run_id in self._jobs and self._jobs[run_id].state == "running":
                raise BadInput(
                    f"{run_id} is already running ({self._jobs[run_id].what}); wait until it pauses"
                )
            job = Job(run_id=run_id, what=what)
            self._jobs[run_id] = job
        self.emit(run_id, {"type": "job", "state": "running", "what": what})
        job.thread = threading.Thread(
            target=self._run, args=(job, run_dir, answer), name=f"room-{run_id}", daemon=True
        )
        job.thread.start()
        return job

    def _run(self, job: Job, run_dir: Path, answer: Any) -> None:
        try:
            paused = continue_run(
                run_dir, answer, lambda node, update: self._progress(job, node, update), job.what
            )
            job.state, job.message = (
                ("paused", _pause_line(paused)) if paused else ("finished", "the episode is written")
            )
        except Exception as exc:  # shown on the page; the run keeps its checkpoints either way
            job.state, job.message = (
                "failed",
                f"{type(exc).__name__}: {exc}" if not isinstance(exc, BadInput) else str(exc),
            )
        self.emit(job.run_id, {"type": "job", "state": job.state, "message": job.message})

    def _progress(self, job: Job, node: str, update: dict[str, Any]) -> None:
        event: dict[str, Any] = {"type": "node", "node": node}
        x = update.get("x") or {}
        if x:
            event["scene"] = x.get("meta", {}).get("scene_no")
        if node == "critic" and update.get("verdicts"):
            verdict = update["verdicts"][-1]
            event["decision"], event["route"] = verdict["decision"], verdict["route"]
        if node == "commit" and update.get("accepted"):
            event["scene"] = update["accepted"]["scene_no"]
        self.emit(job.run_id, event)

    def wait(self, run_id: str, timeout: float = 60.0) -> Job | None:
        """Block until the run's job is no longer running (tests, shutdown)."""
        job = self.job(run_id)
        if job is not None and job.thread is not None:
            job.thread.join(timeout)
        return job


def _pause_line(payload: dict[str, Any]) -> str:
    return f"paused for review of the {payload['point']} of scene {payload['scene']}"


def continue_run(
    run_dir: Path, answer: Any, on_update: Callable[[str, dict[str, Any]], None], what: str
) -> Any:
    """Drive the run (as ``dsr resume`` does) until it finishes or pauses; returns the pending payload or None."""
    from dsr.run.runlock import holding
    from dsr.run.runner import drive, initial_input, keep_models, load_run

    spec, context = load_run(run_dir)
    context = keep_models(run_dir, context)
    answers = [answer] if answer is not None else []
    with holding(run_dir, f"the writers' room: {what}"):
        result = drive(
            run_dir,
            context,
            initial_input(spec),
            on_update=on_update,
            reviewer=lambda payload: answers.pop(0) if answers else None,
        )
    return None if result.finished else result.paused_for


def stream(
    jobs: Jobs, run_id: str, after: int, *, poll: float = 15.0, stop: Callable[[], bool]
) -> Iterator[dict[str, Any]]:
    """Events as they come (a ``{"type": "ping"}`` every ``poll`` seconds), until ``stop()``."""
    while not stop():
        fresh = jobs.events_after(run_id, after, poll)
        if not fresh:
            yield {"type": "ping", "id": after}
            continue
        for event in fresh:
            after = event["id"]
            yield event
