"""The reads that keep retrieval cheap in a long store return what the filtered reads they replace returned
(issue 25): the newest records before a point read episode by episode (``episode`` equality, answered from
SQLite's index) equal a read filtered on series and story position; the search about characters that the
pooled search falls back to (filtered on the names alone, series and position checked on the ids) equals a
search filtered on series, position and names together. Two series share the episode numbers, so the checks
on the series count. Real Chroma directories, precomputed vectors (the embedder is loaded, not used)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dsr.memory import Fact, SceneRecord, StoryMemory
from dsr.memory.embedding import load_model
from dsr.memory.records import name_key, order_of
from dsr.memory.store import _any_of, _where

pytestmark = pytest.mark.slow

SERIES, OTHER = "harbor", "inland"
CAST = ["MARA", "TOM", "JONAH", "ELSIE", "KIT"]


@pytest.fixture(scope="module", autouse=True)
def _embedder():
    load_model()


def unit(rng: np.random.Generator, dim: int) -> list[float]:
    v = rng.normal(size=dim)
    return (v / np.linalg.norm(v)).tolist()


def fill(mem: StoryMemory, seed: int = 5) -> None:
    """Two series over episodes 1..9 with gaps (no episodes 4..6 in ``SERIES``, scene numbers skipped), facts
    about one or two of the cast each (KIT rare), a few of them forgotten."""
    rng, vec = random.Random(seed), np.random.default_rng(seed)
    dim = mem.embedding.dim
    scenes: list[SceneRecord] = []
    facts: list[Fact] = []
    for series in (SERIES, OTHER):
        for ep in range(1, 10):
            if series == SERIES and ep in (4, 5, 6):
                continue
            for sc in range(1, 13):
                if rng.random() < 0.2:
                    continue
                names = rng.sample(CAST[:4], 2) if rng.random() > 0.05 else ["KIT"]
                scenes.append(
                    SceneRecord(
                        series=series,
                        episode=ep,
                        scene_no=sc,
                        summary=f"{series} {ep}.{sc}",
                        characters=names,
                    )
                )
                for i in range(3):
                    about = names[: 1 + (i % 2)]
                    facts.append(
                        Fact(
                            series=series,
                            episode=ep,
                            scene_no=sc,
                            text=f"{series} fact {ep}.{sc}.{i} about {' and '.join(about)}",
                            characters=about,
                            status="forgotten" if rng.random() < 0.05 else "active",
                        )
                    )
    mem.add_scenes(scenes, embeddings=[unit(vec, dim) for _ in scenes])
    mem.add_facts(facts, embeddings=[unit(vec, dim) for _ in facts])


def everything(mem: StoryMemory, col: Any, series: str) -> list[tuple[str, dict[str, Any]]]:
    got = col.get(where={"series": series}, include=["documents", "metadatas"])
    return list(zip(got["documents"], got["metadatas"], strict=True))


def newest(
    rows: list[tuple[str, dict[str, Any]]], point: tuple[int, int], k: int, keys: set[str]
) -> list[str]:
    """The reference: the ``k`` newest records before ``point`` (about ``keys``), from a whole read."""
    limit = order_of(*point)
    kept = [
        (m["order"], d)
        for d, m in rows
        if m["order"] < limit and (not keys or keys & set(m.get("char_keys") or ()))
    ]
    return [d for _, d in sorted(kept)[-k:]] if k else []


def test_the_newest_records_read_by_episode_are_those_a_position_filter_read(
    tmp_path: Path, monkeypatch
) -> None:
    with StoryMemory(tmp_path / "memory") as mem:
        fill(mem)
        scenes, facts = everything(mem, mem._scenes, SERIES), everything(mem, mem._facts, SERIES)
        wheres: list[Any] = []
        for col in (mem._scenes, mem._facts):
            real = col.get

            def spy(*args: Any, _real: Any = real, **kw: Any) -> Any:
                wheres.append(kw.get("where"))
                return _real(*args, **kw)

            monkeypatch.setattr(col, "get", spy)
        points = [
            (1, 0),
            (1, 1),
            (1, 5),
            (2, 1),
            (3, 12),
            (4, 1),
            (6, 7),
            (7, 0),
            (7, 1),
            (7, 2),
            (9, 13),
            (12, 1),
        ]
        for point in points:
            for k in (0, 1, 3, 8, 40):
                got = [d for d, _ in mem._latest(mem._scenes, SERIES, point, k)]
                assert got == newest(scenes, point, k, set()), (point, k)
                assert [s.summary for s in mem.recent_scenes(SERIES, point, k=k)] == got, (point, k)
                for names in (["MARA"], ["KIT"], ["TOM", "ELSIE"]):
                    keys = {name_key(n) for n in names}
                    got = [d for d, _ in mem._latest(mem._facts, SERIES, point, k, keys)]
                    assert got == newest(facts, point, k, keys), (point, k, names)
        # Equality or $in on the episode only: no clause on the series, on the names or on a range of order.
        filtered = [w for w in wheres if w is not None]
        assert filtered and all(set(w) == {"episode"} for w in filtered), filtered


def filtered_search(
    mem: StoryMemory, vector: list[float], point: tuple[int, int] | None, k: int, keys: set[str]
):
    """The reference: one search filtered on series, position and names in Chroma, the inactive left out."""
    hits = mem._facts.query(
        query_embeddings=[vector],
        n_results=k,
        where=_where(SERIES, point, _any_of("char_keys", keys)),
        include=["metadatas"],
    )
    return [
        fid for fid, m in zip(hits["ids"][0], hits["metadatas"][0], strict=True) if m["status"] == "active"
    ]


def test_the_search_about_characters_finds_what_the_filtered_search_found(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    with StoryMemory(tmp_path / "memory") as mem:
        fill(mem)
        for point in [(1, 4), (2, 1), (3, 6), (7, 1), (9, 12), None]:
            for names in (["MARA"], ["KIT"], ["TOM", "JONAH"]):
                keys = {name_key(n) for n in names}
                for k in (1, 3, 8):
                    vector = unit(rng, mem.embedding.dim)
                    got = [f.id for f in mem._nearest_about(SERIES, vector, point, k, keys)]
                    assert got == filtered_search(mem, vector, point, k, keys), (point, names, k)


def test_the_search_about_characters_widens_past_the_later_facts(tmp_path: Path) -> None:
    """A character's facts nearest to the query all later than the point: the search widens until it
    reaches the few before it, and the pooled search of ``facts`` ends there when its pools hold too few."""
    rng = np.random.default_rng(3)
    with StoryMemory(tmp_path / "memory") as mem:
        dim = mem.embedding.dim
        query = unit(rng, dim)
        near = np.asarray(query)
        late = [
            Fact(series=SERIES, episode=5, scene_no=1 + i % 40, text=f"Mara late {i}.", characters=["MARA"])
            for i in range(600)
        ]
        others = [
            Fact(series=SERIES, episode=1, scene_no=1 + i % 40, text=f"Tom early {i}.", characters=["TOM"])
            for i in range(300)
        ]
        early = [
            Fact(series=SERIES, episode=1, scene_no=i + 1, text=f"Mara early {i}.", characters=["MARA"])
            for i in range(3)
        ]

        def around(centre: np.ndarray, spread: float) -> list[float]:
            v = centre + spread * rng.normal(size=dim)
            return (v / np.linalg.norm(v)).tolist()

        mem.add_facts(late, embeddings=[around(near, 0.02) for _ in late])
        mem.add_facts(others, embeddings=[around(near, 0.03) for _ in others])
        mem.add_facts(early, embeddings=[around(-near, 0.05) for _ in early])
        point, keys = (2, 1), {"mara"}
        got = mem._nearest_about(SERIES, query, point, 2, keys)
        assert [f.id for f in got] == filtered_search(mem, query, point, 2, keys)
        assert {f.text for f in got} <= {f.text for f in early} and len(got) == 2
        via_facts = mem.facts(SERIES, characters=["MARA"], query=query, before=point, k=2)
        assert [f.id for f in via_facts] == [f.id for f in got]
