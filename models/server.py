"""``dsr serve``: an OpenAI-compatible HTTP server in front of a configured local chat model.

One process holds the model and every client (the ``openai`` provider, the synthesis teacher, other
tools) talks to it over ``/v1/chat/completions``. Binds 127.0.0.1 unless told otherwise. Only the
subset of the API that chat clients use is implemented: models list and retrieve, chat completions with
streaming (SSE) and usage, ``n`` choices, stop sequences, sampling parameters,
``response_format`` json_schema / json_object (held to by constrained decoding), tool calls where the
request names the function to call (``tool_choice``; its arguments held to the function's JSON Schema by
the same grammar: what ``with_structured_output(method="function_calling")`` sends), and vLLM's
assistant-prefix continuation (``continue_final_message: true, add_generation_prompt: false``: the answer
continues the final assistant message; split decoding of a Stage 1 model uses it). Anything else a client
may ask for and would silently not get (``logprobs``, the model choosing among tools, ``n`` > 1 while
streaming, audio) is a 400 naming the parameter; a ``model`` other than the served one is 404
``model_not_found``, as OpenAI and vLLM answer; every error, unknown paths included, is OpenAI's JSON shape.

No one client can take the server down: request bodies are size-limited and validated (400 with an
OpenAI-style JSON error, never 500); ``max_tokens`` is capped at what the model's context leaves
(400 above it, as OpenAI and vLLM answer), and vLLM's ``min_tokens`` holds back the end and the stops;
generations run one at a time in arrival order with a bounded wait queue (429 with Retry-After past it); a
generation stops when its client goes away, streaming or not; SIGTERM stops running generations so the
process exits within seconds.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar, runtime_checkable

import anyio
import uvicorn
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage, UsageMetadata
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dsr.models import constrained
from dsr.models.constrained import Grammar
from dsr.models.continuation import CONTINUE
from dsr.models.messages import from_chat_dicts, message_text
from dsr.models.schema_bounds import problem as schema_problem
from dsr.models.settings import RoleConfig

DEFAULT_MAX_QUEUE = 16
MAX_BODY_BYTES = 4 * 1024 * 1024  # a full episode's context is well under 1 MB
RETRY_AFTER_S = 2
SHUTDOWN_GRACE_S = 3  # uvicorn waits this long for open responses after SIGTERM, then cancels them
_ROLES = ("system", "developer", "user", "assistant", "tool")
_MAX_STOPS = 16
_MAX_CHOICES = 8  # choices per request: each is a full generation on the one model
# A client's schema compiles against the model's tokenizer in time about linear in its grammar's size (the
# project's largest, the planner's directives: 7,600 characters); compiles cannot be interrupted, so larger
# grammars are refused (400) rather than started, and a request waits at most COMPILE_WAIT_S for its compile.
MAX_GRAMMAR_CHARS = 16_000
COMPILE_WAIT_S = 120.0
_T = TypeVar("_T")


class RequestError(Exception):
    """A request the server refuses, answered with OpenAI's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        kind: str = "invalid_request_error",
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.kind, self.code = status, message, param, kind, code
        self.headers = headers

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.payload(), status_code=self.status, headers=self.headers)


def _busy() -> RequestError:
    return RequestError(
        429,
        "too many requests are waiting for the model; retry later",
        kind="rate_limit_error",
        code="queue_full",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def _stopping() -> RequestError:
    return RequestError(503, "the server is shutting down", kind="server_error", code="shutting_down")


@runtime_checkable
class ContextAware(Protocol):
    """A model that knows its context length and the prompt's length (LocalChatModel, LlamaCppChatModel)."""

    config: RoleConfig

    def context_tokens(self, messages: list[BaseMessage]) -> tuple[int, int]: ...


@dataclass
class ChatRequest:
    """A validated ``/v1/chat/completions`` body."""

    messages: list[BaseMessage]
    kwargs: dict[str, Any] = field(default_factory=dict)  # model.invoke/stream keyword arguments
    max_tokens: int | None = None  # as asked; capped by the model's context before generation
    stream: bool = False
    include_usage: bool = False
    model: str | None = None  # the model the client named (checked against the served one)
    n: int = 1  # choices to generate
    tool: str | None = None  # the function the answer calls (its arguments decoded under its schema)


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Validate a request body; every way it can be wrong is a :class:`RequestError` (400)."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise RequestError(400, "request body is not valid UTF-8") from None
    except RecursionError:
        raise RequestError(400, "request body is nested too deeply") from None
    except ValueError:  # json.JSONDecodeError and the NaN/Infinity refused by _no_constant
        raise RequestError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError(400, "request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "'messages' must be a non-empty list", param="messages")
    request = ChatRequest(messages=from_chat_dicts([_message(i, m) for i, m in enumerate(messages)]))
    for key, low, high, low_open in (("temperature", 0.0, 2.0, False), ("top_p", 0.0, 1.0, True)):
        if (value := _number(body, key, low, high, low_open)) is not None:
            request.kwargs[key] = value
    if (stop := _stop(body.get("stop"))) is not None:
        request.kwargs["stop"] = stop
    if (grammar := _response_format(body.get("response_format"))) is not None:
        request.kwargs["grammar"] = grammar
    if _continues(body, request.messages):
        request.kwargs[CONTINUE] = True
    limits = {key: _positive_int(body, key) for key in ("max_completion_tokens", "max_tokens")}
    request.max_tokens = limits["max_completion_tokens"] or limits["max_tokens"]
    # vLLM's sampling parameter: no end token, and no stop string, before this many new tokens.
    if (minimum := _positive_int(body, "min_tokens")) is not None:
        if request.max_tokens is not None and minimum > request.max_tokens:
            raise RequestError(400, "'min_tokens' must not exceed 'max_tokens'", param="min_tokens")
        request.kwargs["min_new_tokens"] = minimum
    request.stream = _flag(body, "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise RequestError(400, "'stream_options' must be an object", param="stream_options")
    request.include_usage = _flag(options or {}, "include_usage", "stream_options.include_usage")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(400, "'model' must be a string", param="model")
    request.model = model
    request.n = _positive_int(body, "n") or 1
    if request.n > _MAX_CHOICES:
        raise RequestError(400, f"'n' must be at most {_MAX_CHOICES}", param="n")
    if request.n > 1 and request.stream:
        raise RequestError(400, "'n' > 1 is not supported with 'stream' by this server", param="n")
    _refuse_unsupported(body)
    if (tool := _tool_call(body)) is not None:
        if "grammar" in request.kwargs:
            raise RequestError(
                400, "'response_format' and a forced tool call cannot be combined", param="tools"
            )
        request.tool, request.kwargs["grammar"] = tool
        if request.stream:
            raise RequestError(400, "a forced tool call cannot be streamed by this server", param="stream")
    return request


#: Parameters that change what the answer holds; a server that ignored them would give a client less than it
#: asked for without saying so. Values that ask for nothing (false, 0, null) pass.
_UNSUPPORTED = ("logprobs", "top_logprobs", "audio", "modalities", "prediction", "functions", "function_call")


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for key in _UNSUPPORTED:
        value = body.get(key)
        if value not in (None, False, 0, [], ["text"]):
            raise RequestError(400, f"'{key}' is not supported by this server", param=key)


def _tool_call(body: dict[str, Any]) -> tuple[str, Grammar] | None:
    """``tools`` + ``tool_choice`` naming one function (or ``required`` with one tool): the function's name
    and a grammar for its arguments. ``tool_choice: none`` (or no tools) is a plain answer; letting the model
    choose between answering and calling (``auto``) is refused: a small local model cannot be trusted to."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    if tools is None:
        if choice not in (None, "none"):
            raise RequestError(400, "'tool_choice' needs 'tools'", param="tool_choice")
        return None
    if not isinstance(tools, list) or not tools or not all(_is_function_tool(t) for t in tools):
        raise RequestError(
            400,
            "'tools' must be a non-empty list of {'type': 'function', 'function': {'name': ...}}",
            param="tools",
        )
    if choice == "none":
        return None
    functions = {t["function"]["name"]: t["function"] for t in tools}
    if (
        isinstance(choice, dict)
        and choice.get("type") == "function"
        and isinstance(choice.get("function"), dict)
    ):
        name = choice["function"].get("name")
    elif choice == "required" and len(functions) == 1:
        (name,) = functions
    else:
        raise RequestError(
            400,
            "'tool_choice' must name the function to call ({'type': 'function', 'function': {'name': ...}}), "
            "or be 'required' with one tool, or 'none': this server does not let the model choose",
            param="tool_choice",
        )
    if name not in functions:
        raise RequestError(400, f"'tool_choice' names '{name}', which is not in 'tools'", param="tool_choice")
    schema = functions[name].get("parameters") or {"type": "object", "properties": {}}
    return name, _grammar(schema, "tools")


def _is_function_tool(tool: Any) -> bool:
    return (
        isinstance(tool, dict)
        and tool.get("type") == "function"
        and isinstance(tool.get("function"), dict)
        and isinstance(tool["function"].get("name"), str)
        and isinstance(tool["function"].get("parameters", {}), dict)
    )


def _continues(body: dict[str, Any], messages: list[BaseMessage]) -> bool:
    """vLLM's ``continue_final_message`` / ``add_generation_prompt`` pair, refused as vLLM refuses it when
    both are true or when there is no final assistant message to continue."""
    continues = _flag(body, CONTINUE)
    generation_prompt = body.get("add_generation_prompt", True)
    if not isinstance(generation_prompt, bool):
        raise RequestError(
            400, "'add_generation_prompt' must be true or false", param="add_generation_prompt"
        )
    if not continues:
        return False
    if generation_prompt and "add_generation_prompt" in body:
        raise RequestError(
            400, "'continue_final_message' and 'add_generation_prompt' cannot both be true", param=CONTINUE
        )
    if messages[-1].type != "ai" or not message_text(messages[-1]):
        raise RequestError(
            400,
            "'continue_final_message' needs a final assistant message with the text to continue",
            param=CONTINUE,
        )
    return True


def _response_format(value: Any) -> Grammar | None:
    """OpenAI's ``response_format``: json_schema and json_object become a grammar the model decodes under
    (models.constrained), so a client gets the object OpenAI and vLLM promise."""
    param = "response_format"
    if value is None or (isinstance(value, dict) and value.get("type") == "text"):
        return None
    if not isinstance(value, dict) or value.get("type") not in ("json_object", "json_schema"):
        raise RequestError(400, f"'{param}.type' must be text, json_object or json_schema", param=param)
    spec = value.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if value["type"] == "json_object":
        schema = {"type": "object"}
    elif not isinstance(schema, dict):
        raise RequestError(400, f"'{param}.json_schema.schema' must be a JSON Schema object", param=param)
    return _grammar(schema, param)


def _grammar(schema: dict[str, Any], param: str) -> Grammar:
    """A JSON Schema as the grammar the answer is decoded under; one that cannot be kept is a 400."""
    if not constrained.available():
        raise RequestError(
            400, f"this server cannot honour '{param}' (xgrammar is not installed)", param=param
        )
    if (wrong := schema_problem(schema)) is not None:
        raise RequestError(400, f"'{param}' schema is not usable: {wrong}", param=param)
    try:
        grammar = Grammar.json_schema(schema)  # ValueError: length bounds it cannot keep beside a pattern
        size = constrained.check(grammar)
    except ValueError as exc:
        raise RequestError(400, f"'{param}' schema is not usable: {exc}", param=param) from None
    if size > MAX_GRAMMAR_CHARS:
        raise RequestError(
            400,
            f"'{param}' schema is too large for this server: its grammar has {size} characters, at most "
            f"{MAX_GRAMMAR_CHARS} (fewer properties, shorter enums, fewer length-bounded strings)",
            param=param,
        )
    return grammar


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _message(index: int, item: Any) -> dict[str, str]:
    param = f"messages[{index}]"
    if not isinstance(item, dict):
        raise RequestError(400, f"{param} must be an object with 'role' and 'content'", param=param)
    role = item.get("role")
    if role not in _ROLES:
        raise RequestError(400, f"{param}.role must be one of {', '.join(_ROLES)}", param=f"{param}.role")
    content = item.get("content")
    if content is None and role == "assistant":  # an assistant turn that only called tools
        content = ""
    if isinstance(content, list):
        parts = content
        if not all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in parts
        ):
            raise RequestError(
                400,
                f"{param}.content parts must be {{'type': 'text', 'text': <string>}}",
                param=f"{param}.content",
            )
        content = "".join(p["text"] for p in parts)
    if not isinstance(content, str):
        raise RequestError(
            400, f"{param}.content must be a string or a list of text parts", param=f"{param}.content"
        )
    return {"role": "system" if role == "developer" else role, "content": content}


def _number(body: dict[str, Any], key: str, low: float, high: float, low_open: bool) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestError(400, f"'{key}' must be a number", param=key)
    if value > high or value < low or (low_open and value == low):
        raise RequestError(
            400, f"'{key}' must be {'>' if low_open else '>='} {low:g} and <= {high:g}", param=key
        )
    return float(value)


def _positive_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(400, f"'{key}' must be an integer", param=key)
    if value < 1:
        raise RequestError(400, f"'{key}' must be at least 1", param=key)
    return value


def _stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > _MAX_STOPS
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise RequestError(
            400, f"'stop' must be a string or a list of at most {_MAX_STOPS} strings", param="stop"
        )
    return stops or None


def _flag(body: dict[str, Any], key: str, param: str | None = None) -> bool:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise RequestError(400, f"'{param or key}' must be true or false", param=param or key)
    return bool(value)


def max_new_tokens(model: BaseChatModel, request: ChatRequest) -> int | None:
    """The completion budget: what was asked for (else the role's ``max_new_tokens``), within the context.

    Asking for more than the context leaves is a 400 as in OpenAI and vLLM; the role's default is cut
    silently. Models that cannot count tokens (scripted test models) get what was asked for.
    """
    if not isinstance(model, ContextAware):
        return request.max_tokens
    context, prompt = model.context_tokens(request.messages)
    room = context - prompt
    if room < 1 or (request.max_tokens is not None and request.max_tokens > room):
        asked = request.max_tokens or 1
        raise RequestError(
            400,
            f"This model's maximum context length is {context} tokens. However, you requested {prompt + asked} "
            f"tokens ({prompt} in the messages, {asked} in the completion). "
            "Please reduce the length of the messages or completion.",
            param="messages" if room < 1 else "max_tokens",
            code="context_length_exceeded",
        )
    return min(request.max_tokens or model.config.max_new_tokens, room)


class GenerationQueue:
    """One generation at a time, in arrival order, with at most ``max_waiting`` requests waiting.

    Hand-written around anyio's semaphore (FIFO, hands the slot to the longest waiter): uvicorn's
    ``limit_concurrency`` refuses every request with 503, health checks included, and neither queues
    nor says when to retry.
    """

    def __init__(self, max_waiting: int = DEFAULT_MAX_QUEUE) -> None:
        self.max_waiting = max_waiting
        self.closing = False
        self._slot = anyio.Semaphore(1, max_value=1)
        self._running: set[threading.Event] = set()

    def stats(self) -> dict[str, int]:
        return {"running": len(self._running), "waiting": self._slot.statistics().tasks_waiting}

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[threading.Event]:
        """Wait for this request's turn; yields the event that stops its generation when set."""
        if self.closing:
            raise _stopping()
        if self._slot.value == 0 and self._slot.statistics().tasks_waiting >= self.max_waiting:
            raise _busy()
        async with self._slot:
            if self.closing:
                raise _stopping()
            cancel = threading.Event()
            self._running.add(cancel)
            try:
                yield cancel
            finally:
                self._running.discard(cancel)

    def close(self) -> None:
        """Refuse new work and stop the running generation (server shutdown)."""
        self.closing = True
        for cancel in self._running:
            cancel.set()


def _compiling() -> RequestError:
    return RequestError(
        503,
        "the server is busy compiling another schema; retry later",
        kind="server_error",
        code="compiling",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


class GrammarCompiles:
    """Grammars compiled before their request's generation turn, one at a time (a compile uses every core),
    each waited for at most ``wait_s``: a client's slow schema never holds the model, nor the requests
    behind it; a compile nobody waits for any more is not started."""

    def __init__(self, wait_s: float = COMPILE_WAIT_S) -> None:
        self.wait_s = wait_s
        self._slot = threading.Semaphore(1)

    async def prepare(self, model: BaseChatModel, grammar: Grammar | None, param: str) -> None:
        prepare = getattr(model, "prepare_grammar", None)
        if grammar is None or prepare is None:
            return
        gone, compiling = threading.Event(), threading.Event()

        def work() -> None:
            if not self._slot.acquire(timeout=self.wait_s):
                raise _compiling()
            try:
                if not gone.is_set():
                    compiling.set()
                    prepare(grammar)
            finally:
                self._slot.release()

        try:
            with anyio.fail_after(self.wait_s):
                await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except TimeoutError:
            gone.set()
            if compiling.is_set():
                raise RequestError(
                    400,
                    f"'{param}' schema did not compile within {self.wait_s:g} s; simplify it",
                    param=param,
                    code="schema_too_complex",
                ) from None
            raise _compiling() from None
        finally:
            gone.set()  # cancelled (the client left): a compile not yet started never starts


def _first_error(group: ExceptionGroup[RequestError]) -> RequestError:
    """The first refusal in what ``except*`` caught (a task group inside the body nests its group)."""
    first = group.exceptions[0]
    return first if isinstance(first, RequestError) else _first_error(first)


async def _in_thread(cancel: threading.Event, call: Callable[[], _T]) -> _T:
    """Run a blocking model call in a worker thread; when this task is cancelled (client gone, shutdown),
    set ``cancel`` so the generation stops at its next token instead of running to its end."""
    try:
        return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        cancel.set()
        raise


@asynccontextmanager
async def _cancelled_on_disconnect(request: Request) -> AsyncIterator[None]:
    """Cancel the block when the client disconnects; starlette watches for that only while streaming.

    The body has been read, so the next ASGI message is ``http.disconnect``.
    """
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch)
        yield
        group.cancel_scope.cancel()


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused past ``limit`` bytes: starlette reads bodies of any size."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body is larger than {limit} bytes", code="body_too_large")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise RequestError(413, f"request body is larger than {limit} bytes", code="body_too_large")
    return bytes(body)


class _HeldStream(StreamingResponse):
    """A streaming response that gives the generation turn back when it ends, however it ends."""

    def __init__(self, content: AsyncIterator[str], turn: AsyncExitStack) -> None:
        super().__init__(content, media_type="text/event-stream")
        self._turn = turn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with self._turn:
            await super().__call__(scope, receive, send)


def _usage(meta: UsageMetadata | None) -> dict[str, int]:
    if meta is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return {
        "prompt_tokens": meta.get("input_tokens", 0),
        "completion_tokens": meta.get("output_tokens", 0),
        "total_tokens": meta.get("total_tokens", 0),
    }


def _finish_reason(usage: dict[str, int], budget: int | None) -> str:
    return "length" if budget is not None and usage["completion_tokens"] >= budget else "stop"


def create_app(
    model: BaseChatModel, model_name: str, *, delay_s: float = 0.0, max_queue: int = DEFAULT_MAX_QUEUE
) -> Starlette:
    """Build the ASGI app; its generation queue is ``app.state.queue``.

    ``delay_s`` adds a fixed latency per request before it queues (benchmarks: it stands for network
    latency, so concurrent clients overlap it).
    """
    queue = GenerationQueue(max_queue)
    compiles = GrammarCompiles()

    started = int(time.time())
    model_object = {"id": model_name, "object": "model", "created": started, "owned_by": "dsr"}

    def models_list(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [model_object]})

    def model_retrieve(request: Request) -> JSONResponse:
        if request.path_params["model"] != model_name:
            return _no_such_model(request.path_params["model"]).response()
        return JSONResponse(model_object)

    def health(request: Request) -> JSONResponse:
        grammars = constrained.cache_stats() if constrained.available() else {}
        return JSONResponse(
            {"ok": not queue.closing, "model": model_name, "queue": queue.stats(), "grammars": grammars}
        )

    async def chat(request: Request) -> Response:
        try:
            # In a worker thread: building a client's grammar to check it takes a moment.
            req = await anyio.to_thread.run_sync(
                parse_chat_request, await _read_body(request, MAX_BODY_BYTES)
            )
            if req.model is not None and req.model != model_name:
                raise _no_such_model(req.model)
            budget = await anyio.to_thread.run_sync(max_new_tokens, model, req)
        except RequestError as exc:
            return exc.response()
        if budget is not None:
            req.kwargs["max_new_tokens"] = budget
        if delay_s:
            await anyio.sleep(delay_s)
        created, rid = int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}"
        cancel: threading.Event | None = None
        refused: RequestError | None = None
        async with AsyncExitStack() as turn:
            try:
                async with _cancelled_on_disconnect(request):
                    param = "tools" if req.tool else "response_format"
                    await compiles.prepare(model, req.kwargs.get("grammar"), param)
                    cancel = await turn.enter_async_context(queue.turn())
                    if not req.stream:
                        call = partial(model.invoke, req.messages, cancel=cancel, **req.kwargs)
                        replies = [await _in_thread(cancel, call) for _ in range(req.n)]
            except* RequestError as group:  # the task group wraps what its body raises
                refused = _first_error(group)
            if refused is not None:
                return refused.response()
            if cancel is None or cancel.is_set():
                # The client went away (no one reads this), or shutdown stopped the generation.
                return _stopping().response()
            if req.stream:
                events = _sse(model, req, cancel, rid, created, model_name, budget, lambda: queue.closing)
                return _HeldStream(events, turn.pop_all())
        usages = [_usage(reply.usage_metadata) for reply in replies]
        choices = [
            _choice(
                i,
                reply,
                req.tool,
                rid,
                reply.response_metadata.get("finish_reason") or _finish_reason(u, budget),
            )
            for i, (reply, u) in enumerate(zip(replies, usages, strict=True))
        ]
        usage = {
            "prompt_tokens": usages[0]["prompt_tokens"],
            "completion_tokens": sum(u["completion_tokens"] for u in usages),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return JSONResponse(
            {
                "id": rid,
                "object": "chat.completion",
                "created": created,
                "model": model_name,
                "choices": choices,
                "usage": usage,
            }
        )

    routes = [
        Route("/health", health),
        Route("/v1/models", models_list),
        Route("/v1/models/{model:path}", model_retrieve),
        Route("/v1/chat/completions", chat, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error, Exception: _server_error})
    app.state.queue = queue
    return app


def _choice(index: int, reply: BaseMessage, tool: str | None, rid: str, finish: str) -> dict[str, Any]:
    """One choice of a completion; with a forced tool call its text is the call's arguments."""
    if tool is None:
        return {
            "index": index,
            "message": {"role": "assistant", "content": message_text(reply)},
            "finish_reason": finish,
        }
    call = {
        "id": f"call_{rid[-12:]}{index}",
        "type": "function",
        "function": {"name": tool, "arguments": message_text(reply)},
    }
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return {"index": index, "message": message, "finish_reason": "tool_calls" if finish == "stop" else finish}


def _no_such_model(name: str) -> RequestError:
    return RequestError(404, f"The model '{name}' does not exist", param="model", code="model_not_found")


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (unknown path, wrong method) in OpenAI's JSON error shape."""
    assert isinstance(exc, HTTPException)
    kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return RequestError(exc.status_code, message, kind=kind, headers=exc.headers).response()


async def _server_error(request: Request, exc: Exception) -> Response:
    """A bug is still a JSON answer a client can read; the traceback goes to the server's log, not the client."""
    return RequestError(500, "the server failed to answer this request", kind="server_error").response()


async def _chunks(
    model: BaseChatModel, req: ChatRequest, cancel: threading.Event
) -> AsyncIterator[AIMessageChunk]:
    """``model.stream`` read from a worker thread, one chunk per hop, stoppable through ``cancel``."""
    stream = model.stream(req.messages, cancel=cancel, **req.kwargs)
    while (chunk := await _in_thread(cancel, partial(next, stream, None))) is not None:
        yield chunk


async def _sse(
    model: BaseChatModel,
    req: ChatRequest,
    cancel: threading.Event,
    rid: str,
    created: int,
    model_name: str,
    budget: int | None,
    closing: Callable[[], bool],
) -> AsyncIterator[str]:
    """Server-sent events in the OpenAI chunk format."""

    def event(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> str:
        payload: dict[str, Any] = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model_name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else [],
        }
        if usage is not None:
            payload["usage"] = usage
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    usage = _usage(None)
    async for chunk in _chunks(model, req, cancel):
        if chunk.usage_metadata:
            usage = _usage(chunk.usage_metadata)
        if text := message_text(chunk):
            yield event({"content": text})
    if cancel.is_set() and closing():
        yield f"data: {json.dumps(_stopping().payload())}\n\n"
        return
    yield event({}, finish=_finish_reason(usage, budget))
    if req.include_usage:
        yield event({}, usage=usage)
    yield "data: [DONE]\n\n"


def serve(
    model: BaseChatModel,
    model_name: str,
    host: str,
    port: int,
    *,
    delay_s: float = 0.0,
    max_queue: int = DEFAULT_MAX_QUEUE,
) -> None:
    """Run the app under uvicorn until SIGINT/SIGTERM."""
    app = create_app(model, model_name, delay_s=delay_s, max_queue=max_queue)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_GRACE_S
    )
    _StoppingServer(config, app.state.queue).run()


class _StoppingServer(uvicorn.Server):
    """uvicorn's graceful shutdown waits for open responses: stopping the generations first makes SIGTERM
    take seconds, not the rest of a long generation."""

    def __init__(self, config: uvicorn.Config, queue: GenerationQueue) -> None:
        super().__init__(config)
        self._queue = queue

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._queue.close()
        await super().shutdown(sockets)
