"""A process's first scene without the facts collection: the state in force is read from the facts index's
``t|`` records (the typed facts whole), so Chroma does not load the facts' vector index for it; stores indexed
before those records, or whose facts an older version changed since, read the facts as before and give the same
state; a write completes an episode's record; the index persists often, and a store whose index kept Chroma's
default interval is switched when opened. A real Chroma directory throughout (memory/index.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings

from dsr.common.errors import BadInput
from dsr.memory import CharacterRecord, Fact, SceneRecord, StoryMemory
from dsr.memory import index as fact_index
from dsr.memory.embedding import load_model
from dsr.memory.retire import retire_scenes
from tests.test_memory_index import SERIES, add, in_force, resolved, series_facts

pytestmark = pytest.mark.slow

POINTS = [(1, 3), (2, 1), (3, 2), (3, 5), (4, 1), None]
CASTS = (["MARA"], ["TOM", "JONAH"], ["ELSIE", "MARA", "TOM"])


@pytest.fixture(scope="module", autouse=True)
def _embedder():
    load_model()


class _Reads:
    """Wraps a collection: counts every call on it (a read of any kind loads its vector index in Chroma), and
    keeps the ``where`` of each."""

    def __init__(self, col: Any) -> None:
        self.col, self.calls, self.wheres = col, 0, []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.col, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.wheres.append(kwargs.get("where"))
            return attr(*args, **kwargs)

        return counted


def loading(mem: StoryMemory) -> StoryMemory:
    """``mem`` as in a process's first scene on a long store: Chroma still loading the facts' vector index (the
    load ``StoryMemory`` starts when it opens, done at once on these small stores, is waited for and undone)."""
    for thread in mem._warming:
        thread.join()
    mem._facts_loaded.clear()
    return mem


def states(mem: StoryMemory) -> dict[tuple[int, ...], list[str]]:
    return {
        (i, *(point or ())): in_force(mem, names, point) for i, names in enumerate(CASTS) for point in POINTS
    }


def expected_states(mem: StoryMemory) -> dict[tuple[int, ...], list[str]]:
    return {
        (i, *(point or ())): resolved(mem, names, point) for i, names in enumerate(CASTS) for point in POINTS
    }


def _slot_read(slot: str, where: Any) -> Any:
    """``where`` when it is the filtered read of ``slot`` that the state falls back to, else ``None``."""
    clauses = (where or {}).get("$and") or []
    return where if {"slot": slot} in clauses else None


def as_before_typed(path: Path) -> None:
    """Make the index what the previous version of this package left: no ``t|`` records, no ``typed`` mark."""
    client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    col = client.get_collection(fact_index.NAME)
    ids = col.get(include=[])["ids"]
    col.delete(ids=[i for i in ids if i.startswith("t|")])
    col.upsert(ids=[fact_index.VERSION_ID], embeddings=[[1.0]], metadatas=[{"version": fact_index.VERSION}])


def test_the_state_at_first_open_reads_nothing_of_the_facts_collection(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    with StoryMemory(path) as mem:
        add(mem, series_facts(4, 5))
        # corrections and a forgotten fact: the index's copies carry the status the facts have
        target = mem.facts_in_force(SERIES, characters=["MARA"], before=(3, 3))[-1]
        fixed = target.model_copy(update={"text": target.text + " (as corrected)", "source": "writer"})
        mem.set_fact(fixed.model_copy(update={"replaces": target.id}))
        mem.set_fact(target.model_copy(update={"status": "corrected"}))
        other = mem.facts_in_force(SERIES, characters=["TOM"], before=(2, 4))[0]
        mem.set_fact(other.model_copy(update={"status": "forgotten"}))
        mem.delete_scene(SERIES, 2, 3)
        expected = expected_states(mem)
    with StoryMemory(path) as mem:
        facts = _Reads(loading(mem)._facts)
        mem._facts = facts  # type: ignore[assignment]
        assert states(mem) == expected
        # only the rare case reads the facts: a slot whose one fact before the point was forgotten
        assert all(w == _slot_read(other.slot or "", w) for w in facts.wheres), facts.wheres
        facts.calls = 0
        for point in POINTS:  # Mara's slots: a correction, no forgotten fact
            assert in_force(mem, ["MARA"], point) == expected[(0, *(point or ()))]
        assert facts.calls == 0, "the state in force read the facts collection"
        mem._facts_loaded.set()  # loaded: the facts are read by id, the same state
        assert states(mem) == expected and facts.calls > 0
        by_id = {f.id: f for f in mem.facts_in_force(SERIES, characters=["MARA", "TOM"], before=(4, 1))}
    with StoryMemory(path) as mem:  # the same Fact objects as read from the facts collection
        for fid, fact in by_id.items():
            assert mem.get_fact(fid) == fact


def test_a_store_indexed_before_the_typed_records_reads_the_same_state(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    with StoryMemory(path) as mem:
        add(mem, series_facts(4, 5))
        expected = expected_states(mem)
    as_before_typed(path)
    with StoryMemory(path) as mem:
        facts = _Reads(loading(mem)._facts)
        mem._facts = facts  # type: ignore[assignment]
        assert states(mem) == expected
        assert facts.calls > 0  # the fallback: candidates read by id
        # a write to an episode completes its record: its state then comes from the index alone
        mem._facts = facts.col
        more = [mara_holds("the logbook", episode=4, scene_no=6)]
        add(mem, more)
        got = fact_index.read(mem._index, [fact_index.episode_id(SERIES, 4), fact_index.typed_id(SERIES, 4)])
        whole = fact_index.typed(got[fact_index.episode_id(SERIES, 4)], got[fact_index.typed_id(SERIES, 4)])
        assert whole is not None and more[0].id in whole and len(whole) > 1
        assert in_force(loading(mem), ["MARA"], (5, 1)) == resolved(mem, ["MARA"], (5, 1))


def mara_holds(thing: str, *, episode: int, scene_no: int) -> Fact:
    return Fact(
        series=SERIES,
        episode=episode,
        scene_no=scene_no,
        text=f"Mara holds {thing}.",
        kind="holder",
        subject=thing,
        about="MARA",
        characters=["MARA"],
    )


def test_facts_an_older_version_added_or_deleted_are_seen(tmp_path: Path) -> None:
    """An older version of this package writes the ``e|`` records, not the ``t|`` ones: an episode whose
    typed ids differ between the two is read through the facts collection."""
    path = tmp_path / "memory"
    with StoryMemory(path) as mem:
        add(mem, series_facts(3, 4))
        loading(mem)
        late = [mara_holds("the lantern", episode=3, scene_no=4)]
        # as the older version writes: the fact and the e|/h|/d|/n| records, no t| record
        mem._facts.upsert(
            ids=[late[0].id],
            documents=[late[0].text],
            embeddings=[[0.1] * mem.embedding.dim],
            metadatas=[{**_meta(mem, late[0])}],
        )
        fact_index.index_facts(mem._index, late, mem._client.get_max_batch_size())
        assert in_force(mem, ["MARA"], (4, 1)) == resolved(mem, ["MARA"], (4, 1))
        assert late[0].id in in_force(mem, ["MARA"], (4, 1))
        # and a deletion by the older version: the fact and its e| row go, its t| copy stays
        gone = mem.facts_in_force(SERIES, characters=["TOM"], before=(3, 1))[-1]
        mem._facts.delete(ids=[gone.id])
        fact_index.unindex(mem._index, [gone], mem._client.get_max_batch_size())
        whole_id = fact_index.typed_id(SERIES, gone.episode)
        meta = fact_index.read(mem._index, [whole_id])[whole_id]
        mem._index.upsert(
            ids=[whole_id],
            embeddings=[[1.0]],
            metadatas=[{**meta, "facts": json.dumps({**json.loads(meta["facts"]), gone.id: ["x", {}]})}],
        )
        assert gone.id not in in_force(mem, ["TOM"], (3, 1))
        assert in_force(mem, ["TOM"], (3, 1)) == resolved(mem, ["TOM"], (3, 1))


def _meta(mem: StoryMemory, fact: Fact) -> dict[str, Any]:
    from dsr.memory.store import _fact_meta

    return {k: v for k, v in _fact_meta(fact).items() if v is not None}


def test_retirement_cuts_the_index_before_the_facts(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    with StoryMemory(path) as mem:
        add(mem, series_facts(3, 5))
    assert retire_scenes(str(path), SERIES, 3, 2) > 0
    with StoryMemory(path) as mem:
        got = fact_index.read(mem._index, [fact_index.episode_id(SERIES, 3), fact_index.typed_id(SERIES, 3)])
        whole = fact_index.typed(got[fact_index.episode_id(SERIES, 3)], got[fact_index.typed_id(SERIES, 3)])
        assert whole is not None and whole and all(":0003:0001:" in fid for fid in whole)
        facts = _Reads(loading(mem)._facts)
        mem._facts = facts  # type: ignore[assignment]
        assert states(mem) == expected_states(_Unwrapped(mem, facts.col))


class _Unwrapped:
    """``mem`` with its facts collection itself, for the resolved (expected) state."""

    def __init__(self, mem: StoryMemory, col: Any) -> None:
        self.mem, self.col = mem, col

    def fact_history(self, *args: Any, **kwargs: Any) -> list[Fact]:
        wrapped, self.mem._facts = self.mem._facts, self.col
        try:
            return self.mem.fact_history(*args, **kwargs)
        finally:
            self.mem._facts = wrapped


def index_as_before(mem: StoryMemory) -> Any:
    """The facts index made again as the previous version created it: Chroma's default persist interval."""
    got = mem._index.get(include=["metadatas", "embeddings"])
    mem._client.delete_collection(fact_index.NAME)
    col = mem._client.create_collection(fact_index.NAME, embedding_function=None)
    col.upsert(ids=got["ids"], embeddings=got["embeddings"], metadatas=got["metadatas"])
    return col


def test_an_index_kept_at_chromas_default_interval_is_switched_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    with StoryMemory(path) as mem:
        add(mem, series_facts(2, 3))
        expected = expected_states(mem)
        col = index_as_before(mem)
        assert col.configuration_json["hnsw"]["sync_threshold"] != fact_index.SYNC
        mem.upsert_character(
            CharacterRecord(series=SERIES, name="MARA", profile={"name": "MARA"}, episode=1, scene_no=0)
        )
        mem._characters.modify(configuration={"hnsw": {"sync_threshold": 1000}})  # Chroma's default
    with StoryMemory(path) as mem:
        assert mem._index.configuration_json["hnsw"]["sync_threshold"] == fact_index.SYNC
        assert mem._characters.configuration_json["hnsw"]["sync_threshold"] == fact_index.SYNC
        assert mem._characters.configuration_json["hnsw"]["space"] == "cosine"
        assert [p.name for p in mem.profiles(SERIES, ["mara"])] == ["MARA"]
        assert states(mem) == expected
    with StoryMemory(path) as mem:
        assert mem._index.configuration_json["hnsw"]["sync_threshold"] == fact_index.SYNC
        assert states(mem) == expected
    with StoryMemory(tmp_path / "fresh") as mem:  # a new store's index and characters are created with it
        assert mem._index.configuration_json["hnsw"]["sync_threshold"] == fact_index.SYNC
        assert mem._characters.configuration_json["hnsw"]["sync_threshold"] == fact_index.SYNC


def test_on_a_server_the_index_is_switched_and_the_state_read_from_it(tmp_path: Path) -> None:
    from tests.backing_servers import Missing, chroma_server

    path = tmp_path / "memory"
    with StoryMemory(path) as mem:
        add(mem, series_facts(3, 4))
        expected = expected_states(mem)
        index_as_before(mem)
    try:
        served = chroma_server(path)
        url = served.__enter__()
    except Missing as exc:
        pytest.skip(str(exc))
    try:
        with StoryMemory(url) as mem:
            assert mem._index.configuration_json["hnsw"]["sync_threshold"] == fact_index.SYNC
            facts = _Reads(loading(mem)._facts)
            mem._facts = facts  # type: ignore[assignment]
            assert states(mem) == expected
            assert facts.calls == 0
        assert retire_scenes(url, SERIES, 3, 2) > 0
        with StoryMemory(url) as mem:
            assert states(mem) == expected_states(mem)
    finally:
        served.__exit__(None, None, None)


def test_an_existing_store_loads_its_collections_while_the_embedding_model_loads(
    tmp_path: Path, monkeypatch
) -> None:
    """Chroma loads a collection's vector index on its first read; a fresh process loads the embedding model
    (seconds: torch is imported then) before it can embed anything. An existing store is read while the model
    loads, every collection, the facts' before the model is done; a new directory is not made a store before the
    embedder is known to load; an open that fails releases the store."""
    import threading

    import dsr.memory.store as store_module

    path = tmp_path / "memory"
    with StoryMemory(path) as mem:
        add(mem, series_facts(2, 3))
        mem.add_scene(SceneRecord(series=SERIES, episode=1, scene_no=1, summary="Mara lights the lamp."))
        stored = mem.stats()
    touched: list[str] = []
    all_read = threading.Event()
    real_touch, real_embedding = store_module._touch, store_module.SentenceEmbedding

    def touch(col: Any) -> None:
        real_touch(col)
        touched.append(col.name)
        if {"characters", fact_index.NAME, "facts", "scenes"} <= set(touched):
            all_read.set()

    seen_during_load: list[list[str]] = []

    class SlowModel(real_embedding):  # type: ignore[misc, valid-type]
        def __init__(self, embedder: str) -> None:
            all_read.wait(timeout=30)  # a model load that takes as long as the collections' loads
            seen_during_load.append(list(touched))
            super().__init__(embedder)

    monkeypatch.setattr(store_module, "_touch", touch)
    monkeypatch.setattr(store_module, "SentenceEmbedding", SlowModel)
    with StoryMemory(path) as mem:
        assert seen_during_load == [["characters", fact_index.NAME, "facts", "scenes"]]
        assert mem._facts_loaded.is_set()
        assert mem.stats() == stored
    fresh = tmp_path / "fresh"
    with pytest.raises(BadInput):
        StoryMemory(fresh, embedder=str(tmp_path / "no-such-model"))
    assert not (fresh / "chroma.sqlite3").exists()  # nothing made before the embedder failed
    monkeypatch.setattr(store_module, "SentenceEmbedding", real_embedding)
    with pytest.raises(BadInput):
        StoryMemory(path, embedder=str(tmp_path / "no-such-model"))
    with StoryMemory(path) as mem:  # the failed open released the store: it opens again
        assert mem.stats() == stored
