"""The facts index: small records beside the facts, read by id, so what a scene asks of the typed facts and of
the newest facts costs the same at any length of series (no whole read of the facts, in any process).

One Chroma collection, ``fact_index``, of records that carry no meaning as vectors (a constant one-dimensional
vector each; the collection has no embedding function). Ids, per series:

- ``n|SERIES|NAME``: the slots a name (a :func:`~dsr.memory.records.name_key`) is the subject or the ``about``
  of, each with the first story order it was (``slots``: JSON ``{slot: order}``). Grows with the slots a
  character touches, not with the facts.
- ``h|SERIES|SLOT``: the newest episode holding a fact of the slot (``last``).
- ``d|SERIES|SLOT|BLOCK``: the episodes of block ``BLOCK`` (episode // 64) holding a fact of the slot
  (``episodes``: JSON list): the newest one before a point in the middle of the story (a resumed run, a
  flashback) is one read, at most 64 numbers long.
- ``e|SERIES|EPISODE``: every fact of the episode (``facts``: JSON ``[[order, source rank, id, slot, [name
  keys]], ...]``, the slot ``""`` for an untyped fact). Written by the run of that episode only, so two
  episodes written at once never write one record; the state in force reads the episodes the slots' pointers
  name (a few: one per slot at most), the newest facts about a character the last episodes'.
- ``t|SERIES|EPISODE``: the episode's typed facts whole, as the facts collection holds them (``facts``: JSON
  ``{id: [text, metadata]}``, status included), so a process's first scene reads the state in force from the
  index alone instead of waiting for Chroma to load the facts collection's vector index (852 MB at 500,000 facts,
  1.5-4.5 s), which any read of a collection, even by id, does (memory/store.py uses them only while that load is
  in progress: once loaded, the few facts read by id cost less than these records). Used for an episode only
  when its ids are the typed ones its ``e|`` record lists: a store indexed before these records, or an episode
  whose facts an older version of this package added or deleted since, is read through the ``e|`` record and the
  facts collection as before. A write that finds an episode's record incomplete completes it from the facts
  collection; retirement (memory/retire.py) cuts an episode's ``e|`` and ``t|`` records before the facts go.
- ``v|index``: the layout version (``version``; ``typed``: 1 once every episode has its ``t|`` record from the
  start); a store written before the index is indexed once when first opened.

The collection persists its (tiny) vector index every ``SYNC`` writes instead of Chroma's 1,000: Chroma replays
the writes since the last persist, metadata and all, on a process's first read (150-300 ms for a few hundred
episode records), so a store whose index was created with the default is switched (:func:`tune`) when opened.

The index is a guide, the facts collection the truth (the ``t|`` copies, kept in step by every write of this
package, stand in for it while it loads): every fact it points to is read by id and kept only if
it is there, active and of the position the index says, so a fact deleted, retired (memory/retire.py sweeps
by story position; these records carry none) or corrected since leaves the index pointing at nothing and the
reader takes the next candidate. Records are merged read-then-write; the newest-episode pointer of two
processes extending one slot at the same moment can lose the other's episode, so readers also look at the
scene's own episode and the one before, and fall back to a filtered read of the slot when the records read
hold no candidate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from dsr.memory.records import Fact, name_key, order_in_id
from dsr.memory.state import SOURCE_RANK

NAME = "fact_index"
VERSION = 3
BLOCK = 64  # episodes per slot directory record
VERSION_ID = "v|index"
TYPED = 1  # the t| records' layout (v|index's ``typed``)
SYNC = 16  # index writes between persists of the collection's vector index (Chroma's default: 1,000)
CONFIGURATION: dict[str, Any] = {"hnsw": {"sync_threshold": SYNC}}
_VECTOR = [1.0]
_GET = 2000  # ids per get (chroma binds each as an SQL variable)

Entry = tuple[int, int, str]  # (order, source rank, fact id): a slot's facts sort by it as state.rank does
Listed = tuple[int, int, str, str, list[str]]  # an episode record's row: Entry, slot, name keys


def name_id(series: str, key: str) -> str:
    return f"n|{series}|{key}"


def head_id(series: str, slot: str) -> str:
    return f"h|{series}|{slot}"


def dir_id(series: str, slot: str, block: int) -> str:
    return f"d|{series}|{slot}|{block}"


def episode_id(series: str, episode: int) -> str:
    return f"e|{series}|{episode}"


def typed_id(series: str, episode: int) -> str:
    return f"t|{series}|{episode}"


Stored = tuple[str, dict[str, Any]]  # a fact as the facts collection holds it: (document, metadata)


class Whole(Protocol):
    """How the facts collection holds a fact (its document and metadata), and a read of stored facts by id:
    what :func:`index_facts` writes into and completes ``t|`` records with (memory/store.py)."""

    def stored(self, fact: Fact) -> Stored: ...

    def fetch(self, ids: list[str]) -> dict[str, Stored]: ...


def entry(fact: Fact) -> Entry:
    return fact.order, SOURCE_RANK.get(fact.source, 1), fact.id


def fact_keys(fact: Fact) -> list[str]:
    """The name keys a fact is about, as ``facts(characters=...)`` matches them (its ``char_keys``)."""
    return sorted({name_key(n) for n in fact.characters if n.strip()})


def touched_keys(fact: Fact) -> set[str]:
    """The names a typed fact is the subject or the ``about`` of."""
    return {name_key(fact.subject), name_key(fact.about)} - {""}


def read(col: Any, ids: Iterable[str]) -> dict[str, Mapping[str, Any]]:
    """The index records with these ids that exist: id -> metadata."""
    wanted = list(dict.fromkeys(ids))
    out: dict[str, Mapping[str, Any]] = {}
    for i in range(0, len(wanted), _GET):
        got = col.get(ids=wanted[i : i + _GET], include=["metadatas"])
        out.update(zip(got["ids"], got["metadatas"] or [], strict=True))
    return out


def loads(meta: Mapping[str, Any] | None, field: str, default: Any) -> Any:
    raw = (meta or {}).get(field)
    return json.loads(raw) if isinstance(raw, str) else default


def write(col: Any, records: dict[str, dict[str, Any]], batch: int) -> None:
    ids = list(records)
    for i in range(0, len(ids), batch):
        chunk = ids[i : i + batch]
        col.upsert(ids=chunk, embeddings=[_VECTOR] * len(chunk), metadatas=[records[r] for r in chunk])


def listed(fact: Fact) -> Listed:
    return (*entry(fact), fact.slot or "", fact_keys(fact))


def rows(meta: Mapping[str, Any] | None) -> list[Listed]:
    return [
        (int(o), int(r), str(i), str(slot), list(keys)) for o, r, i, slot, keys in loads(meta, "facts", [])
    ]


def typed(episode: Mapping[str, Any] | None, whole: Mapping[str, Any] | None) -> dict[str, Stored] | None:
    """An episode's typed facts from its ``t|`` record (``whole``), or ``None`` when that record is not the
    typed facts its ``e|`` record (``episode``) lists: absent (a store indexed before it), or out of step (an
    older version of this package added or deleted facts of the episode since)."""
    listed_ids = {r[2] for r in rows(episode) if r[3]}
    got = loads(whole, "facts", None)
    if not isinstance(got, dict) or set(got) != listed_ids:
        return None
    return {fid: (str(doc), dict(meta)) for fid, (doc, meta) in got.items()}


def index_facts(col: Any, facts: Sequence[Fact], batch: int, whole: Whole | None = None) -> None:
    """Add ``facts`` (stored, whatever their status) to the index: their episodes' records, their slots'
    newest episodes, the names' slots; with ``whole``, their episodes' typed facts whole too (``t|``), an
    episode's record completed from the facts collection where it lacks typed facts listed before (typed rows
    of facts no longer stored are dropped from both). Existing records are read first and merged (a fact listed
    again replaces its row)."""
    typed_facts = [f for f in facts if f.slot is not None]
    by_episode: dict[str, list[Fact]] = {}
    for f in facts:
        by_episode.setdefault(episode_id(f.series, f.episode), []).append(f)
    names: dict[str, dict[str, int]] = {}
    heads: dict[str, int] = {}
    dirs: dict[str, set[int]] = {}
    for f in typed_facts:
        dirs.setdefault(dir_id(f.series, f.slot or "", f.episode // BLOCK), set()).add(f.episode)
        slot = f.slot or ""
        for key in touched_keys(f):
            slots = names.setdefault(name_id(f.series, key), {})
            slots[slot] = min(slots.get(slot, f.order), f.order)
        hid = head_id(f.series, slot)
        heads[hid] = max(heads.get(hid, 0), f.episode)
    wholes = {rid: typed_id(new[0].series, new[0].episode) for rid, new in by_episode.items()}
    old = read(col, [*names, *heads, *dirs, *by_episode, *(wholes.values() if whole else ())])
    records: dict[str, dict[str, Any]] = {}
    for rid, slots in names.items():
        known: dict[str, int] = loads(old.get(rid), "slots", {})
        merged = {s: min(known.get(s, o), o) for s, o in slots.items()}
        if any(known.get(s) != o for s, o in merged.items()):
            records[rid] = {"series": rid.split("|")[1], "slots": json.dumps({**known, **merged})}
    for rid, last in heads.items():
        stored = (old.get(rid) or {}).get("last")
        if not isinstance(stored, int) or stored < last:
            records[rid] = {"series": rid.split("|")[1], "last": last}
    for rid, eps in dirs.items():
        known_eps = set(loads(old.get(rid), "episodes", []))
        if not eps <= known_eps:
            records[rid] = {"series": rid.split("|")[1], "episodes": json.dumps(sorted(known_eps | eps))}
    for rid, new in by_episode.items():
        have = {r[2]: r for r in rows(old.get(rid))}
        add = {f.id: listed(f) for f in new}
        changed = any(have.get(i) != r for i, r in add.items())
        have.update(add)
        if whole is not None:
            tid = wholes[rid]
            known_whole = loads(old.get(tid), "facts", None)
            was: dict[str, Any] = known_whole if isinstance(known_whole, dict) else {}
            kept = {fid: was[fid] for fid, r in have.items() if r[3] and fid in was}
            kept.update({f.id: list(whole.stored(f)) for f in new if f.slot is not None})
            missing = [fid for fid, r in have.items() if r[3] and fid not in kept]
            if missing:
                kept.update({fid: list(got) for fid, got in whole.fetch(missing).items()})
                gone = [fid for fid in missing if fid not in kept]  # listed, no longer stored
                for fid in gone:
                    del have[fid]
                changed = changed or bool(gone)
            if kept != was:
                records[tid] = {"series": new[0].series, "facts": json.dumps(kept, sort_keys=True)}
        if changed:
            records[rid] = {"series": new[0].series, "facts": json.dumps(sorted(have.values()))}
    write(col, records, batch)


def unindex(col: Any, facts: Sequence[Fact], batch: int) -> None:
    """Take deleted facts out of their episodes' records, typed facts' ``t|`` records included (readers skip
    what is gone anyway)."""
    gone = {f.id for f in facts}
    episodes = {(f.series, f.episode) for f in facts}
    _drop(col, [i for s, e in episodes for i in (episode_id(s, e), typed_id(s, e))], gone.__contains__, batch)


def retire(col: Any, series: str, episode: int, low: int, batch: int) -> None:
    """Take the facts of ``series`` episode ``episode`` at story order ``low`` or later out of the episode's
    records (memory/retire.py, before it deletes them)."""

    def doomed(fid: str) -> bool:
        order = order_in_id(fid, series)
        return order is not None and order >= low

    _drop(col, [episode_id(series, episode), typed_id(series, episode)], doomed, batch)


def _drop(col: Any, ids: list[str], doomed: Callable[[str], bool], batch: int) -> None:
    """Remove the facts whose ids ``doomed`` picks from the ``e|`` and ``t|`` records ``ids``."""
    records: dict[str, dict[str, Any]] = {}
    for rid, meta in read(col, ids).items():
        if rid.startswith("t|"):
            have_whole = loads(meta, "facts", None)
            if isinstance(have_whole, dict):
                kept_whole = {fid: v for fid, v in have_whole.items() if not doomed(fid)}
                if len(kept_whole) != len(have_whole):
                    records[rid] = {**meta, "facts": json.dumps(kept_whole, sort_keys=True)}
            continue
        have = rows(meta)
        kept = [r for r in have if not doomed(r[2])]
        if len(kept) != len(have):
            records[rid] = {**meta, "facts": json.dumps(kept)}
    write(col, records, batch)


def tune(col: Any, sync: int = SYNC) -> None:
    """Switch a collection created with Chroma's default persist interval to ``sync`` writes (see the module
    docstring), and write one of its records again, as it is, so the writes pending since its last persist are
    applied and persisted now, not replayed by every process's first read."""
    hnsw = (getattr(col, "configuration_json", None) or {}).get("hnsw") or {}
    if hnsw.get("sync_threshold") in (None, sync):
        return
    col.modify(configuration={"hnsw": {"sync_threshold": sync}})
    got = col.get(limit=1, include=["embeddings", "metadatas", "documents"])
    if got["ids"]:
        docs = got["documents"] or []
        col.upsert(
            ids=got["ids"],
            embeddings=got["embeddings"],
            metadatas=got["metadatas"],
            documents=docs if docs and all(isinstance(d, str) for d in docs) else None,
        )
