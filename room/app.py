"""The writers' room web app (Starlette + Jinja): read a run, answer its reviews, edit and re-run.

Pages: ``/`` (the runs), ``/run?run=ID`` (the episode as a screenplay page with each scene's status, the
pending review, live progress), ``/scene?run=ID&n=N`` (a scene's details, loaded on demand). Changes are JSON
POSTs under ``/api/`` that start a background job (room/jobs.py); ``/events?run=ID`` streams its progress as
server-sent events. Everything the page runs is in room/static (no CDN); guard.py says who may connect.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import AsyncIterator
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
from starlette.types import Receive, Scope, Send

from dsr.common.errors import BadInput
from dsr.contract.context import ModelFactory
from dsr.nodes.review import ACTIONS
from dsr.room.guard import Guard, new_key
from dsr.room.jobs import Jobs, stream
from dsr.room.view import find_runs, run_view, scene_detail
from dsr.run.history import TreeCache
from dsr.run.runlock import RunBusy
from dsr.screenplay.html import CSS as SCREENPLAY_CSS
from dsr.story.findings import STAGES

HERE = Path(__file__).parent
MAX_BODY = 1024 * 1024  # an edit is a scene, not a book
MAX_STREAMS = 100  # open event streams per room (each a tab following a run); more are refused with a 503
MAX_SCENE = 10_000
# The fields each change takes: (type, required). A null optional field counts as absent.
FIELDS: dict[str, dict[str, tuple[type, bool]]] = {
    "review": {"action": (str, True), "value": (str, False), "note": (str, False), "stage": (str, False)},
    "edit": {"scene": (int, True), "stage": (str, True), "text": (str, True)},
    "restore": {"version": (str, True)},
    "resume": {},
}


class TooLarge(BadInput):
    """A request body past :data:`MAX_BODY` (413)."""


class Room:
    """The runs under one path, their jobs, and the page templates."""

    def __init__(self, root: Path, key: str, model_factory: ModelFactory | None = None) -> None:
        self.root, self.key = root, key
        self.jobs = Jobs(model_factory)
        self.trees = TreeCache()  # the checkpoints of the runs here read so far: a refresh reads the new ones
        self._warmed: set[str] = set()
        self.streams = 0  # event streams open now (all on the server's event loop)
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
                target=read_tree, args=(run_dir, self.trees), name=f"room-warm-{run_id}", daemon=True
            ).start()

    def page(self, name: str, **values: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(key=self.key, screenplay_css=SCREENPLAY_CSS, **values)
        return HTMLResponse(html)


class _CountedStream(StreamingResponse):
    """An event stream counted in ``room.streams`` while it is open, however it ends."""

    def __init__(self, room: Room, content: AsyncIterator[str]) -> None:
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self.room = room
        room.streams += 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.room.streams -= 1


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status)


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object a change carries, read no further than :data:`MAX_BODY` (its declared length is checked
    first); every way it can be wrong is a BadInput (a 400, :class:`TooLarge` a 413), never a 500."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge(f"the request is {declared} bytes; at most {MAX_BODY}")
    raw = bytearray()
    async for part in request.stream():
        raw += part
        if len(raw) > MAX_BODY:
            raise TooLarge(f"the request is over {MAX_BODY} bytes; at most {MAX_BODY}")
    try:
        data = json.loads(bytes(raw or b"{}"), parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        raise BadInput("the request is nested too deeply") from None
    except UnicodeDecodeError:
        raise BadInput("the request is not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"the request is not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise BadInput("the request must be a JSON object")
    return data


def _not_json(name: str) -> Any:
    raise BadInput(f"the request is not JSON ({name} is not a JSON value)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadInput(f"the request holds {text}: numbers must be finite")
    return value


def checked(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` if it has the shape a ``kind`` change takes (its fields, their types, a scene number in range);
    BadInput naming the first field that does not. Null optional fields are dropped."""
    fields = FIELDS[kind]
    for name in data:
        if name not in fields:
            takes = ", ".join(fields) or "no fields"
            raise BadInput(f"unknown field '{name}' in a {kind} request; it takes {takes}")
    out = {k: v for k, v in data.items() if v is not None or fields[k][1]}
    for name, (kind_of, required) in fields.items():
        if name not in out:
            if required:
                raise BadInput(f"a {kind} request needs '{name}'")
            continue
        value = out[name]
        if name == "action":
            if value not in ACTIONS:  # the message the review form has always given
                raise BadInput(f"action must be one of {', '.join(ACTIONS)}")
        elif kind_of is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise BadInput(f"'{name}' must be an integer")
            if not 1 <= value <= MAX_SCENE:
                raise BadInput(f"'{name}' must be between 1 and {MAX_SCENE}")
        elif not isinstance(value, kind_of):
            raise BadInput(f"'{name}' must be a string")
    return out


def review_answer(data: dict[str, Any], point: str) -> Any:
    """A resume value from the room's review form: the values ``dsr resume`` accepts."""
    action = data.get("action")
    if action not in ACTIONS:
        raise BadInput(f"action must be one of {', '.join(ACTIONS)}")
    if action == "approve":
        return {"action": "approve"}
    if action == "edit":
        value = data.get("value") or ""
        if not value.strip():
            raise BadInput("an edit needs the edited text")
        if point == "directives":
            from dsr.run.fork import parse_value

            parse_value("directives", value)  # refused here, not by the run it would stop
        return {"action": "edit", "value": value}
    note = (data.get("note") or "").strip()
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
    model_factory: ModelFactory | None = None,
) -> Starlette:
    """The room for the run (or runs) at ``root``; ``hosts``: the ``Host`` headers it answers (None: any);
    ``ping``: seconds between keep-alive events on an idle event stream; ``model_factory``: builds the models
    of the runs it continues instead of their configured providers (tests script them so)."""
    room = Room(root, key or new_key(), model_factory)

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
            detail = scene_detail(run_dir, int(request.query_params.get("n", "0")), room.trees)
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
            scene, stage = data["scene"], data["stage"]
            value = parse_value(stage, data["text"])
            result = fork_scene(run_dir, scene, stage, value, by="room", trees=room.trees)
            if result is None:
                return {"unchanged": True}
            reply = {"edit": result.edit, "diff": result.diff, "stale": result.stale}
            what = f"re-run after edit #{result.edit['id']} (scene {scene} {stage})"
        elif kind == "restore":
            result = restore_version(run_dir, data["version"], by="room", trees=room.trees)
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
            data = checked(kind, await _body(request))
            return JSONResponse(await run_in_threadpool(apply, kind, run_id, run_dir, data))
        except RunBusy as exc:
            return _error(str(exc), 409)
        except TooLarge as exc:
            return _error(str(exc), 413)
        except (BadInput, ValueError) as exc:
            return _error(str(exc))
        except RecursionError:  # text (directives) nested past what the JSON reader follows
            return _error("the text is nested too deeply")

    async def events(request: Request) -> Response:
        """The run's progress as server-sent events, on the event loop (no worker thread per open stream)."""
        try:
            run_id, _ = room.run_dir(request)
            # A reconnecting EventSource says where it was (Last-Event-ID).
            after = max(
                int(request.query_params.get("after", "0")), int(request.headers.get("last-event-id", "0"))
            )
        except (KeyError, ValueError):
            return _error("no such run here", 404)
        if room.streams >= MAX_STREAMS:
            message = f"this writers' room has {MAX_STREAMS} event streams open; close some of its tabs\n"
            return Response(message, 503, headers={"Retry-After": "10"}, media_type="text/plain")

        async def lines() -> AsyncIterator[str]:
            yield "retry: 2000\n\n"
            async for event in stream(room.jobs, run_id, after, poll=ping):
                yield f"id: {event['id']}\ndata: {json.dumps(event)}\n\n"

        return _CountedStream(room, lines())

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
