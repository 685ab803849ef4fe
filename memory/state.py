"""What the facts say at a story position: supersession, and each character's state derived from them.

A typed fact is the latest word on its slot (:attr:`dsr.memory.records.Fact.slot`) until a later active fact of
the same slot supersedes it: the key changes hands, a wound heals, a character moves on. Nothing is
deleted: :meth:`dsr.memory.store.StoryMemory.fact_history` returns every fact before a point, and
:func:`resolve` picks what held there, so a flashback or a resumed run sees the story as it stood. At one
story position a writer's fact wins over an extracted one, which wins over the outline's.

A character's state (where they are, what they hold, their condition, what they know, their relationships,
whether they are dead) is read off the current facts about them, each detail with the position that
established it: ``holds: Tom has the brass key (E1 S4)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dsr.memory.records import Fact, canonical_kind, name_key

#: At one story position, whose word counts most.
SOURCE_RANK = {"outline": 0, "extracted": 1, "writer": 2}
#: How each kind of detail is labelled in a character's state, in the order they are shown.
LABELS = {
    "death": "dead",
    "location": "where",
    "state": "condition",
    "holder": "holds",
    "knowledge": "knows",
    "relationship": "relationship",
}
MAX_DETAILS = 8  # per character in a scene's inputs: the newest, most important kinds first


def rank(fact: Fact) -> tuple[int, int, str]:
    """Story order; at one position the outline's word first and the writer's last (the last one stands)."""
    return fact.order, SOURCE_RANK.get(fact.source, 1), fact.id


def resolve(facts: Iterable[Fact]) -> tuple[list[Fact], dict[str, str]]:
    """``(current, superseded)`` of ``facts`` (active ones, as of the point they were read before).

    ``current``: every fact without a slot, and per slot the newest one (story order; a tie goes to the
    writer, then to extraction), in story order. ``superseded`` maps each replaced fact's id to the id of
    the fact that replaced it.
    """
    latest: dict[str, Fact] = {}
    superseded: dict[str, str] = {}
    current: list[Fact] = []
    for fact in sorted((f for f in facts if f.active), key=rank):
        slot = fact.slot
        if slot is None:
            current.append(fact)
            continue
        if slot in latest:
            superseded[latest[slot].id] = fact.id
        latest[slot] = fact
    return sorted([*current, *latest.values()], key=rank), superseded


@dataclass
class CharacterState:
    """One character's state at a story position, every detail with the fact behind it."""

    name: str
    details: list[tuple[str, Fact]] = field(default_factory=list)  # (label, fact)

    def ranked(self, limit: int = MAX_DETAILS) -> list[tuple[str, Fact]]:
        """At most ``limit`` details: deaths and whereabouts first, then the other kinds, newest first."""
        order = list(LABELS.values())
        return sorted(self.details, key=lambda d: (order.index(d[0]), -d[1].order))[:limit]

    def lines(self, limit: int = MAX_DETAILS) -> list[str]:
        """``label: fact text (E1 S3)`` for each of :meth:`ranked`."""
        return [f"{label}: {fact.text.strip()} ({fact.where})" for label, fact in self.ranked(limit)]


def _touches(fact: Fact, keys: set[str]) -> str | None:
    """The label under which ``fact`` belongs to a character answering to ``keys``, or None."""
    kind = canonical_kind(fact.kind)
    if kind not in LABELS:
        return None
    subject, about = name_key(fact.subject), name_key(fact.about)
    if kind == "holder":  # the object is the subject; the holder is what it is about
        return LABELS[kind] if about in keys else None
    if subject in keys or (kind == "relationship" and about in keys):
        return LABELS[kind]
    return None


def character_states(facts: Iterable[Fact], cast: dict[str, set[str]]) -> dict[str, CharacterState]:
    """Each character's state from ``facts`` (read before the point of interest; superseded ones are
    resolved away here). ``cast`` maps a character's name to every key it answers to (name and
    aliases, see :func:`dsr.memory.records.name_key`). Characters with no detail are left out."""
    current, _ = resolve(facts)
    states: dict[str, CharacterState] = {}
    for name, keys in cast.items():
        details = [(label, f) for f in current if (label := _touches(f, keys)) is not None]
        if details:
            states[name] = CharacterState(name, details)
    return states


def in_priority(facts: Iterable[Fact]) -> list[Fact]:
    """Typed facts most worth checking first: deaths, whereabouts, conditions, holdings, knowledge,
    relationships (the order of :data:`LABELS`), newest first within a kind; untyped facts last."""
    order = list(LABELS)
    return sorted(
        facts,
        key=lambda f: (
            order.index(k) if (k := canonical_kind(f.kind)) in order else len(order),
            -f.order,
            f.id,
        ),
    )
