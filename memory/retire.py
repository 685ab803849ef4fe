"""Retiring the memory of superseded scenes: a writer's edit forks a run at scene N of an episode, so what
scenes N, N+1, ... committed (summaries, facts, character versions) must go before those scenes are written
again, or later scenes would read a story that no longer exists.

Every collection of the store is swept, by the story position each record carries (``order``), so a kind of
record added later is retired too. Positions before the fork, other episodes and other series are untouched.
"""

from __future__ import annotations

from memory.records import order_of
from memory.store import StoryMemory


def retire_scenes(memory: StoryMemory, series: str, episode: int, from_scene: int) -> int:
    """Delete every record of ``series`` episode ``episode`` at scene ``from_scene`` or later; returns how many."""
    low, high = order_of(episode, from_scene), order_of(episode + 1, 0)
    where = {"$and": [{"series": series}, {"order": {"$gte": low}}, {"order": {"$lt": high}}]}
    gone = 0
    client = memory._client  # the store's own Chroma client, one per directory
    for listed in client.list_collections():
        collection = client.get_collection(listed.name if hasattr(listed, "name") else str(listed))
        ids = collection.get(where=where, include=[])["ids"]
        if ids:
            collection.delete(ids=ids)
            gone += len(ids)
    memory._cast_count = None  # the character-version index is read again
    return gone
