"""The writers' room web app (Starlette + Jinja): read a run, answer its reviews, edit and re-run.

Pages: ``/`` (the runs), ``/run?run=ID`` (the episode as a screenplay page with each scene's status, the
pending review, live progress), ``/scene?run=ID&n=N`` (a scene's details, loaded on demand). Changes are JSON
POSTs under ``/api/`` that start a background job (room/jobs.py); ``/events?run=ID`` streams its progress as
server-sent events. Everything the page runs is in room/static (no CDN); guard.py says who may connect.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dsr.common.errors import BadInput
from dsr.nodes.review import ACTIONS
from dsr.room.guard import Guard, new_key
from dsr.room.jobs import Jobs, stream
from dsr.room.view import find_runs, run_view, scene_detail
from dsr.run.runlock import RunBusy
from dsr.screenplay.html import CSS as SCREENPLAY_CSS
from dsr.story.findings import STAGES

HERE = Path(__file__).parent
MAX_BODY = 1024 * 1024  # an edit is a scene, not a book


class Room:
    """The runs under one path, their jobs, and the page templates."""

    def __init__(self, root: Path, key: str) -> None:
        self.root, self.key = root, key
        self.jobs = Jobs()
        self._warmed: set[str] = set()
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape()
        )

    def runs(self) -> dict[str, Path]:
        return find_runs(self.root)

    def run_dir(self, request: Request) -> tuple[str, Path]:
        run_id = request.query_params.get("run", "")
        runs = self.runs()
        if run_id not in runs:
            raise KeyError(run_id)
        return run_id, runs[run_id]

    def warm(self, run_id: str, run_dir: Path) -> None:
        """Read the run's checkpoint tree in the background once, so the first scene opened is quick."""
        from dsr.run.history import read_tree

        if run_id not in self._warmed:
            self._warmed.add(run_id)
            threading.Thread(
                target=read_tree, args=(run_dir,), name=f"room-warm-{run_id}", daemon=True
            ).start()

    def page(self, name: str, **values: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(key=self.key, screenplay_css=SCREENPLAY_CSS, **values)
        return HTMLResponse(html)


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadInput(f"the request is {len(raw)} bytes; at most {MAX_BODY}")
    try:
        data = json.loads(raw or b"{}")
    except json.JSONDecodeError as exc:
        raise BadInput(f"the request is not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise BadInput("the request must be a JSON object")
    return data


def review_answer(data: dict[str, Any], point: str) -> Any:
    """A resume value from the room's review form: the values ``dsr resume`` accepts."""
    action = data.get("action")
    if action not in ACTIONS:
        raise BadInput(f"action must be one of {', '.join(ACTIONS)}")
    if action == "approve":
        return {"action": "approve"}
    if action == "edit":
        value = str(data.get("value") or "")
        if not value.strip():
            raise BadInput("an edit needs the edited text")
        if point == "directives":
            from dsr.run.fork import parse_value

            parse_value("directives", value)  # refused here, not by the run it would stop
        return {"action": "edit", "value": value}
    note = str(data.get("note") or "").strip()
    if not note:
        raise BadInput("a rejection needs a note saying what to change")
    answer = {"action": "reject", "note": note}
    if point == "scene":
        stage = data.get("stage") or "novelist"
        if stage not in STAGES:
            raise BadInput(f"stage must be one of {', '.join(STAGES)}")
        answer["stage"] = stage
    return answer


def create_app(
    root: Path,
    *,
    hosts: set[str] | None,
    token: str | None = None,
    key: str | None = None,
    ping: float = 15.0,
) -> Starlette:
    """The room for the run (or runs) at ``root``; ``hosts``: the ``Host`` headers it answers (None: any);
    ``ping``: seconds between keep-alive events on an idle event stream."""
    room = Room(root, key or new_key())

    async def index(request: Request) -> Response:
        runs = room.runs()
        if len(runs) == 1:
            return RedirectResponse(f"/run?run={next(iter(runs))}", 303)
        return room.page("index.html", runs=sorted(runs), root=str(root))

    def run_page(request: Request) -> Response:
        try:
            run_id, run_dir = room.run_dir(request)
        except KeyError:
            return HTMLResponse("no such run here\n", 404)
        view = run_view(run_id, run_dir)
        room.warm(run_id, run_dir)
        job = room.jobs.job(run_id)
        return room.page("run.html", view=view, job=job, after=room.jobs.last_id(run_id), stages=STAGES)

    def scene_page(request: Request) -> Response:
        try:
            run_id, run_dir = room.run_dir(request)
            detail = scene_detail(run_dir, int(request.query_params.get("n", "0")))
        except (KeyError, ValueError):
            return HTMLResponse("no such scene here\n", 404)
        return room.page("scene.html", run_id=run_id, d=detail, busy=room.jobs.busy(run_id))

    def state(request: Request) -> Response:
        try:
            run_id, run_dir = room.run_dir(request)
        except KeyError:
            return _error("no such run here", 404)
        view = run_view(run_id, run_dir)
        job = room.jobs.job(run_id)
        return JSONResponse(
            {
                "finished": view.finished,
                "pending": view.pending,
                "job": {"state": job.state, "what": job.what, "message": job.message} if job else None,
                "scenes": [
                    {"scene": s.number, "status": s.status, "stale": s.stale, "calls": s.calls}
                    for s in view.scenes
                ],
                "edits": view.edits,
            }
        )

    def apply(kind: str, run_id: str, run_dir: Path, data: dict[str, Any]) -> dict[str, Any]:
        """Change the run as asked and start the job that continues it; returns the reply (blocking work)."""
        from dsr.run.fork import fork_scene, parse_value, restore_version
        from dsr.run.runlock import holding
        from dsr.run.runner import run_state

        reply: dict[str, Any] = {}
        answer = None
        with holding(run_dir, "the writers' room"):  # refused at once when something else drives the run
            pass
        if kind == "review":
            _, pending, _ = run_state(run_dir)
            if pending is None:
                raise BadInput("this run is not waiting for a review")
            answer = review_answer(data, pending["point"])
            what = f"{answer['action']} the {pending['point']} of scene {pending['scene']}"
        elif kind == "edit":
            scene, stage = int(data.get("scene", 0)), str(data.get("stage", ""))
            result = fork_scene(
                run_dir, scene, stage, parse_value(stage, str(data.get("text") or "")), by="room"
            )
            if result is None:
                return {"unchanged": True}
            reply = {"edit": result.edit, "diff": result.diff, "stale": result.stale}
            what = f"re-run after edit #{result.edit['id']} (scene {scene} {stage})"
        elif kind == "restore":
            result = restore_version(run_dir, str(data.get("version", "")), by="room")
            reply = {"edit": result.edit, "diff": result.diff, "stale": result.stale}
            what = f"re-run after restoring version {result.edit['restored']}"
        else:
            what = "resume"
        room.jobs.start(run_id, run_dir, what, answer)
        return {**reply, "job": what}

    async def change(request: Request) -> Response:
        """POST /api/{review,edit,restore,resume}: validate, change the run, start the job that continues it."""
        kind = request.path_params["kind"]
        if kind not in ("review", "edit", "restore", "resume"):
            return _error("unknown change", 404)
        try:
            run_id, run_dir = room.run_dir(request)
        except KeyError:
            return _error("no such run here", 404)
        if room.jobs.busy(run_id):
            return _error(f"{run_id} is running; wait until it pauses or finishes", 409)
        try:
            data = await _body(request)
            return JSONResponse(await run_in_threadpool(apply, kind, run_id, run_dir, data))
        except RunBusy as exc:
            return _error(str(exc), 409)
        except (BadInput, ValueError) as exc:
            return _error(str(exc))

    def events(request: Request) -> Response:
        try:
            run_id, _ = room.run_dir(request)
            # A reconnecting EventSource says where it was (Last-Event-ID).
            after = max(
                int(request.query_params.get("after", "0")), int(request.headers.get("last-event-id", "0"))
            )
        except (KeyError, ValueError):
            return _error("no such run here", 404)

        def lines() -> Iterator[str]:
            yield "retry: 2000\n\n"
            for event in stream(room.jobs, run_id, after, poll=ping, stop=lambda: False):
                yield f"id: {event['id']}\ndata: {json.dumps(event)}\n\n"

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(lines(), media_type="text/event-stream", headers=headers)

    routes = [
        Route("/", index),
        Route("/run", run_page),
        Route("/scene", scene_page),
        Route("/events", events),
        Route("/api/state", state),
        Route("/api/{kind}", change, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    # The guard first; pages and scripts gzipped (a 30-scene run's page: 60 KB, 13 KB gzipped); the event
    # stream is left alone (GZipMiddleware excludes text/event-stream, which must not be buffered).
    guard = Middleware(Guard, hosts=hosts, token=token, key=room.key)
    app = Starlette(routes=routes, middleware=[guard, Middleware(GZipMiddleware, minimum_size=1024)])
    app.state.room = room
    return app
