"""What every node needs besides its inputs: the role's model, accounting, artefact files.

``chat_model`` is the single place nodes get models from, and ``story_memory`` the single place they get the
story memory from: both through the run's context, from the run's resources (contract/resources.py: built
once per run and role configuration, opened once per run), or the context's ``model_factory`` (scripted models
in tests, a caller's own). Two runs (or systems) with different settings never share a model by role name.
Endpoint failures become :class:`dsr.models.errors.ModelUnavailable`, which stops the run with its
checkpoint intact so ``dsr resume`` continues once the endpoint is back.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables.config import ensure_config, set_config_context
from langgraph.runtime import Runtime
from pydantic import BaseModel

from dsr.common.fsutil import atomic_write, write_json
from dsr.contract.context import RunContext
from dsr.contract.records import CallRecord, NodeTiming
from dsr.contract.resources import resources_of
from dsr.contract.state import SceneState
from dsr.memory.store import StoryMemory
from dsr.models.errors import endpoint_failure
from dsr.story.schemas import CreativeDirectives, TaskInput

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
StateT = TypeVar("StateT", bound=SceneState)
StateT_contra = TypeVar("StateT_contra", bound=SceneState, contravariant=True)


class GraphNode(Protocol[StateT_contra]):
    """A node as LangGraph calls it: the state, and the run's context as ``runtime`` (by that name)."""

    def __call__(self, state: StateT_contra, runtime: Runtime[RunContext]) -> dict[str, Any]: ...


def remember(context: RunContext, dump: Any, model: M) -> M:
    """Record ``model`` as the validated form of ``dump`` for the rest of the run (a node that built the model
    dumps it into state; later nodes read it back with :func:`task_input` / :func:`directives_of`)."""
    return resources_of(context).remember(dump, model)


def task_input(state: Any, context: RunContext) -> TaskInput:
    """The scene's X (read-only), validated once per scene pass (the run's resources keep it)."""
    return resources_of(context).validated(state["x"], TaskInput)


def directives_of(state: Any, context: RunContext) -> CreativeDirectives | None:
    """The scene's creative directives, or None (no planner, or it failed)."""
    dump = state.get("directives")
    return resources_of(context).validated(dump, CreativeDirectives) if dump else None


def chat_model(context: RunContext, role: str) -> BaseChatModel:
    """The run's model for ``role``: the context's ``model_factory``'s, else built once per run and
    configuration by the run's resources (local weights are shared by the process's weights cache)."""
    cfg = context.role_config(role)
    if context.model_factory is not None:
        return context.model_factory(role, cfg)
    return resources_of(context).model(role, cfg)


def story_memory(context: RunContext) -> StoryMemory:
    """The run's story memory (``context.memory_dir``, which the caller has checked is set), opened once per run."""
    if not context.memory_dir:
        raise ValueError("this run has no story memory (context.memory_dir is not set)")
    return resources_of(context).memory(context.memory_dir)


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


def scene_no(state: Mapping[str, Any]) -> int:
    """The number of the scene ``state`` (graph state, or a node's update that sets ``x``) is writing."""
    return int(state["x"]["meta"]["scene_no"])


def timed_node(name: str) -> Callable[[GraphNode[StateT]], GraphNode[StateT]]:
    """Adds the node's wall time to its state update (report: wall time per node)."""

    def wrap(fn: GraphNode[StateT]) -> GraphNode[StateT]:
        @functools.wraps(fn)
        def inner(state: StateT, runtime: Runtime[RunContext]) -> dict[str, Any]:
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
