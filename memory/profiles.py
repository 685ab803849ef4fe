"""Merged character profiles: what an earlier episode established survives a later, shorter profile.

A profile (a ``CharacterProfile`` dump) is read as details: each sentence of its text fields, each
relationship (one per target) and the ``state``. The episode file's profile is canonical for what it
says; a remembered detail it does not restate is kept, marked with the episode that established it
(``[from E1] Always carries a brass compass.``), unless the file replaces it: a relationship to the
same target, a ``state``, or a sentence of the same field on the same subject (embedding similarity at
or above ``REPLACES``: "Trusts Tom." -> "No longer trusts Tom."). Unmarked details come from the
episode file of the scene being written.

The marks are plain text on purpose: the merged profile is what the scene's inputs show and what
commit stores, so the provenance travels with it and a later merge reads it back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from dsr.memory.records import name_key

TEXT_FIELDS = ("background", "personality")
REPLACES = 0.75
_MARK = re.compile(r"^\[from E(\d+)\]\s*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")

Embed = Callable[[list[str]], np.ndarray]


def mark(text: str, episode: int) -> str:
    """``text`` with the episode that established it: ``[from E1] text``."""
    return f"[from E{episode}] {text}".rstrip()


def unmark(text: str, default: int) -> tuple[str, int]:
    """``(text, episode)`` of a possibly marked detail; ``default`` when it carries no mark."""
    found = _MARK.match(text)
    return (text[found.end() :], int(found.group(1))) if found else (text, default)


def sentences(text: str | None) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text or "") if s.strip()]


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _kept_sentences(given: list[str], remembered: list[tuple[str, int]], embed: Embed) -> list[str]:
    """Remembered sentences (marked) that the given ones neither restate nor replace."""
    said = {_norm(s) for s in given}
    left = [(text, ep) for text, ep in remembered if _norm(text) not in said]
    if left and given:
        vectors = embed([text for text, _ in left] + given)
        similarity = vectors[: len(left)] @ vectors[len(left) :].T
        left = [row for row, sims in zip(left, similarity, strict=True) if float(sims.max()) < REPLACES]
    return [mark(text, ep) for text, ep in left]


def merge_profile(
    given: dict[str, Any] | None, remembered: dict[str, Any], episode: int, embed: Embed
) -> dict:
    """``given`` (the episode file's profile, or None) completed with the ``remembered`` one's details.

    ``episode`` is where the remembered version was stored: the origin of its unmarked details.
    """
    mine = dict(given or {})
    merged = dict(remembered) | mine
    for field in TEXT_FIELDS:
        if field in merged:
            own = sentences(mine.get(field))
            theirs = [unmark(s, episode) for s in sentences(remembered.get(field))]
            merged[field] = " ".join([*own, *_kept_sentences(own, theirs, embed)])
    if "relationships" in merged:
        relationships = list(mine.get("relationships") or [])
        targets = {name_key(r["target"]) for r in relationships}
        for rel in remembered.get("relationships") or []:
            if name_key(rel["target"]) not in targets:
                dynamic, ep = unmark(rel.get("dynamic") or "", episode)
                relationships.append({**rel, "dynamic": mark(dynamic, ep)})
        merged["relationships"] = relationships
    if "aliases" in merged:
        merged["aliases"] = list(
            dict.fromkeys([*(mine.get("aliases") or []), *(remembered.get("aliases") or [])])
        )
    if not mine.get("state") and remembered.get("state"):
        state, ep = unmark(remembered["state"], episode)
        merged["state"] = mark(state, ep)
    return merged
