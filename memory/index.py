"""The facts index: small records beside the facts, read by id, so what a scene asks of the typed facts and of
the newest facts costs the same at any length of series (no whole read of the facts, in any process).

One Chroma collection, ``fact_index``, of records that carry no meaning as vectors (a constant one-dimensional
vector each; the collection has no embedding function). Ids, per series:

- ``n|SERIES|NAME``: the slots a name (a :func:`~dsr.memory.records.name_key`) is the subject or the ``about``
  of, each with the first story order it was (``slots``: JSON ``{slot: order}``). Grows with the slots a
  character touches, not with the facts.
- ``h|SERIES|SLOT``: the newest episode holding a fact of the slot (``last``).
- ``s|SERIES|SLOT|EPISODE``: the slot's facts in that episode (``facts``: JSON ``[[order, source rank, id],
  ...]``). Written by the run of that episode only, so two episodes written at once never write one record.
- ``e|SERIES|EPISODE``: every fact of the episode with the name keys it is about (``facts``: JSON ``[[order,
  id, [keys]], ...]``): the newest facts about a character before a point are read from the last episodes'.
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
VERSION = 1
VERSION_ID = "v|index"
_VECTOR = [1.0]
_GET = 2000  # ids per get (chroma binds each as an SQL variable)

Entry = tuple[int, int, str]  # (order, source rank, fact id): a slot's facts sort by it as state.rank does


def name_id(series: str, key: str) -> str:
    return f"n|{series}|{key}"


def head_id(series: str, slot: str) -> str:
    return f"h|{series}|{slot}"


def slot_id(series: str, slot: str, episode: int) -> str:
    return f"s|{series}|{slot}|{episode}"


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


def index_facts(col: Any, facts: Sequence[Fact], batch: int) -> None:
    """Add ``facts`` (stored, whatever their status) to the index: their slots' and episodes' records, the
    names' slots. Existing records are read first and merged (a fact already listed stays once)."""
    typed = [f for f in facts if f.slot is not None]
    by_slot_episode: dict[str, list[Fact]] = {}
    for f in typed:
        by_slot_episode.setdefault(slot_id(f.series, f.slot or "", f.episode), []).append(f)
    by_episode: dict[str, list[Fact]] = {}
    for f in facts:
        by_episode.setdefault(episode_id(f.series, f.episode), []).append(f)
    names: dict[str, dict[str, int]] = {}
    heads: dict[str, int] = {}
    for f in typed:
        slot = f.slot or ""
        for key in touched_keys(f):
            slots = names.setdefault(name_id(f.series, key), {})
            slots[slot] = min(slots.get(slot, f.order), f.order)
        hid = head_id(f.series, slot)
        heads[hid] = max(heads.get(hid, 0), f.episode)
    old = read(col, [*names, *heads, *by_slot_episode, *by_episode])
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
    for rid, rows in by_slot_episode.items():
        listed = {e[2]: tuple(e) for e in loads(old.get(rid), "facts", [])}
        new = {f.id: entry(f) for f in rows}
        if any(listed.get(i) != e for i, e in new.items()):
            listed.update(new)
            records[rid] = {"series": rows[0].series, "facts": json.dumps(sorted(listed.values()))}
    for rid, rows in by_episode.items():
        listed_e = {e[1]: (e[0], e[1], list(e[2])) for e in loads(old.get(rid), "facts", [])}
        new_e = {f.id: (f.order, f.id, fact_keys(f)) for f in rows}
        if any(listed_e.get(i) != e for i, e in new_e.items()):
            listed_e.update(new_e)
            records[rid] = {"series": rows[0].series, "facts": json.dumps(sorted(listed_e.values()))}
    write(col, records, batch)


def unindex(col: Any, facts: Sequence[Fact], batch: int) -> None:
    """Take deleted facts out of their slots' and episodes' records (readers skip what is gone anyway)."""
    gone = {f.id for f in facts}
    ids = {slot_id(f.series, f.slot, f.episode) for f in facts if f.slot is not None}
    ids |= {episode_id(f.series, f.episode) for f in facts}
    records: dict[str, dict[str, Any]] = {}
    for rid, meta in read(col, ids).items():
        rows = loads(meta, "facts", [])
        kept = [e for e in rows if (e[2] if rid.startswith("s|") else e[1]) not in gone]
        if len(kept) != len(rows):
            records[rid] = {**meta, "facts": json.dumps(kept)}
    write(col, records, batch)
