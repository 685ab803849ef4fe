"""What one run uses besides its settings: the chat models built for its roles, the story memory it opened,
and the validated forms of the dumps its nodes read from state.

The run driver (run/runner.py ``drive``) makes one :class:`RunResources` per run and closes it when the run
stops; nodes reach it through the run's context (``runtime.context.resources``, LangGraph ``context_schema``).
Nothing here is recorded in run.json, and nothing outlives the run: two runs in one process (a season's
episodes, the writers' room's jobs, the items of an evaluation) never share a model object, a memory handle or
a cache entry by accident. A graph invoked without the driver (LangGraph Studio, a test's ``graph.invoke``) gets
resources of its own context object the first time a node asks (:func:`resources_of`).

What stays process-wide is below this layer and is a pure function of its key: loaded weights by path, adapter
and device (models/weights.py), a llama.cpp model by GGUF file (models/llamacpp.py), compiled grammars by
tokenizer and grammar text (models/constrained.py, bounded), the sentence embedder by model directory and its
query vectors by text (memory/embedding.py, bounded).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from dsr.contract.context import RunContext
    from dsr.memory.store import StoryMemory
    from dsr.models.settings import RoleConfig

M = TypeVar("M", bound=BaseModel)

#: Validated dumps kept per run: a scene pass reads a handful (its X, each directives version).
VALIDATED_MAX = 64


class RunResources:
    """One run's models (one per role configuration), story memory (one per location) and validated dumps.

    Thread-safe: a run's nodes run one after another, but LangGraph may run them on different threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str], BaseChatModel] = {}
        self._memories: dict[str, StoryMemory] = {}
        self._validated: dict[int, tuple[Any, BaseModel]] = {}

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Opaque to pydantic: the context's JSON schema (Studio's options) leaves the field out anyway."""
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(cls)

    def __deepcopy__(self, memo: dict[int, Any]) -> RunResources:
        """A copied context (``copy.deepcopy``, ``dataclasses.asdict``) still uses the run's resources."""
        return self

    def model(self, role: str, config: RoleConfig) -> BaseChatModel:
        """The run's model for ``role`` under ``config``, built on first use (local weights are shared by the
        process's weights cache, so a second run's model costs no load)."""
        from dsr.models.factory import build_chat_model

        key = (role, config.model_dump_json())
        with self._lock:
            if key not in self._models:
                self._models[key] = build_chat_model(role, config)
            return self._models[key]

    def memory(self, location: str) -> StoryMemory:
        """The run's story memory at ``location`` (a directory or a Chroma server URL), opened on first use.

        One per run: its character-version and typed-fact indexes are its own, read when it opens and kept
        up to date by the run's own writes (re-read when the store's size changes under it)."""
        from dsr.memory.store import StoryMemory

        with self._lock:
            if location not in self._memories:
                self._memories[location] = StoryMemory(location)
            return self._memories[location]

    def validated(self, dump: Any, schema: type[M]) -> M:
        """``schema.model_validate(dump)``, once per dump object: the nodes of one scene pass read the same X
        and directives objects from the graph's channels (a resumed run validates again). The dump is held with
        its model, so its id is never reused while cached. Callers must not mutate the result."""
        hit = self._validated.get(id(dump))
        if hit is not None and hit[0] is dump and isinstance(hit[1], schema):
            return hit[1]
        return self.remember(dump, schema.model_validate(dump))

    def remember(self, dump: Any, model: M) -> M:
        """Record ``model`` as the validated form of ``dump`` (a node that built the model dumps it into state)."""
        with self._lock:
            if len(self._validated) >= VALIDATED_MAX:
                self._validated.pop(next(iter(self._validated)))
            self._validated[id(dump)] = (dump, model)
        return model

    def close(self) -> None:
        """Release the memory handles (Chroma's sqlite files); models hold nothing the process cache does not."""
        with self._lock:
            memories, self._memories = list(self._memories.values()), {}
            self._models.clear()
            self._validated.clear()
        for memory in memories:
            memory.close()


def resources_of(context: RunContext) -> RunResources:
    """The run's resources; a context the driver did not give any (Studio, a test's ``graph.invoke``) gets its
    own on first use, kept on that context object for the rest of its run."""
    if context.resources is None:
        context.resources = RunResources()
    return context.resources
