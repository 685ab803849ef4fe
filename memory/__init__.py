"""Chroma-backed story memory: character profile versions, scene summaries and continuity facts.

Offline by default: the hub and telemetry switches are set here, before chromadb or
sentence-transformers can be imported by any submodule (``setdefault``, so a user can still opt in).
"""

from __future__ import annotations

import os
from functools import cache

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from memory.context import approx_tokens, build_previous_context, profiles_for  # noqa: E402
from memory.records import CharacterRecord, Fact, SceneRecord  # noqa: E402
from memory.store import StoryMemory  # noqa: E402


@cache
def open_memory(path: str) -> StoryMemory:
    """One client per memory directory per process (Chroma forbids two with different settings)."""
    return StoryMemory(path)


__all__ = [
    "CharacterRecord",
    "Fact",
    "SceneRecord",
    "StoryMemory",
    "approx_tokens",
    "build_previous_context",
    "open_memory",
    "profiles_for",
]
