"""What every node needs besides its inputs: the role's model, accounting, artefact files.

``chat_model`` is the single place nodes get models from: built from the run's context (the role
configurations recorded when the run started, or the context's ``model_factory`` in tests), cached by
configuration so two runs (or systems) with different settings never share a model by role name.
Endpoint failures become :class:`dsr.models.errors.ModelUnavailable`, which stops the run with its
checkpoint intact so ``dsr resume`` continues once the endpoint is back.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables.config import ensure_config, set_config_context
from pydantic import BaseModel

from dsr.common.fsutil import atomic_write, write_json
from dsr.contract.context import RunContext
from dsr.contract.records import CallRecord, NodeTiming
from dsr.models.errors import endpoint_failure
from dsr.models.factory import build_chat_model
from dsr.story.schemas import CreativeDirectives, TaskInput

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
NodeFn = Callable[[Any, Any], dict[str, Any]]

# Dumps in state -> their validated models, by identity: the nodes of one scene pass read the same X and
# directives objects from the graph's channels, so each is validated once (a resumed run validates again).
# The dump is held with its model, so an id is never reused while cached.
_VALIDATED: dict[int, tuple[Any, BaseModel]] = {}
_VALIDATED_MAX = 64


def validated(dump: Any, schema: type[M]) -> M:
    """``schema.model_validate(dump)``, once per dump object; callers must not mutate the result."""
    hit = _VALIDATED.get(id(dump))
    if hit is not None and hit[0] is dump and isinstance(hit[1], schema):
        return hit[1]
    return remember(dump, schema.model_validate(dump))


def remember(dump: Any, model: M) -> M:
    """Record ``model`` as the validated form of ``dump`` (a node that built the model dumps it into state)."""
    if len(_VALIDATED) >= _VALIDATED_MAX:
        _VALIDATED.pop(next(iter(_VALIDATED)))
    _VALIDATED[id(dump)] = (dump, model)
    return model


def task_input(state: Any) -> TaskInput:
    """The scene's X (read-only)."""
    return validated(state["x"], TaskInput)


def directives_of(state: Any) -> CreativeDirectives | None:
    """The scene's creative directives, or None (no planner, or it failed)."""
    dump = state.get("directives")
    return validated(dump, CreativeDirectives) if dump else None


_MODELS: dict[tuple[str, str], BaseChatModel] = {}
_MODELS_LOCK = threading.Lock()


def chat_model(context: RunContext, role: str) -> BaseChatModel:
    """The run's model for ``role``, built once per configuration (local weights are shared anyway)."""
    cfg = context.role_config(role)
    if context.model_factory is not None:
        return context.model_factory(role, cfg)
    key = (role, cfg.model_dump_json())
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = build_chat_model(role, cfg)
        return _MODELS[key]


def call_role(
    context: RunContext,
    role: str,
    scene: int,
    fn: Callable[[BaseChatModel], T],
    *,
    tags: dict[str, Any] | None = None,
) -> T:
    """Call ``fn`` with the run's model for ``role``, its model calls tagged with role and scene in the run
    config's metadata (how :class:`dsr.contract.call_log.CallLog` counts them; ``tags``: more ``dsr_*`` metadata,
    e.g. the half of a split Stage 1 answer); endpoint failures become one clear :class:`ModelUnavailable`."""
    config = ensure_config()
    config["metadata"] = {**config.get("metadata", {}), "dsr_role": role, "dsr_scene": scene, **(tags or {})}
    try:
        with set_config_context(config) as scoped:
            return scoped.run(fn, chat_model(context, role))
    except Exception as exc:
        failure = endpoint_failure(role, context.role_config(role), exc)
        if failure is not None:
            raise failure from None
        raise


def call_record(
    scene: int, node: str, role: str, *, requests: int, seconds: float, ok: bool = True, note: str = ""
) -> CallRecord:
    return CallRecord(
        scene=scene, node=node, role=role, requests=requests, seconds=round(seconds, 3), ok=ok, note=note
    )


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
            update["timings"] = [
                NodeTiming(scene=number, node=name, seconds=round(time.perf_counter() - started, 4))
            ]
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
