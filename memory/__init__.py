"""Chroma-backed story memory: character profile versions, scene summaries and continuity facts.

Offline by default, without touching the process's environment: the embedder is the packaged MiniLM loaded
from its directory, and every Chroma client is opened with telemetry off (memory/store.py, memory/retire.py).
The hub switches (``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE``) are set where a process starts: the ``dsr``
command (cli/main.py), the test suite (tests/conftest.py), the Makefile, langgraph.json.

A run opens its memory once, through its resources (contract/resources.py); anything else opens a
:class:`StoryMemory` itself and closes it (``with StoryMemory(path) as memory:``).
"""

from __future__ import annotations

from dsr.memory.context import approx_tokens, build_previous_context, embed_scene_queries, profiles_for
from dsr.memory.records import CharacterRecord, Fact, SceneRecord
from dsr.memory.store import StoryMemory

__all__ = [
    "CharacterRecord",
    "Fact",
    "SceneRecord",
    "StoryMemory",
    "approx_tokens",
    "build_previous_context",
    "embed_scene_queries",
    "profiles_for",
]
