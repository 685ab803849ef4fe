"""Chroma-backed story memory: character profile versions, scene summaries and continuity facts.

Offline by default: the hub and telemetry switches are set here, before chromadb or
sentence-transformers can be imported by any submodule (``setdefault``, so a user can still opt in).
"""

from __future__ import annotations

import os
import threading

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from dsr.memory.context import approx_tokens, build_previous_context, embed_scene_queries, profiles_for  # noqa: E402
from dsr.memory.records import CharacterRecord, Fact, SceneRecord  # noqa: E402
from dsr.memory.store import StoryMemory  # noqa: E402

_OPEN: dict[tuple[str, int], StoryMemory] = {}
_OPEN_LOCK = threading.Lock()


def open_memory(path: str) -> StoryMemory:
    """The StoryMemory of a memory directory or Chroma server URL, one per thread: the episodes of a
    ``dsr season`` run in threads of one process, and a StoryMemory's indexes are its own. Clients of one
    directory share Chroma's system within the process (every one is opened with the same settings, as
    Chroma requires)."""
    key = (path, threading.get_ident())
    with _OPEN_LOCK:
        if key not in _OPEN:
            _OPEN[key] = StoryMemory(path)
        return _OPEN[key]


def opened(path: str) -> list[StoryMemory]:
    """The StoryMemory objects this process has open on ``path`` (one per thread)."""
    with _OPEN_LOCK:
        return [store for (where, _thread), store in _OPEN.items() if where == path]


__all__ = [
    "CharacterRecord",
    "Fact",
    "SceneRecord",
    "StoryMemory",
    "approx_tokens",
    "build_previous_context",
    "embed_scene_queries",
    "open_memory",
    "opened",
    "profiles_for",
]
