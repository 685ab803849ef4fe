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
- ``v|index``: the layout version; a store written before the index is indexed once when first opened.

The index is a guide, the facts collection the truth: every fact it points to is read by id and kept only if
it is there, active and of the position the index says, so a fact deleted, retired (memory/retire.py sweeps
by story position; these records carry none) or corrected since leaves the index pointing at nothing and the
reader takes the next candidate. Records are merged read-then-write; the newest-episode pointer of two
processes extending one slot at the same moment can lose the other's episode, so readers also look at the
scene's own episode and the one before, and fall back to a filtered read of the slot when the records read
hold no candidate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dsr.memory.records import Fact, name_key
from dsr.memory.state import SOURCE_RANK

NAME = "fact_index"
VERSION = 3
BLOCK = 64  # episodes per slot directory record
VERSION_ID = "v|index"
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


def index_facts(col: Any, facts: Sequence[Fact], batch: int) -> None:
    """Add ``facts`` (stored, whatever their status) to the index: their episodes' records, their slots'
    newest episodes, the names' slots. Existing records are read first and merged (a fact listed again
    replaces its row)."""
    typed = [f for f in facts if f.slot is not None]
    by_episode: dict[str, list[Fact]] = {}
    for f in facts:
        by_episode.setdefault(episode_id(f.series, f.episode), []).append(f)
    names: dict[str, dict[str, int]] = {}
    heads: dict[str, int] = {}
    dirs: dict[str, set[int]] = {}
    for f in typed:
        dirs.setdefault(dir_id(f.series, f.slot or "", f.episode // BLOCK), set()).add(f.episode)
        slot = f.slot or ""
        for key in touched_keys(f):
            slots = names.setdefault(name_id(f.series, key), {})
            slots[slot] = min(slots.get(slot, f.order), f.order)
        hid = head_id(f.series, slot)
        heads[hid] = max(heads.get(hid, 0), f.episode)
    old = read(col, [*names, *heads, *dirs, *by_episode])
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
        if any(have.get(i) != r for i, r in add.items()):
            have.update(add)
            records[rid] = {"series": new[0].series, "facts": json.dumps(sorted(have.values()))}
    write(col, records, batch)


def unindex(col: Any, facts: Sequence[Fact], batch: int) -> None:
    """Take deleted facts out of their episodes' records (readers skip what is gone anyway)."""
    gone = {f.id for f in facts}
    records: dict[str, dict[str, Any]] = {}
    for rid, meta in read(col, {episode_id(f.series, f.episode) for f in facts}).items():
        have = rows(meta)
        kept = [r for r in have if r[2] not in gone]
        if len(kept) != len(have):
            records[rid] = {**meta, "facts": json.dumps(kept)}
    write(col, records, batch)
