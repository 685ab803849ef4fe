"""Previous context P for a scene (DSR-SPEC 5.3), built from memory within a token budget.

Token counts are approximate on purpose: ``words * 1.3`` (English BPE averages about 1.3 tokens per
word), with every CJK character counted as a word, so no tokenizer has to be loaded to budget a prompt.
"""

from __future__ import annotations

import math
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from dsr.memory.profiles import merge_profile
from dsr.memory.records import Fact, SceneRecord, name_key
from dsr.memory.store import StoryMemory

_WORD = re.compile(
    r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\s\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]+"
)
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]|\w+")
RECENT_K = 3
SIMILAR_K = 3
FACTS_K = 8
TAIL_SHARE = 4  # the previous scene's tail gets at most 1/4 of the budget


ECHO = 0.8  # share of an item's word 3-grams another item must already say for it to add nothing


def approx_tokens(text: str | None) -> int:
    """Approximate token count: ``ceil(words * 1.3)``; each CJK character counts as one word."""
    return math.ceil(len(_WORD.findall(text or "")) * 1.3)


def _clip_end(text: str, budget: int) -> str:
    """The end of ``text`` (whole words, original spacing) within ``budget`` tokens, marked with "…"."""
    words = list(_WORD.finditer(text))
    if approx_tokens(text) <= budget:
        return text
    keep = int(budget / 1.3) - 1  # one word's worth for the ellipsis
    return "… " + text[words[-keep].start() :] if keep > 0 else ""


def _where_label(rec: SceneRecord | Fact) -> str:
    return f"E{rec.episode} S{rec.scene_no}"


def _shingles(text: str) -> set[tuple[str, ...]]:
    """Word n-grams (n = 3, fewer for a shorter text) of ``text``, case- and punctuation-blind."""
    words = _TOKEN.findall(text.casefold())
    n = min(3, len(words))
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)} if n else set()


def _covers(item: set[tuple[str, ...]], other: set[tuple[str, ...]]) -> bool:
    """Whether ``item`` already says (almost) all of ``other``: an outline beat stored as a fact is an
    echo of the scene summary that quotes it, whatever the casing, punctuation or a clipped ending."""
    if not other:
        return True
    shorter = len(next(iter(other)))
    if shorter < 3:  # a one- or two-word text: compare at its own n-gram size
        item = {g[i : i + shorter] for g in item for i in range(len(g) - shorter + 1)}
    return len(item & other) >= ECHO * len(other)


class _Line(NamedTuple):
    label: str
    rec: SceneRecord | Fact
    text: str
    shingles: set[tuple[str, ...]]

    @property
    def rendered(self) -> str:
        return f"{self.label} ({_where_label(self.rec)}): {self.text}"


def scene_query(synopsis: str, names: list[str]) -> str:
    """The text a scene's memory searches are made with: its synopsis and the characters it names."""
    return " ".join([synopsis, *names]).strip()


def embed_scene_queries(mem: StoryMemory, scenes: list[tuple[str, list[str]]]) -> None:
    """Embed the queries of ``scenes`` (synopsis, names) in one batch, so each scene's retrieval finds its
    query vector cached: batched, a query costs about a third of one embedded alone on this CPU."""
    queries = [q for synopsis, names in scenes if (q := scene_query(synopsis, names))]
    if queries:
        mem.embedding.embed_queries(queries)


def build_previous_context(
    mem: StoryMemory,
    series: str,
    episode: int,
    scene_no: int,
    synopsis: str,
    names: list[str],
    *,
    premise: str | None = None,
    budget_tokens: int = 600,
    shown: set[str] | frozenset[str] = frozenset(),
) -> tuple[str, str | None, list[str]]:
    """``(story_so_far, prev_scene_tail, source_ids)`` for scene (episode, scene_no).

    The budget covers all of P as rendered: premise, the previous scene's tail (how the scene just
    before ended, across episode boundaries) and story_so_far. Items enter story_so_far by priority —
    recent scenes newest first, then facts about ``names`` by relevance, then similar earlier scenes
    (MMR) — and are skipped when they do not fit or say nothing new: an item whose text another chosen
    item already says (``ECHO`` of its word 3-grams) is left out, and a scene that says all of an
    already chosen fact replaces it, so an outline line never appears twice. They are printed in story
    order, one line each: ``Earlier (E1 S2): ...`` (similar hits), ``Recently (E2 S4): ...``,
    ``Known (E1 S3): fact``. The query (synopsis and names) is embedded once for both searches. Facts
    whose ids are in ``shown`` are left out: the scene's inputs already show them (a character's state).
    """
    before = (episode, scene_no)
    query = scene_query(synopsis, names)
    vector = mem.embedding.query_vector(query) if query else None
    # Chroma spends these reads in native code (or waiting on a server), so the facts read (on a thread of this
    # call's own) overlaps the scenes' two reads (the similar scenes' search, then the recent and similar ones).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="memory-read") as reads:
        facts_read = reads.submit(
            mem.facts, series, characters=names or None, query=vector, before=before, k=FACTS_K
        )
        recent, similar = mem.recent_and_similar(
            series, vector, before, recent_k=RECENT_K, similar_k=SIMILAR_K
        )
        facts = [f for f in facts_read.result() if f.id not in shown]

    tail = recent[-1].tail.strip() if recent and recent[-1].tail else None
    if tail:
        tail = _clip_end(tail, budget_tokens // TAIL_SHARE) or None
    left = budget_tokens - approx_tokens(premise) - approx_tokens(tail)

    candidates: list[tuple[str, SceneRecord | Fact, str]] = [
        *(("Recently", s, s.summary) for s in reversed(recent)),
        *(("Known", f, f.text) for f in facts),
        *(("Earlier", s, s.summary) for s in similar),
    ]
    chosen: list[_Line] = []
    for label, rec, text in candidates:
        flat = " ".join(text.split())
        line = _Line(label, rec, flat, _shingles(flat))
        if any(_covers(c.shingles, line.shingles) for c in chosen):
            continue
        cost = approx_tokens(line.rendered)
        if cost > left:
            continue
        echoed = [c for c in chosen if _covers(line.shingles, c.shingles)]
        chosen = [c for c in chosen if c not in echoed] + [line]
        left -= cost - sum(approx_tokens(c.rendered) for c in echoed)
    section = {"Earlier": 0, "Recently": 1, "Known": 2}
    chosen.sort(key=lambda c: (section[c.label], c.rec.order))
    story_so_far = "\n".join(c.rendered for c in chosen)
    return story_so_far, tail, [c.rec.id for c in chosen]


def profiles_for(
    mem: StoryMemory,
    series: str,
    names: list[str],
    before: tuple[int, int] | None,
    given: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """C for a scene: the profile (a CharacterProfile dump) of each named character memory knows, in
    the order named: the episode file's (from ``given``, matched by name or alias) completed with the
    details earlier episodes established (see :mod:`dsr.memory.profiles`), so a shorter profile in a later
    episode file loses nothing it does not replace. Names memory does not know are left out for the
    caller to fill from the episode."""

    def vectors(texts: list[str]) -> np.ndarray:  # cached per sentence: every scene asks again
        return np.asarray([mem.embedding.query_vector(t) for t in texts], dtype=np.float32)

    by_key = {name_key(n): p for p in given or [] for n in [p["name"], *(p.get("aliases") or [])]}
    merged = []
    for rec in mem.profiles(series, names, before=before):
        mine = next((by_key[k] for k in sorted(rec.keys()) if k in by_key), None)
        merged.append(merge_profile(mine, rec.profile, rec.episode, vectors))
    return merged
