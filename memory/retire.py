"""Retiring the memory of superseded scenes: a writer's edit forks a run at scene N of an episode, so what
scenes N, N+1, ... committed (summaries, facts, character versions) must go before those scenes are written
again, or later scenes would read a story that no longer exists.

Every collection of the store is swept, by the story position each record carries (``order``), so a kind of
record added later is retired too. Positions before the fork, other episodes and other series are untouched.
The facts index (memory/index.py) carries no positions but lists the episode's facts, typed ones whole: its
records of the episode are cut first, so no crash in between leaves the index holding a retired fact.
Deleting needs no vectors, so the store is opened with a bare Chroma client: no embedding model is loaded.

A fork happens while its run is not being driven (it holds the run's lock), and the run's next drive opens its
memory afresh, so it reads the retired store. Another run that has the same store open at that moment (in this
process or any other) reads its indexes again when a collection's size changes under it.
"""

from __future__ import annotations

from typing import Any

from chromadb.config import Settings

from dsr.memory import index
from dsr.memory.client import collection_names, connect
from dsr.memory.records import order_of


def retire_scenes(location: str, series: str, episode: int, from_scene: int) -> int:
    """Delete every record of ``series`` episode ``episode`` at scene ``from_scene`` or later from the store at
    ``location`` (a directory or a Chroma server URL); returns how many went."""
    return retire_from_client(
        connect(location, Settings(anonymized_telemetry=False)), series, episode, from_scene
    )


def retire_from_client(client: Any, series: str, episode: int, from_scene: int) -> int:
    low, high = order_of(episode, from_scene), order_of(episode + 1, 0)
    where = {"$and": [{"series": series}, {"order": {"$gte": low}}, {"order": {"$lt": high}}]}
    gone = 0
    collections = sorted(collection_names(client))
    if index.NAME in collections:
        index.retire(client.get_collection(index.NAME), series, episode, low, client.get_max_batch_size())
    for name in collections:
        collection = client.get_collection(name)
        ids = collection.get(where=where, include=[])["ids"]
        if ids:
            collection.delete(ids=ids)
            gone += len(ids)
    return gone
