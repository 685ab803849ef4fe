"""Runs continued from the writers' room: one background thread per run, its progress as events.

A job holds the run's lock (run/runlock.py) while it drives the run with the same set-up and driver as
``dsr resume`` (run/setup.py, run/runner.py), answering a pending review with the room's answer and pausing at
the next one. Its events (each finished node, then how the job ended) are kept in order, numbered, so a page can
follow them from any point (server-sent events in room/app.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from dsr.common.errors import BadInput
from dsr.contract.context import ModelFactory

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
    """Background jobs and their event streams, per run id. ``model_factory``: builds the models of every run
    they drive instead of the configured providers (None: the providers each run recorded)."""

    def __init__(self, model_factory: ModelFactory | None = None) -> None:
        self.model_factory = model_factory
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._serial = 0
        # Event streams waiting on the server's event loop (no thread each): emit wakes them from a job thread.
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

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
            for loop, woken in list(self._waiters):
                try:
                    loop.call_soon_threadsafe(woken.set)
                except RuntimeError:  # that loop has closed: its stream is gone
                    self._waiters.discard((loop, woken))

    async def next_events(self, run_id: str, after: int, timeout: float) -> list[dict[str, Any]]:
        """Events of ``run_id`` numbered above ``after``; waits up to ``timeout`` seconds for one, on the event
        loop, not in a worker thread (a thread blocked per open stream starved the pages: 60 tabs, 15 s a page).
        """
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(waiter)
        try:
            with anyio.move_on_after(timeout):
                while True:
                    waiter[1].clear()
                    with self._lock:
                        fresh = [e for e in self._events.get(run_id, []) if e["id"] > after]
                    if fresh:
                        return fresh
                    await waiter[1].wait()
            return []
        finally:
            with self._lock:
                self._waiters.discard(waiter)

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
                run_dir,
                answer,
                lambda node, update: self._progress(job, node, update),
                job.what,
                model_factory=self.model_factory,
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
    run_dir: Path,
    answer: Any,
    on_update: Callable[[str, dict[str, Any]], None],
    what: str,
    *,
    model_factory: ModelFactory | None = None,
) -> Any:
    """Drive the run (as ``dsr resume`` does) until it finishes or pauses; returns the pending payload or None."""
    from dsr.run.setup import drive_held, reopen_run

    spec, context = reopen_run(run_dir, model_factory=model_factory)
    answers = [answer] if answer is not None else []
    result = drive_held(
        run_dir,
        spec,
        context,
        holder=f"the writers' room: {what}",
        on_update=on_update,
        reviewer=lambda payload: answers.pop(0) if answers else None,
    )
    return None if result.finished else result.paused_for


async def stream(jobs: Jobs, run_id: str, after: int, *, poll: float = 15.0) -> AsyncIterator[dict[str, Any]]:
    """Events as they come (a ``{"type": "ping"}`` every ``poll`` seconds), until cancelled (the client went
    away)."""
    while True:
        fresh = await jobs.next_events(run_id, after, poll)
        if not fresh:
            yield {"type": "ping", "id": after}
            continue
        for event in fresh:
            after = event["id"]
            yield event
