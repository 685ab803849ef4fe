"""StoryMemory: one Chroma directory per series family, three collections, written only at commit.

- ``characters``: profile versions, id ``series:name:EEEE:SSSS``; a version is valid from its scene on.
- ``scenes``: one summary per committed scene, id ``series:EEEE:SSSS`` (upsert, so reruns replace).
- ``facts``: atomic continuity facts, id ``series:EEEE:SSSS:digest`` (content-addressed: re-adding is a
  no-op). Typed facts carry a slot (``location:mara``, ``holder:the key``): a later one of the same slot
  supersedes an earlier one, both stay stored (:meth:`StoryMemory.fact_history`, :mod:`dsr.memory.state`).
  A writer's correction or deletion changes a fact's status instead of removing it; reads see only
  active facts.

Every record carries ``order = episode * 10_000 + scene_no`` so "strictly before this scene" is one
``$lt`` filter across episodes. Character lists are stored twice: ``chars`` as a readable "|A|B|" string
(scalar, portable) and ``char_keys`` as a list of case-folded names, because chroma 1.5 supports
``$contains`` only on list metadata (not substring matching on strings).

Reads avoid metadata ``where`` filters on the hot path: chroma evaluates them in SQLite over every
record they match (hundreds of milliseconds at 10,000 scenes and 50,000 facts), while a vector search
or a read by id takes a few. Scene and fact ids encode series and position, so similarity searches run
unfiltered over a candidate pool that grows until ``k`` qualify (``k`` stays honest: the filtered
search is the fallback, filtered on the names alone where the characters are known), recent scenes are
read by id (at an episode's start, whole episodes by an ``episode`` equality filter, which SQLite answers
from its index) in the same read as the similar scenes' pool (one round trip where a Chroma server took
three), character versions come from a small per-process index, and typed facts (the state in
force) and a character's newest facts from the facts index beside them, read by id (memory/index.py), so nothing reads the whole facts collection when a process starts.
Chroma loads a collection's vector index on the first read of any kind, the facts' 852 MB at 500,000 facts
(1.5-4.5 s): an existing store starts loading every collection's as soon as it is reached, before the embedding
model loads (a background thread, beside seconds of torch and sentence-transformers imports), and while the
facts' load is in progress the state in force is read from the index's copies of the typed facts, so a process's
first scene meets that load only in the search that needs the vectors. That load is Chroma reading each index
into memory it allocates (1.3 GiB faulted in at 100,000 scenes), one collection at a time: the floor of a
process's first scene on a large store (benchmarks/results/issue25-memory-quiet.md).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import chromadb
import numpy as np
from chromadb.api.types import Embeddings, GetResult, Include, Metadata
from chromadb.config import Settings
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from dsr.common.errors import BadInput
from dsr.memory import index
from dsr.memory.client import (
    STORE_MARKER,
    check_vectors,
    collection_names,
    connect,
    disconnect,
    is_server,
    shown_location,
)
from dsr.memory.embedding import DEFAULT_EMBEDDER, SentenceEmbedding, embedder_label
from dsr.memory.records import (
    ORDER_STRIDE,
    CharacterRecord,
    Fact,
    SceneRecord,
    join_names,
    name_key,
    order_in_id,
    order_of,
    scene_id,
    split_names,
)
from dsr.memory.state import rank

Position = tuple[int, int]
Query = str | Sequence[float]  # a text to embed, or its vector when the caller already has it
# A record's metadata as this module writes it (add_scenes, _fact_meta, upsert_character) and reads it back:
# what a key holds depends on the key, so values are read as Any.
Meta = Mapping[str, Any]
_T = TypeVar("_T")
COLLECTIONS = ("characters", "scenes", "facts")
# Identical settings for every client: chroma refuses a second client on one path with different ones.
_SETTINGS = Settings(anonymized_telemetry=False)
_MIN_POOL = 20
_EPISODES_BACK = 4  # episodes read one by one for the newest facts before _latest's runs of episodes
_MAX_UNFILTERED = 2048  # candidates an unfiltered search may return before the filtered one is cheaper
_PAGE = 5000  # records per get reading a whole index; 1.5x faster than 1,000 at 50,000 facts
_MAX_EPISODES_READ = 256  # episodes one read of _latest names at most (each one a bound SQL variable)


def _usable_dir(path: str | os.PathLike[str]) -> Path:
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise BadInput(f"memory path {target} is not a directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"memory directory {target} cannot be created: {exc.strerror or exc}") from exc
    if not os.access(target, os.W_OK | os.X_OK):
        raise BadInput(f"memory directory {target} is not writable")
    return target


def _asked(value: _T | None, field: str) -> _T:
    """A field of a chroma result that the read's ``include`` named: chroma types every one as optional."""
    if value is None:
        raise RuntimeError(f"chroma returned no {field}, though the read asked for them")
    return value


def _docs(got: GetResult) -> list[str]:
    return _asked(got["documents"], "documents")


def _metas(got: GetResult) -> list[Meta]:
    return _asked(got["metadatas"], "metadatas")


def _where(series: str, before: Position | None = None, *extra: dict[str, Any]) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [{"series": series}]
    if before is not None:
        clauses.append({"order": {"$lt": order_of(*before)}})
    clauses.extend(extra)
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _any_of(field: str, keys: set[str]) -> dict[str, Any]:
    """Records whose list metadata ``field`` holds any of ``keys``."""
    clauses = [{field: {"$contains": key}} for key in sorted(keys)]
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def _names_meta(names: list[str]) -> dict[str, Any]:
    # None deletes a key on upsert (chroma merges metadata), so a rerun with no characters clears them.
    keys = sorted({name_key(n) for n in names if n.strip()})
    return {"chars": join_names(names), "char_keys": keys or None}


def _scene(doc: str, meta: Meta) -> SceneRecord:
    return SceneRecord(
        series=meta["series"],
        episode=meta["episode"],
        scene_no=meta["scene_no"],
        summary=doc,
        characters=split_names(meta.get("chars")),
        tail=meta.get("tail"),
    )


_FACT_FIELDS = ("subject", "about", "quote", "source", "status", "by", "changed_at", "replaces")


def _fact(doc: str, meta: Meta) -> Fact:
    # Stores written before typed facts carry none of the optional fields: Fact's defaults fill them.
    return Fact(
        series=meta["series"],
        episode=meta["episode"],
        scene_no=meta["scene_no"],
        text=doc,
        characters=split_names(meta.get("chars")),
        kind=meta.get("kind", "other"),
        **{key: meta[key] for key in _FACT_FIELDS if isinstance(meta.get(key), str)},
    )


def _fact_meta(f: Fact) -> dict[str, Any]:
    slot = f.slot
    return {
        "series": f.series,
        "episode": f.episode,
        "scene_no": f.scene_no,
        "order": f.order,
        "kind": f.kind,
        **{key: getattr(f, key) for key in _FACT_FIELDS},
        "slot": slot or "",
        # An equality filter SQLite answers from its index: the typed facts that carry state.
        "stateful": slot is not None,
        **_names_meta(f.characters),
    }


def _is_active(meta: Meta) -> bool:
    return meta.get("status", "active") == "active"


def _character(meta: Meta) -> CharacterRecord:
    return CharacterRecord(
        series=meta["series"],
        name=meta["name"],
        aliases=split_names(meta.get("aliases")),
        profile=json.loads(meta["profile"]),
        episode=meta["episode"],
        scene_no=meta["scene_no"],
    )


class _SceneRow(NamedTuple):
    """A scene as read: its summary, its metadata and, where the read asked for it, its vector."""

    doc: str
    meta: Meta
    vector: Any


def _recent_ids(series: str, before: Position, k: int) -> list[str]:
    """The ids of the ``2k`` scene numbers just before ``before`` in its episode: where the ``k`` scenes
    before it usually are (:meth:`StoryMemory.recent_scenes`)."""
    episode, scene_no = before
    return [scene_id(series, episode, n) for n in range(max(0, scene_no - 2 * k), scene_no)] if k > 0 else []


class _Version(NamedTuple):
    """A profile version as the character index keeps it: enough to pick the latest, no profile."""

    id: str
    ident: str
    order: int
    keys: frozenset[str]


_STORED_FIELDS = ("series", "episode", "scene_no", "kind", "chars", *_FACT_FIELDS)  # what _fact reads


def _stored_meta(meta: Meta) -> dict[str, Any]:
    return {key: meta[key] for key in _STORED_FIELDS if meta.get(key) is not None}


class _StoredFacts:
    """The facts collection as the facts index's ``t|`` records copy it (index.Whole)."""

    def __init__(self, col: chromadb.Collection) -> None:
        self.col = col

    def stored(self, fact: Fact) -> index.Stored:
        return fact.text, _stored_meta(_fact_meta(fact))

    def fetch(self, ids: list[str]) -> dict[str, index.Stored]:
        out: dict[str, index.Stored] = {}
        for i in range(0, len(ids), _PAGE):
            got = self.col.get(ids=ids[i : i + _PAGE], include=["metadatas", "documents"])
            for fid, doc, meta in zip(got["ids"], _docs(got), _metas(got), strict=True):
                out[fid] = (doc, _stored_meta(meta))
        return out


class StoryMemory:
    """Continuity memory of one or more series in a Chroma directory or on a Chroma server (``path`` an
    ``http(s)://HOST:PORT`` URL; memory/client.py); see the module docstring."""

    def __init__(self, path: str | os.PathLike[str], *, embedder: str | None = None) -> None:
        self.path = path if is_server(path) else _usable_dir(path)
        self._facts_loaded = threading.Event()  # the facts' vector index is loaded: reads of it do not wait
        self._client: Any = None
        self._warming: list[threading.Thread] = []
        if is_server(self.path) or (Path(self.path) / STORE_MARKER).exists():  # a store to load: start now
            try:
                self._client = connect(self.path, _SETTINGS)
            except BadInput:
                raise
            except Exception as exc:
                raise self._unreadable(exc) from exc
            self._warming.append(threading.Thread(target=self._preload, name="memory-preload", daemon=True))
            self._warming[0].start()
        try:
            self.embedding = SentenceEmbedding(embedder or DEFAULT_EMBEDDER)
        except BaseException:
            self._release()
            raise
        try:
            if self._client is None:
                self._client = connect(self.path, _SETTINGS)
            check_vectors(
                self._client,
                self.path,
                embedder_label(self.embedding.embedder),
                self.embedding.dim,
                COLLECTIONS,
            )
            cols = [self._open(name) for name in COLLECTIONS]
        except BadInput:
            self._release()
            raise
        except Exception as exc:  # chroma raises many types (sqlite, rust bindings) for a damaged store
            self._release()
            raise self._unreadable(exc) from exc
        self._characters, self._scenes, self._facts = cols
        self._cast: dict[str, list[_Version]] = {}
        self._cast_count: int | None = None
        self._stored = _StoredFacts(self._facts)
        self._index = self._open_index()
        if not self._warming:  # a store made just now: nothing was loaded, nothing is waited for
            self._facts_loaded.set()

    def _preload(self) -> None:
        """Read each collection of an existing store once, so that Chroma loads its vector index (it does on a
        collection's first read of any kind, one collection at a time): the small ones first (the characters
        and the facts index, which profiles and the state in force read), then the facts' (1.5 s at 500,000
        facts) and the scenes'. It runs from the moment the store is reached, beside the embedding model's load
        (seconds in a fresh process: torch and sentence-transformers are imported then), so a process's first
        scene seldom waits for it; while it runs, the state in force reads the index's copies of the typed facts
        (:meth:`facts_in_force`). :meth:`close` waits for it."""
        try:
            names = collection_names(self._client)
            for name in ("characters", index.NAME, "facts", "scenes"):
                if name in names:
                    _touch(self._client.get_collection(name, embedding_function=None))
                if name == "facts":
                    self._facts_loaded.set()
        except Exception:  # a damaged store or a server gone: the open, or the read that needs it, says so
            pass
        finally:
            self._facts_loaded.set()

    def _unreadable(self, exc: Exception) -> BadInput:
        return BadInput(
            f"memory at {shown_location(self.path)} is unreadable or corrupted ({type(exc).__name__}); "
            "start a fresh one with --memory NEW_DIR"
        )

    def _release(self) -> None:
        """Wait for :meth:`_preload` and release the Chroma system (an open that fails, and :meth:`close`)."""
        for thread in self._warming:
            thread.join()
        if self._client is not None:
            disconnect(self._client)

    def _open(self, name: str) -> chromadb.Collection:
        label, dim = embedder_label(self.embedding.embedder), self.embedding.dim
        hnsw: dict[str, Any] = {"space": "cosine"}
        if name == "characters":  # small and written seldom: persisted often (index.tune)
            hnsw["sync_threshold"] = index.SYNC
        col = self._client.get_or_create_collection(
            name,
            embedding_function=self.embedding,
            configuration={"hnsw": hnsw},
            metadata={"embedder": label, "dim": dim},
        )
        if name == "characters":
            index.tune(col)
        stored = col.metadata or {}
        if (stored.get("embedder"), stored.get("dim")) != (label, dim):
            raise BadInput(
                f"memory at {shown_location(self.path)} was built with embedder {stored.get('embedder')!r} "
                f"({stored.get('dim')}-d), not {label!r} ({dim}-d): use that embedder or a fresh --memory DIR"
            )
        return col

    def _open_index(self) -> chromadb.Collection:
        """The facts index (memory/index.py); a store written before it is indexed once, here, and one whose
        index persists at Chroma's default interval is switched to the index's (:func:`index.tune`)."""
        try:
            if index.NAME in collection_names(self._client):
                col = self._client.get_collection(index.NAME, embedding_function=None)
                index.tune(col)
            else:
                col = self._client.get_or_create_collection(
                    index.NAME, embedding_function=None, configuration=index.CONFIGURATION
                )
        except Exception as exc:  # as in __init__: a damaged store
            raise self._unreadable(exc) from exc
        version = col.get(ids=[index.VERSION_ID], include=["metadatas"])["metadatas"] or [{}]
        if (version[0] or {}).get("version") != index.VERSION:
            if version != [{}]:  # an older layout: built again from the facts
                self._client.delete_collection(index.NAME)
                col = self._client.get_or_create_collection(
                    index.NAME, embedding_function=None, configuration=index.CONFIGURATION
                )
            if self._facts.count():
                rows = _read_all(self._facts)
                facts = [_fact(d, m) for d, m in zip(rows.documents, rows.metadatas, strict=True)]
                for i in range(0, len(facts), 50_000):
                    index.index_facts(
                        col, facts[i : i + 50_000], self._client.get_max_batch_size(), self._stored
                    )
            col.upsert(
                ids=[index.VERSION_ID],
                embeddings=[[1.0]],
                metadatas=[{"version": index.VERSION, "typed": index.TYPED}],
            )
        return col

    def close(self) -> None:
        """Release the Chroma system (sqlite handles); a new StoryMemory on the path reopens it. Waits for the
        loads :meth:`_preload` started."""
        self._release()

    def __enter__(self) -> StoryMemory:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # characters

    def upsert_character(self, rec: CharacterRecord) -> None:
        """Store a profile version valid from (episode, scene_no); the same point again replaces it.

        A version equal to the one already in force there is not stored (and one left at that point
        by an earlier run is removed), so a character's versions grow with its changes, not with every
        scene it appears in, and reading the latest one stays cheap in a long series.
        """
        current = self.profiles(rec.series, [rec.name], before=(rec.episode, rec.scene_no))
        if current and (current[0].name, current[0].aliases, current[0].profile) == (
            rec.name,
            rec.aliases,
            rec.profile,
        ):
            self._characters.delete(ids=[rec.id])
            self._cast_count = None
            return
        meta: Metadata = {
            "series": rec.series,
            "name": rec.name,
            "aliases": join_names(rec.aliases),
            "keys": sorted(rec.keys()),
            "profile": json.dumps(rec.profile, ensure_ascii=False),
            "episode": rec.episode,
            "scene_no": rec.scene_no,
            "order": rec.order,
        }
        doc = f"{rec.name}: {json.dumps(rec.profile, ensure_ascii=False)}"
        self._characters.upsert(ids=[rec.id], documents=[doc], metadatas=[meta])
        self._cast_count = None  # the same id again changes no count

    def profiles(
        self, series: str, names: list[str] | None = None, *, before: Position | None = None
    ) -> list[CharacterRecord]:
        """Latest version per character (strictly before ``before`` when given).

        ``names`` match case-insensitively against names and aliases (any version's), in the order
        given, unknown names skipped; ``None`` returns every character of the series sorted by name.
        """
        versions = self._versions(series, before)
        latest: dict[str, _Version] = {}
        keys: dict[str, set[str]] = {}
        for v in versions:
            keys.setdefault(v.ident, set()).update(v.keys)
            if v.ident not in latest or v.order > latest[v.ident].order:
                latest[v.ident] = v
        if names is None:
            idents = sorted(latest)
        else:
            idents = []
            for wanted in names:
                ident = next((i for i in latest if name_key(wanted) in keys[i]), None)
                if ident is not None and ident not in idents:
                    idents.append(ident)
        if not idents:
            return []
        got = self._characters.get(ids=[latest[i].id for i in idents], include=["metadatas"])
        records = {cid: _character(meta) for cid, meta in zip(got["ids"], _metas(got), strict=True)}
        return [records[latest[i].id] for i in idents if latest[i].id in records]

    def _versions(self, series: str, before: Position | None) -> list[_Version]:
        """Every profile version of ``series`` (before ``before``) without its profile, from an index
        of the characters collection read once per process, and again when its size changes (another
        process added versions): a metadata ``where`` would cost a SQLite pass over the whole store
        at every scene."""
        count = self._characters.count()
        if self._cast_count != count:
            got = self._characters.get(include=["metadatas"])
            self._cast = {}
            for cid, meta in zip(got["ids"], _metas(got), strict=True):
                version = _Version(
                    cid, name_key(meta["name"]), meta["order"], frozenset(meta.get("keys") or [])
                )
                self._cast.setdefault(meta["series"], []).append(version)
            self._cast_count = count
        limit = order_of(*before) if before is not None else None
        return [v for v in self._cast.get(series, []) if limit is None or v.order < limit]

    def _name_keys(self, series: str, names: list[str], before: Position | None) -> set[str]:
        """Requested names plus every alias memory knows for them."""
        wanted = {name_key(n) for n in names if n.strip()}
        versions = self._versions(series, before)
        idents = {v.ident for v in versions if v.keys & wanted}
        return wanted.union(*(v.keys for v in versions if v.ident in idents))

    # scenes

    def add_scene(self, rec: SceneRecord) -> None:
        """Store (or replace, on a rerun or resume) the summary of a committed scene."""
        self.add_scenes([rec])

    def add_scenes(self, recs: list[SceneRecord], *, embeddings: Embeddings | None = None) -> None:
        """Bulk :meth:`add_scene` (imports, benchmarks); ``embeddings`` skips embedding the summaries."""
        rows, vectors = _last_per_id(recs, embeddings)
        metas: list[Meta] = [
            {
                "series": rec.series,
                "episode": rec.episode,
                "scene_no": rec.scene_no,
                "order": rec.order,
                "tail": rec.tail,
                **_names_meta(rec.characters),
            }
            for rec in rows
        ]
        self._upsert(self._scenes, [rec.id for rec in rows], [rec.summary for rec in rows], metas, vectors)

    def _upsert(
        self,
        col: chromadb.Collection,
        ids: list[str],
        docs: list[str],
        metas: list[Meta],
        vectors: Embeddings | None,
    ) -> None:
        """Upsert in chunks of chroma's maximum batch size."""
        step = self._client.get_max_batch_size()
        for i in range(0, len(ids), step):
            chunk = slice(i, i + step)
            col.upsert(
                ids=ids[chunk],
                documents=docs[chunk],
                metadatas=metas[chunk],
                embeddings=None if vectors is None else vectors[chunk],
            )

    def recent_scenes(self, series: str, before: Position, k: int = 3) -> list[SceneRecord]:
        """The ``k`` scenes strictly before ``before``, newest last, crossing episode boundaries.

        Reads the ids of the ``2k`` scene numbers just before (ids encode the position); at an episode's
        start those are every scene of the episode before the point, so only the episodes before it are left;
        when those ids do not hold ``k`` scenes, whole episodes back, read by an equality filter on
        ``episode`` (:meth:`_latest`: about 15 ms at 100,000 scenes, where a filter on a range of ``order``
        costs a second), in runs of 1, 1, 2, 4... episodes until they do. Either way the cost does not grow
        with the length of the series.
        """
        ids = _recent_ids(series, before, k)
        return self._recent_of(self._scene_rows(ids), ids, series, before, k)

    def recent_and_similar(
        self,
        series: str,
        query: Query | None,
        before: Position,
        *,
        recent_k: int = 3,
        similar_k: int = 3,
        mmr_lambda: float = 0.5,
    ) -> tuple[list[SceneRecord], list[SceneRecord]]:
        """``recent_scenes(series, before, recent_k)`` and ``similar_scenes(series, query, before, similar_k,
        exclude_ids=<those recent scenes>)`` together, in two reads where they take three or four apart: the
        similar scenes' search, keeping ``recent_k`` spare candidates (as many as it may have to leave out), then
        one read of the recent scenes' ids and the whole pool (vectors included). Every read of a Chroma
        server is a round trip of 3-5 ms, whatever it reads; one read of 26 records costs about what one of 6
        does (embedded too: 2.6 ms against 3.7 for the three reads it replaces, at 100,000 scenes)."""
        vector = self._vector(query)
        ids = _recent_ids(series, before, recent_k)
        size = max(4 * similar_k, _MIN_POOL)
        pool = (
            self._nearest(self._scenes, vector, series, before, size + recent_k)
            if vector is not None and similar_k > 0
            else []
        )
        rows = self._scene_rows(list(dict.fromkeys(ids + pool)), vectors=bool(pool))
        recent = self._recent_of(rows, ids, series, before, recent_k)
        shown = {scene.id for scene in recent}
        ranked = [sid for sid in pool if sid not in shown][:size]
        return recent, self._pick_similar(vector, ranked, rows, similar_k, mmr_lambda)

    def _recent_of(
        self, rows: dict[str, _SceneRow], ids: list[str], series: str, before: Position, k: int
    ) -> list[SceneRecord]:
        """:meth:`recent_scenes` from ``rows`` read for ``ids`` (:func:`_recent_ids`), reading episodes back
        where they do not hold ``k`` scenes."""
        if k <= 0:
            return []
        found = sorted(((r.doc, r.meta) for sid in ids if (r := rows.get(sid))), key=lambda r: r[1]["order"])
        if len(found) >= k:
            return [_scene(d, m) for d, m in found[-k:]]
        episode, scene_no = before
        if scene_no - 2 * k <= 0:  # the episode's start: its scenes before the point are all read
            found = self._latest(self._scenes, series, (episode, 0), k - len(found)) + found
        else:
            found = self._latest(self._scenes, series, before, k)
        return [_scene(d, m) for d, m in found]

    def _scene_rows(self, ids: list[str], *, vectors: bool = False) -> dict[str, _SceneRow]:
        """The scenes with these ids, whole (and their vectors if asked), by id; missing ids left out."""
        if not ids:
            return {}
        include: Include = ["metadatas", "documents", "embeddings"] if vectors else ["metadatas", "documents"]
        got = self._scenes.get(ids=ids, include=include)
        embeddings = got["embeddings"] if vectors else None
        if vectors and embeddings is None:
            raise RuntimeError("chroma returned no embeddings, though the read asked for them")
        return {
            sid: _SceneRow(doc, meta, None if embeddings is None else embeddings[i])
            for i, (sid, doc, meta) in enumerate(zip(got["ids"], _docs(got), _metas(got), strict=True))
        }

    def _latest(
        self, col: chromadb.Collection, series: str, before: Position, k: int, keys: set[str] | None = None
    ) -> list[tuple[str, Meta]]:
        """The ``k`` records of ``col`` nearest before ``before`` in story order (about any of ``keys`` when
        given: their ``char_keys``), oldest first.

        Read by episode, from ``before``'s back to the first, in runs of episodes that double in length up
        to ``_MAX_EPISODES_READ`` (this one, the one before, then 2, 4...), each one ``episode`` equality or
        ``$in`` filter: SQLite answers it from its index on the integer values (about 10 ms at 100,000
        scenes) where a range on ``order``, or a clause on the series or the names, matches most of the store
        and costs a second; series, position and names are checked here, on the records of those episodes.
        """
        if k <= 0:
            return []
        limit = order_of(*before)
        top = before[0] - 1 if before[1] == 0 else before[0]  # nothing of an episode is before its (e, 0)
        span, reads = 1, 0
        rows: list[tuple[str, Meta]] = []
        while top >= 0 and len(rows) < k:
            episodes = list(range(max(0, top - span + 1), top + 1))
            where = {"episode": episodes[0]} if len(episodes) == 1 else {"episode": {"$in": episodes}}
            got = _read_all(col, where)
            rows += [
                (doc, meta)
                for doc, meta in zip(got.documents, got.metadatas, strict=True)
                if meta.get("series") == series
                and meta["order"] < limit
                and (not keys or keys & set(meta.get("char_keys") or ()))
            ]
            top, reads = episodes[0] - 1, reads + 1
            span = 1 if reads < 2 else min(2 * span, _MAX_EPISODES_READ)
        rows.sort(key=lambda r: r[1]["order"])
        return rows[-k:]

    def similar_scenes(
        self,
        series: str,
        query: Query | None,
        before: Position,
        k: int = 3,
        *,
        exclude_ids: set[str] | frozenset[str] = frozenset(),
        mmr_lambda: float = 0.5,
    ) -> list[SceneRecord]:
        """Scenes before ``before`` most related to ``query``, most relevant first, near-duplicates
        pushed down by MMR over a candidate pool of ``max(4k, 20)`` nearest neighbours (read whole in one
        read: a second read of the k picked ones cost more than their rows, on a server and embedded)."""
        vector = self._vector(query)
        if k <= 0 or vector is None:
            return []
        pool = self._nearest(self._scenes, vector, series, before, max(4 * k, _MIN_POOL), exclude_ids)
        return self._pick_similar(vector, pool, self._scene_rows(pool, vectors=True), k, mmr_lambda)

    @staticmethod
    def _pick_similar(
        vector: Sequence[float] | None,
        pool: list[str],
        rows: dict[str, _SceneRow],
        k: int,
        mmr_lambda: float,
    ) -> list[SceneRecord]:
        """The ``k`` scenes MMR picks from ``pool`` (ids nearest first, read whole with vectors into ``rows``)."""
        ranked = [sid for sid in pool if sid in rows]
        if k <= 0 or vector is None or not ranked:
            return []
        picked = maximal_marginal_relevance(
            np.asarray(vector, dtype=np.float32),
            [rows[sid].vector for sid in ranked],
            lambda_mult=mmr_lambda,
            k=k,
        )
        return [_scene(rows[ranked[i]].doc, rows[ranked[i]].meta) for i in picked]

    def _nearest(
        self,
        col: chromadb.Collection,
        vector: Sequence[float],
        series: str,
        before: Position | None,
        n: int,
        exclude_ids: set[str] | frozenset[str] = frozenset(),
    ) -> list[str]:
        """Ids of the ``n`` records of ``series`` before ``before`` nearest to ``vector``, nearest first.

        Chroma evaluates a metadata ``where`` in SQLite over every record it matches, which at series
        scale costs far more than the vector search; ids encode series and story position, so the
        search runs unfiltered over a candidate pool that grows fourfold until ``n`` of them qualify,
        and only a point with few qualifying records (early in a long store) falls back to the
        filtered search.
        """
        limit = order_of(*before) if before is not None else None
        fetch = 4 * n
        while True:
            got = col.query(query_embeddings=[vector], n_results=fetch, include=[])["ids"][0]
            found = [rid for rid in got if rid not in exclude_ids and _qualifies(rid, series, limit)]
            if len(found) >= n or len(got) < fetch:  # enough, or the whole collection was searched
                return found[:n]
            if fetch >= _MAX_UNFILTERED:
                got = col.query(
                    query_embeddings=[vector],
                    n_results=n + len(exclude_ids),
                    where=_where(series, before),
                    include=[],
                )["ids"][0]
                return [rid for rid in got if rid not in exclude_ids][:n]
            fetch *= 4

    def _vector(self, query: Query | None) -> Sequence[float] | None:
        """The query's vector: a text is embedded (cached), a vector passes through, blank is None."""
        if isinstance(query, str):
            return self.embedding.query_vector(query) if query.strip() else None
        return query if query is not None and len(query) else None

    def delete_scene(self, series: str, episode: int, scene_no: int) -> None:
        """Forget a scene's summary and what it established, so a rerun of the scene replaces its memory.

        A writer's facts and the record of facts a writer corrected or forgot stay: a rerun must not undo
        a person's decision. Character versions are left alone: a rerun's commit replaces them (same id),
        and episode-level profiles may share the position.
        """
        self._scenes.delete(ids=[scene_id(series, episode, scene_no)])
        got = self._facts.get(
            where=_where(series, None, {"order": order_of(episode, scene_no)}),
            include=["metadatas", "documents"],
        )
        doomed = [
            _fact(doc, meta)
            for doc, meta in zip(_docs(got), _metas(got), strict=True)
            if _is_active(meta) and meta.get("source") != "writer"
        ]
        if doomed:
            self._facts.delete(ids=[f.id for f in doomed])
            index.unindex(self._index, doomed, self._client.get_max_batch_size())

    # facts

    def add_facts(self, facts: list[Fact], *, embeddings: Embeddings | None = None) -> None:
        """Store facts; the same text for the same scene keeps one id, so re-adding never duplicates.

        A fact a writer corrected or forgot is not brought back by adding it again (a rerun that extracts
        the same line): only a fact that is itself not active (a status change) replaces such a record.
        ``embeddings`` (one per fact) skips embedding the texts.
        """
        rows, vectors = _last_per_id(facts, embeddings)
        if any(f.active for f in rows) and len(rows) <= _MAX_UNFILTERED:
            got = self._facts.get(ids=[f.id for f in rows if f.active], include=["metadatas"])
            settled = {fid for fid, meta in zip(got["ids"], _metas(got), strict=True) if not _is_active(meta)}
            if settled:
                keep = [i for i, f in enumerate(rows) if f.id not in settled]
                rows = [rows[i] for i in keep]
                vectors = None if vectors is None else [vectors[i] for i in keep]
        if not rows:
            return
        self._upsert(
            self._facts, [f.id for f in rows], [f.text for f in rows], [_fact_meta(f) for f in rows], vectors
        )
        self.index_facts(rows)

    def index_facts(self, facts: list[Fact]) -> None:
        """Add stored facts to the facts index (memory/index.py): every write of facts does; benchmarks that
        fill a store in bulk call it themselves."""
        step = 20_000
        for i in range(0, len(facts), step):
            index.index_facts(
                self._index, facts[i : i + step], self._client.get_max_batch_size(), self._stored
            )

    def fact_history(
        self, series: str, *, characters: list[str] | None = None, before: Position | None = None
    ) -> list[Fact]:
        """Every active fact that carries state (see :attr:`Fact.slot`) strictly before ``before``, in
        story order, superseded ones included: the story as it stood at any point can be read back from
        it (:func:`dsr.memory.state.resolve`). With ``characters`` (aliases resolved): the whole history of
        every slot one of them is the subject or the ``about`` of before that point, so an object a
        character once held is followed into other hands. What it returns is the history itself, so it is
        read with a filter on the slots (``dsr memory show``), not at every scene."""
        limit = order_of(*before) if before is not None else None
        if characters is None:
            where: dict[str, Any] = {"$and": [{"series": series}, {"stateful": True}]}
        else:
            slots = sorted(self._slots(series, characters, limit))
            if not slots:
                return []
            where = {"$and": [{"series": series}, {"slot": {"$in": slots}}]}
        got = _read_all(self._facts, where)
        rows = (_fact(d, m) for d, m in zip(got.documents, got.metadatas, strict=True) if _is_active(m))
        return sorted((f for f in rows if limit is None or f.order < limit), key=rank)

    def facts_in_force(
        self, series: str, *, characters: list[str], before: Position | None = None
    ) -> list[Fact]:
        """Per slot one of ``characters`` is named in before ``before``, the fact in force there: the same
        as :func:`dsr.memory.state.resolve` of :meth:`fact_history`. Read from the facts index by id (the
        names' slots, each slot's newest episode, that episode's facts of the slot, the facts themselves):
        the same few reads at any length of series (memory/index.py). While Chroma is still loading the facts'
        vector index (a process's first scene), the facts themselves come from the index's copies."""
        limit = order_of(*before) if before is not None else None
        slots = self._slots(series, characters, limit)
        if not slots:
            return []
        episodes = self._slot_episodes(series, slots, before[0] if before is not None else None)
        candidates: dict[str, list[index.Entry]] = {slot: [] for slot in slots}
        listed = index.read(self._index, [index.episode_id(series, e) for e in sorted(episodes)])
        for meta in listed.values():
            for order, srank, fid, slot, _ in index.rows(meta):
                if slot in candidates and (limit is None or order < limit):
                    candidates[slot].append((order, srank, fid))
        for rows in candidates.values():
            rows.sort()
        return sorted(self._newest_of_slots(series, candidates, limit, listed).values(), key=rank)

    def _slot_episodes(self, series: str, slots: dict[str, int], episode: int | None) -> set[int]:
        """The episodes whose records hold each slot's newest fact before a point of ``episode`` (``None``:
        the end): the slot's newest episode when it is not after ``episode``, else the newest one up to it
        from the slot's directory records, block by block back to the first episode the names touched it;
        and ``episode`` and the one before, whatever the pointers say."""
        if episode is None:
            heads = index.read(self._index, [index.head_id(series, s) for s in slots])
            return {last for m in heads.values() if isinstance(last := m.get("last"), int)}
        block = episode // index.BLOCK
        found = {e for e in (episode, episode - 1) if e >= 0}
        ids = [index.head_id(series, s) for s in slots] + [index.dir_id(series, s, block) for s in slots]
        got = index.read(self._index, ids)
        open_slots: dict[str, int] = {}
        for slot, first in slots.items():
            last = (got.get(index.head_id(series, slot)) or {}).get("last")
            # Before the scene's own episode (read anyway), whose facts of the slot may all come after the point.
            eps = index.loads(got.get(index.dir_id(series, slot, block)), "episodes", [])
            older = [e for e in eps if e < episode]
            if older:
                found.add(max(older))
            elif isinstance(last, int) and last < episode:
                found.add(last)
            elif block > first // ORDER_STRIDE // index.BLOCK:
                open_slots[slot] = block - 1
        while open_slots:  # slots absent from this block: the blocks before, one read per round
            got = index.read(self._index, [index.dir_id(series, s, b) for s, b in open_slots.items()])
            for slot, b in list(open_slots.items()):
                eps = [
                    e
                    for e in index.loads(got.get(index.dir_id(series, slot, b)), "episodes", [])
                    if e < episode
                ]
                if eps:
                    found.add(max(eps))
                if eps or b <= slots[slot] // ORDER_STRIDE // index.BLOCK:
                    del open_slots[slot]
                else:
                    open_slots[slot] = b - 1
        return found

    def _newest_of_slots(
        self,
        series: str,
        candidates: dict[str, list[index.Entry]],
        limit: int | None,
        listed: dict[str, Meta] | None = None,
    ) -> dict[str, Fact]:
        """Per slot the newest of its candidates that is stored, active and of that slot; a slot whose
        candidates are all gone is read with a filter on it (the rare case: a flashback, a retired scene).
        ``listed``: the ``e|`` records the candidates come from (:meth:`_candidates`)."""
        found: dict[str, Fact] = {}
        while candidates:
            asked = {slot: rows[-1] for slot, rows in candidates.items() if rows}
            facts = self._candidates(series, list(asked.values()), listed)
            for slot, (_, _, fid) in asked.items():
                f = facts.get(fid)
                if f is not None and f.slot == slot and (limit is None or f.order < limit):
                    found[slot] = f
                    del candidates[slot]
                else:
                    candidates[slot].pop()
            for slot in [s for s, rows in candidates.items() if not rows]:
                del candidates[slot]
                where: list[dict[str, Any]] = [{"series": series}, {"slot": slot}]
                if limit is not None:
                    where.append({"order": {"$lt": limit}})
                got = _read_all(self._facts, {"$and": where})
                rows = [
                    _fact(d, m) for d, m in zip(got.documents, got.metadatas, strict=True) if _is_active(m)
                ]
                if rows:
                    found[slot] = max(rows, key=rank)
        return found

    def _candidates(
        self, series: str, entries: list[index.Entry], listed: dict[str, Meta] | None
    ) -> dict[str, Fact]:
        """The active facts among ``entries``, by id: read from the facts collection, or, while Chroma is still
        loading its vector index (which a read of it would wait for), from the copies in the facts index's ``t|``
        records of their episodes, where those are the typed facts the episodes' ``e|`` records (``listed``)
        list (memory/index.py); the rest from the facts collection."""
        ids = [fid for _, _, fid in entries]
        if listed is None or self._facts_loaded.is_set():
            return {f.id: f for f in self._facts_by_id(ids)}
        episodes = sorted({order // ORDER_STRIDE for order, _, _ in entries})
        copies: dict[str, index.Stored] = {}
        wholes = index.read(self._index, [index.typed_id(series, e) for e in episodes])
        for e in episodes:
            rows = index.typed(listed.get(index.episode_id(series, e)), wholes.get(index.typed_id(series, e)))
            copies.update(rows or {})
        found = {fid: _fact(*copies[fid]) for fid in ids if fid in copies and _is_active(copies[fid][1])}
        found.update({f.id: f for f in self._facts_by_id([fid for fid in ids if fid not in copies])})
        return found

    def _slots(self, series: str, characters: list[str], limit: int | None) -> dict[str, int]:
        """The slots ``characters`` (aliases resolved) are named in before ``limit`` (``None``: the end),
        each with the first story order one of them was, from the names' index records."""
        keys = self._name_keys(series, characters, None if limit is None else _position(limit))
        out: dict[str, int] = {}
        for meta in index.read(self._index, [index.name_id(series, k) for k in sorted(keys)]).values():
            for slot, first in index.loads(meta, "slots", {}).items():
                if limit is None or first < limit:
                    out[slot] = min(out.get(slot, first), first)
        return out

    def get_fact(self, fact_id: str) -> Fact | None:
        """One fact by id, whatever its status."""
        got = self._facts.get(ids=[fact_id], include=["metadatas", "documents"])
        return _fact(_docs(got)[0], _metas(got)[0]) if got["ids"] else None

    def all_facts(self, series: str) -> list[Fact]:
        """Every fact of the series, whatever its status, in story order (review: ``dsr memory show``)."""
        got = _read_all(self._facts, {"series": series})
        rows = (_fact(d, m) for d, m in zip(got.documents, got.metadatas, strict=True))
        return sorted(rows, key=lambda f: (f.order, f.id))

    def set_fact(self, fact: Fact) -> None:
        """Store ``fact`` as it is, status included (a writer's correction, or the record of one)."""
        self._facts.upsert(ids=[fact.id], documents=[fact.text], metadatas=[_fact_meta(fact)])
        self.index_facts([fact])

    def series(self) -> list[str]:
        """Every series the store holds anything of."""
        names: set[str] = set()
        for col in (self._scenes, self._facts, self._characters):
            names.update(meta["series"] for meta in _read_all(col, documents=False).metadatas)
        return sorted(names)

    def facts(
        self,
        series: str,
        *,
        characters: list[str] | None = None,
        query: Query | None = None,
        before: Position | None = None,
        k: int = 10,
    ) -> list[Fact]:
        """Facts of the series, optionally about any of ``characters`` (aliases resolved) and before a point.

        With ``query`` (a text or its vector): the ``k`` most similar, most relevant first. Without: the
        ``k`` newest, in story order, read from the last episodes' records when ``before`` is given.
        """
        if k <= 0:
            return []
        keys: set[str] = set()
        if characters:
            keys = self._name_keys(series, characters, before)
            if not keys:
                return []
        vector = self._vector(query)
        if vector is not None and not characters:
            ids = self._nearest(self._facts, vector, series, before, k)
            return self._facts_by_id(ids)
        if vector is not None:
            # The nearest facts in distance order, checked for the characters as the pool grows: a
            # character's facts are a fair share of the series', so a pool of 4k usually holds k.
            found: list[Fact] = []
            seen = 0
            for pool in (4 * k, 16 * k, 64 * k):
                ranked = self._nearest(self._facts, vector, series, before, pool)
                found += [
                    f for f in self._facts_by_id(ranked[seen:]) if keys & {name_key(c) for c in f.characters}
                ]
                if len(found) >= k or len(ranked) < pool:
                    return found[:k]
                seen = pool
            return self._nearest_about(series, vector, before, k, keys)
        if before is not None:
            return self._newest_facts(series, before, k, keys)
        about = [_any_of("char_keys", keys)] if keys else []
        got = self._facts.get(where=_where(series, None, *about), include=["metadatas", "documents"])
        found = sorted(
            (_fact(d, m) for d, m in zip(_docs(got), _metas(got), strict=True) if _is_active(m)),
            key=_by_order,
        )
        return found[-k:]

    def _newest_facts(self, series: str, before: Position, k: int, keys: set[str]) -> list[Fact]:
        """The ``k`` newest facts before ``before`` (about ``keys`` when given), from the facts index's
        records of the last episodes (read by id: memory/index.py), the facts themselves read by id; a
        character absent for ``_EPISODES_BACK`` episodes falls back to whole episodes back from the point
        (:meth:`_latest`)."""
        limit, episode = order_of(*before), before[0]
        for span in (2, _EPISODES_BACK):
            ids = [index.episode_id(series, e) for e in range(episode, max(-1, episode - span), -1)]
            listed = sorted(
                {
                    (int(order), str(fid))
                    for meta in index.read(self._index, ids).values()
                    for order, _, fid, _, names in index.rows(meta)
                    if order < limit and (not keys or keys & set(names))
                },
                reverse=True,
            )
            found: list[Fact] = []
            while listed and len(found) < k:
                take, listed = listed[: k - len(found)], listed[k - len(found) :]
                found += [
                    f
                    for f in self._facts_by_id([fid for _, fid in take])
                    if f.series == series and f.order < limit
                ]
            if len(found) >= k or episode - span < 0:
                return sorted(found, key=lambda f: (f.order, f.id))
        rows = self._latest(self._facts, series, before, k, keys)
        return [_fact(d, m) for d, m in rows if _is_active(m)]

    def _nearest_about(
        self, series: str, vector: Sequence[float], before: Position | None, k: int, keys: set[str]
    ) -> list[Fact]:
        """The ``k`` facts about ``keys`` (their ``char_keys``) of ``series`` before ``before`` nearest to
        ``vector``, nearest first, less the ones not active: a search filtered on the names alone, series and
        position checked on the ids, its result widened eightfold until ``k`` qualify or the names' facts run
        out. The same facts as one search filtered on series, position and names together, at a fraction of its
        cost: a clause on the series or on ``order`` matches most of the store, and SQLite builds every
        clause's matches (a second at 500,000 facts), where the names' clause alone matches their facts only
        (280 ms for a character in a sixth of them; less the rarer the character, the case that ends here).
        What a search filtered in SQLite costs hardly depends on ``n_results``, so the first asks for many."""
        limit = order_of(*before) if before is not None else None
        n = max(64 * k, _MIN_POOL)
        while True:
            got = self._facts.query(
                query_embeddings=[vector], n_results=n, where=_any_of("char_keys", keys), include=[]
            )["ids"][0]
            found = [fid for fid in got if _qualifies(fid, series, limit)]
            if len(found) >= k or len(got) < n:
                return self._facts_by_id(found[:k])
            n *= 8

    def _facts_by_id(self, ids: list[str]) -> list[Fact]:
        """The facts with these ids, in the order given."""
        if not ids:
            return []
        got = self._facts.get(ids=ids, include=["metadatas", "documents"])
        rows = {
            fid: _fact(d, m)
            for fid, d, m in zip(got["ids"], _docs(got), _metas(got), strict=True)
            if _is_active(m)
        }
        return [rows[fid] for fid in ids if fid in rows]

    def stats(self) -> dict[str, int]:
        return {
            "characters": self._characters.count(),
            "scenes": self._scenes.count(),
            "facts": self._facts.count(),
        }


def _touch(col: chromadb.Collection) -> None:
    """A read of ``col`` that returns nothing: Chroma loads the collection's vector index for it."""
    col.get(ids=["\x00warm"], include=[])


class _Rows(NamedTuple):
    ids: list[str]
    documents: list[str]  # empty when not read
    metadatas: list[Meta]


def _read_all(
    col: chromadb.Collection, where: dict[str, Any] | None = None, *, documents: bool = True
) -> _Rows:
    """``col.get`` of everything ``where`` matches (metadata, and documents unless told not to), in pages:
    one get of tens of thousands of records can exceed SQLite's bound-variable limit inside chroma ("too
    many SQL variables")."""
    include: Include = ["metadatas", "documents"] if documents else ["metadatas"]
    out = _Rows([], [], [])
    offset = 0
    while True:
        got = col.get(where=where, include=include, limit=_PAGE, offset=offset)
        out.ids.extend(got["ids"])
        out.metadatas.extend(_metas(got))
        if documents:
            out.documents.extend(_docs(got))
        if len(got["ids"]) < _PAGE:
            return out
        offset += _PAGE


def _last_per_id(recs: list[Any], embeddings: Embeddings | None) -> tuple[list[Any], Embeddings | None]:
    """One record per id, the last one winning (as an upsert would), with its precomputed vector if given."""
    unique = {rec.id: i for i, rec in enumerate(recs)}
    rows = [recs[i] for i in unique.values()]
    return rows, None if embeddings is None else [embeddings[i] for i in unique.values()]


def _position(order: int) -> Position:
    return divmod(order, ORDER_STRIDE)


def _by_order(rec: SceneRecord | Fact) -> int:
    return rec.order


def _qualifies(record_id: str, series: str, limit: int | None) -> bool:
    """Whether a scene or fact id (``series:EEEE:SSSS[:digest]``) is of ``series`` and before ``limit``."""
    order = order_in_id(record_id, series)
    return order is not None and (limit is None or order < limit)
