"""What every node needs besides its inputs: the role's model, accounting, artefact files.

``chat_model`` is the single place nodes get models from (routing tests replace it with scripted
models). Endpoint failures become :class:`models.errors.ModelUnavailable`, which stops the run with
its checkpoint intact so ``dsr resume`` continues once the endpoint is back.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel

from common.fsutil import atomic_write, write_json
from models.errors import endpoint_failure
from models.factory import get_chat_model
from models.settings import load_settings
from nodes.records import CallRecord, NodeTiming

T = TypeVar("T")
NodeFn = Callable[[Any, Any], dict[str, Any]]


@cache
def chat_model(role: str) -> BaseChatModel:
    """The configured model for ``role``, built once per process (local weights are shared anyway)."""
    return get_chat_model(role, load_settings())


def guarded(role: str, fn: Callable[[], T]) -> T:
    """Run a model call; endpoint failures become one clear :class:`ModelUnavailable`."""
    try:
        return fn()
    except Exception as exc:
        failure = endpoint_failure(role, load_settings().role(role), exc)
        if failure is not None:
            raise failure from None
        raise


def call_record(
    scene: int, node: str, role: str, *, requests: int, tokens_in: int, tokens_out: int, seconds: float,
    ok: bool = True, note: str = "",
) -> CallRecord:  # fmt: skip
    return CallRecord(
        scene=scene, node=node, role=role, requests=requests, input_tokens=tokens_in, output_tokens=tokens_out,
        seconds=round(seconds, 3), ok=ok, note=note,
    )  # fmt: skip


def scene_no(state: dict[str, Any]) -> int:
    return int(state["x"]["meta"]["scene_no"])


def timed_node(name: str) -> Callable[[NodeFn], NodeFn]:
    """Adds the node's wall time to its state update (report: wall time per node)."""

    def wrap(fn: NodeFn) -> NodeFn:
        @functools.wraps(fn)
        def inner(state: Any, runtime: Any) -> dict[str, Any]:
            started = time.perf_counter()
            update = dict(fn(state, runtime) or {})
            number = scene_no(update if "x" in update else state) if ("x" in update or "x" in state) else 0
            update["timings"] = [NodeTiming(scene=number, node=name, seconds=round(time.perf_counter() - started, 4))]
            return update

        return inner

    return wrap


def write_artefact(run_dir: str | None, number: int, name: str, content: Any) -> None:
    """``RUN_DIR/scenes/NN/<name>`` (text as is, anything else as JSON), atomically; no-op without a run dir.

    Written as each node finishes, so a run can be read and debugged while it is still going.
    """
    if not run_dir:
        return
    path = Path(run_dir) / "scenes" / f"{number:02d}" / name
    if isinstance(content, str):
        atomic_write(path, content)
    else:
        write_json(path, content)
