"""One long-lived event loop for every synthesis run in a process.

Async HTTP clients are cached per process by the OpenAI integration and stay bound to the loop that
first used them; a second ``asyncio.run`` (a benchmark's second run, a test suite) would find that loop
closed. Running every run on the same background loop keeps those clients valid. The coroutine runs
in a copy of the caller's context, so what the caller set (a :func:`dsr.models.structured.counting` block)
reaches its tasks as it would under ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on the shared loop and return its result (exceptions propagate)."""
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="synthesis-loop", daemon=True).start()
    context = contextvars.copy_context()

    async def in_context() -> T:
        return await asyncio.create_task(coro, context=context)

    return asyncio.run_coroutine_threadsafe(in_context(), _loop).result()
