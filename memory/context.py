"""Previous context P for a scene (DSR-SPEC 5.3), built from memory within a token budget.

Token counts are approximate on purpose: ``words * 1.3`` (English BPE averages about 1.3 tokens per
word), with every CJK character counted as a word, so no tokenizer has to be loaded to budget a prompt.
"""

from __future__ import annotations

import math
import re

from memory.records import Fact, SceneRecord
from memory.store import StoryMemory

_WORD = re.compile(
    r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\s\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]+"
)
RECENT_K = 3
SIMILAR_K = 3
FACTS_K = 8
TAIL_SHARE = 4  # the previous scene's tail gets at most 1/4 of the budget


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
) -> tuple[str, str | None, list[str]]:
    """``(story_so_far, prev_scene_tail, source_ids)`` for scene (episode, scene_no).

    The budget covers all of P as rendered: premise, the previous scene's tail (how the scene just
    before ended, across episode boundaries) and story_so_far. Items enter story_so_far by priority —
    recent scenes newest first, then facts about ``names`` by relevance, then similar earlier scenes
    (MMR) — and are skipped when they do not fit; they are printed in story order, one line each:
    ``Earlier (E1 S2): ...`` (similar hits), ``Recently (E2 S4): ...``, ``Known (E1 S3): fact``.
    """
    before = (episode, scene_no)
    query = " ".join([synopsis, *names]).strip()
    recent = mem.recent_scenes(series, before, k=RECENT_K)
    similar = mem.similar_scenes(series, query, before, k=SIMILAR_K, exclude_ids={s.id for s in recent})
    facts = mem.facts(series, characters=names or None, query=query or None, before=before, k=FACTS_K)

    tail = recent[-1].tail.strip() if recent and recent[-1].tail else None
    if tail:
        tail = _clip_end(tail, budget_tokens // TAIL_SHARE) or None
    left = budget_tokens - approx_tokens(premise) - approx_tokens(tail)

    candidates: list[tuple[str, SceneRecord | Fact, str]] = [
        *(("Recently", s, s.summary) for s in reversed(recent)),
        *(("Known", f, f.text) for f in facts),
        *(("Earlier", s, s.summary) for s in similar),
    ]
    chosen: list[tuple[str, SceneRecord | Fact, str]] = []
    for label, rec, text in candidates:
        line = f"{label} ({_where_label(rec)}): {' '.join(text.split())}"
        cost = approx_tokens(line)
        if cost <= left:
            chosen.append((label, rec, line))
            left -= cost
    section = {"Earlier": 0, "Recently": 1, "Known": 2}
    chosen.sort(key=lambda c: (section[c[0]], c[1].order))
    story_so_far = "\n".join(line for _, _, line in chosen)
    return story_so_far, tail, [rec.id for _, rec, _ in chosen]


def profiles_for(
    mem: StoryMemory, series: str, names: list[str], before: tuple[int, int] | None
) -> list[dict]:
    """C for a scene: the latest stored profile (a CharacterProfile dump) of each named character, in
    the order named; names memory does not know are left out for the caller to fill from the episode."""
    return [rec.profile for rec in mem.profiles(series, names, before=before)]
