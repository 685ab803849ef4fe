"""``dsr serve``: an OpenAI-compatible HTTP server in front of a configured local chat model.

One process holds the model and every client (the ``openai`` provider, the synthesis teacher, other
tools) talks to it over ``/v1/chat/completions``. Binds 127.0.0.1 unless told otherwise. Only the
subset of the API that chat clients use is implemented: models list, chat completions with
streaming (SSE) and usage, stop sequences, sampling parameters.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from models.messages import from_chat_dicts, message_text


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)


def _invoke_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if body.get("temperature") is not None:
        kwargs["temperature"] = float(body["temperature"])
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        kwargs["max_new_tokens"] = int(limit)
    stop = body.get("stop")
    if stop:
        kwargs["stop"] = [stop] if isinstance(stop, str) else list(stop)
    return kwargs


def create_app(model: BaseChatModel, model_name: str, *, delay_s: float = 0.0) -> Starlette:
    """Build the ASGI app. ``delay_s`` adds a fixed latency per request (used by benchmarks)."""

    def models_list(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "dsr"}]})

    def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "model": model_name})

    async def chat(request: Request) -> Any:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "request body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(400, "'messages' must be a non-empty list")
        try:
            kwargs = _invoke_kwargs(body)
        except (TypeError, ValueError) as exc:
            return _error(400, f"bad sampling parameter: {exc}")
        messages = from_chat_dicts(body["messages"])
        created, rid = int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _sse(model, messages, kwargs, rid, created, model_name, include_usage, delay_s),
                media_type="text/event-stream",
            )
        from starlette.concurrency import run_in_threadpool

        if delay_s:
            import anyio

            await anyio.sleep(delay_s)
        reply = await run_in_threadpool(model.invoke, messages, **kwargs)
        usage = reply.usage_metadata or {}
        return JSONResponse(
            {
                "id": rid,
                "object": "chat.completion",
                "created": created,
                "model": model_name,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": message_text(reply)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": usage.get("input_tokens", 0),
                    "completion_tokens": usage.get("output_tokens", 0),
                    "total_tokens": usage.get("total_tokens", 0),
                },
            }
        )

    routes = [
        Route("/health", health),
        Route("/v1/models", models_list),
        Route("/v1/chat/completions", chat, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _sse(
    model: BaseChatModel,
    messages: list[Any],
    kwargs: dict[str, Any],
    rid: str,
    created: int,
    model_name: str,
    include_usage: bool,
    delay_s: float,
) -> Iterator[str]:
    """Server-sent events in the OpenAI chunk format (a sync generator: starlette runs it in a thread)."""

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

    if delay_s:
        time.sleep(delay_s)
    yield event({"role": "assistant", "content": ""})
    usage: dict[str, int] = {}
    for chunk in model.stream(messages, **kwargs):
        if chunk.usage_metadata:
            meta = chunk.usage_metadata
            usage = {
                "prompt_tokens": meta.get("input_tokens", 0),
                "completion_tokens": meta.get("output_tokens", 0),
                "total_tokens": meta.get("total_tokens", 0),
            }
        text = message_text(chunk)
        if text:
            yield event({"content": text})
    yield event({}, finish="stop")
    if include_usage:
        yield event({}, usage=usage)
    yield "data: [DONE]\n\n"


def serve(model: BaseChatModel, model_name: str, host: str, port: int, *, delay_s: float = 0.0) -> None:
    import uvicorn

    uvicorn.run(create_app(model, model_name, delay_s=delay_s), host=host, port=port, log_level="warning")
