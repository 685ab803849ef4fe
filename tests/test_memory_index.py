"""The facts index (memory/index.py) for real: a real Chroma directory, real typed facts, precomputed vectors
(the embedder is loaded, as every StoryMemory loads it, but no fact is embedded). The state read by id equals
the state resolved from the whole history, at every point, after corrections, deletions and retirement; the
facts a scene reads do not grow with the facts stored; a store written before the index is indexed on open."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from dsr.memory import Fact, StoryMemory
from dsr.memory import index as fact_index
from dsr.memory.embedding import load_model
from dsr.memory.retire import retire_scenes
from dsr.memory.state import rank, resolve

pytestmark = pytest.mark.slow

SERIES = "harbor"
CAST = ["MARA", "TOM", "JONAH", "ELSIE"]
OBJECTS = ["the brass key", "the logbook", "the lantern"]


@pytest.fixture(scope="module", autouse=True)
def _embedder():
    load_model()


def series_facts(episodes: int, scenes: int, seed: int = 3) -> list[Fact]:
    """Typed facts of every kind over ``episodes`` x ``scenes``, a few untyped ones, deterministic."""
    rng = random.Random(seed)
    out = []
    for ep in range(1, episodes + 1):
        for sc in range(1, scenes + 1):
            a, b = rng.sample(CAST, 2)
            obj = rng.choice(OBJECTS)
            rows = [
                ("holder", obj, a, f"{a.title()} holds {obj} (E{ep} S{sc})."),
                ("location", b, "", f"{b.title()} is at the pier (E{ep} S{sc})."),
                ("relationship", a, b, f"{a.title()} and {b.title()} quarrel (E{ep} S{sc})."),
                ("event", "", "", f"A storm passes over the harbour (E{ep} S{sc})."),
            ]
            for kind, subject, about, text in rows:
                out.append(
                    Fact(
                        series=SERIES,
                        episode=ep,
                        scene_no=sc,
                        text=text,
                        kind=kind,
                        subject=subject,
                        about=about,
                        characters=[n for n in (a, b) if n.title() in text],
                    )
                )
    return out


def add(mem: StoryMemory, facts: list[Fact]) -> None:
    rng = random.Random(len(facts))
    mem.add_facts(facts, embeddings=[[rng.random() for _ in range(mem.embedding.dim)] for _ in facts])


def resolved(mem: StoryMemory, names: list[str], before: tuple[int, int] | None) -> list[str]:
    current, _ = resolve(mem.fact_history(SERIES, characters=names, before=before))
    return [f.id for f in sorted((f for f in current if f.slot is not None), key=rank)]


def in_force(mem: StoryMemory, names: list[str], before: tuple[int, int] | None) -> list[str]:
    return [f.id for f in mem.facts_in_force(SERIES, characters=names, before=before)]


POINTS = [(1, 2), (1, 5), (2, 1), (2, 3), (3, 4), (4, 1), (5, 6), None]


@pytest.mark.parametrize("block", [64, 1])
def test_the_state_read_by_id_is_the_state_resolved_from_the_whole_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(
        fact_index, "BLOCK", block
    )  # 1: a point's slot directories are walked back block by block
    with StoryMemory(tmp_path / "memory") as mem:
        facts = series_facts(4, 5)
        add(mem, facts)
        for names in (["MARA"], ["TOM", "JONAH"], ["ELSIE", "MARA", "TOM"]):
            for point in POINTS:
                assert in_force(mem, names, point) == resolved(mem, names, point), (names, point)
        # the newest facts about a character, as the critic's known facts read them: the k newest by position
        for point in [(2, 3), (4, 5), (5, 1)]:
            got = mem.facts(SERIES, characters=["MARA"], before=point, k=6)
            expected = sorted(
                (f for f in facts if f.order < got[-1].order + 1 and "MARA" in f.characters),
                key=lambda f: (f.order, f.id),
            )
            assert [f.id for f in got] == [f.id for f in expected[-6:]]
            assert all(f.order < 10_000 * point[0] + point[1] for f in got)


def test_corrections_deletions_and_retirement_are_seen_through_the_index(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    with StoryMemory(path) as mem:
        add(mem, series_facts(3, 4))
        mara = mem.facts_in_force(SERIES, characters=["MARA"], before=(3, 3))
        target = mara[-1]
        # a writer's correction at the same position: the new fact wins, the old one is skipped
        fixed = target.model_copy(update={"text": target.text + " (as corrected)", "source": "writer"})
        mem.set_fact(fixed.model_copy(update={"replaces": target.id}))
        mem.set_fact(target.model_copy(update={"status": "corrected"}))
        after = in_force(mem, ["MARA"], (3, 3))
        assert fixed.id in after and target.id not in after
        assert after == resolved(mem, ["MARA"], (3, 3))
        # a forgotten fact: the slot falls back to the one before it
        mem.set_fact(mem.get_fact(fixed.id).model_copy(update={"status": "forgotten"}))  # type: ignore[union-attr]
        assert in_force(mem, ["MARA"], (3, 3)) == resolved(mem, ["MARA"], (3, 3))
        # a rerun deletes a scene's facts
        mem.delete_scene(SERIES, 2, 4)
        for point in [(2, 4), (3, 1), None]:
            assert in_force(mem, ["MARA", "TOM"], point) == resolved(mem, ["MARA", "TOM"], point)
    # retirement sweeps the facts with a bare client (and cuts the index's records of the episode first)
    assert retire_scenes(str(path), SERIES, 3, 2) > 0
    with StoryMemory(path) as mem:
        for names in (["MARA"], ["TOM", "JONAH", "ELSIE"]):
            for point in [(3, 2), (3, 4), None]:
                assert in_force(mem, names, point) == resolved(mem, names, point), (names, point)


class _Counting:
    """Wraps a collection: counts the records its ``get`` returns and the reads filtered by metadata."""

    def __init__(self, col: Any) -> None:
        self.col, self.records, self.filtered = col, 0, 0

    def get(self, *args: Any, **kwargs: Any) -> Any:
        got = self.col.get(*args, **kwargs)
        self.records += len(got["ids"])
        self.filtered += kwargs.get("where") is not None
        return got

    def __getattr__(self, name: str) -> Any:
        return getattr(self.col, name)


def scene_reads(path: Path, point: tuple[int, int]) -> tuple[int, int, int]:
    """Facts records and index records a fresh process's first scene reads (state and known facts), and
    the filtered reads of the facts among them."""
    with StoryMemory(path) as mem:
        for thread in mem._warming:  # the facts' vector index loaded: the state reads the facts by id
            thread.join()
        facts, idx = _Counting(mem._facts), _Counting(mem._index)
        mem._facts, mem._index = facts, idx  # type: ignore[assignment]
        mem.facts_in_force(SERIES, characters=["MARA", "TOM"], before=point)
        mem.facts(SERIES, characters=["MARA", "TOM"], before=point, k=10)
        return facts.records, idx.records, facts.filtered


def test_a_scene_reads_its_facts_by_id_whatever_the_number_of_facts(tmp_path: Path) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    with StoryMemory(small) as mem:
        add(mem, series_facts(2, 10))
    with StoryMemory(large) as mem:
        add(mem, series_facts(2, 10) + series_facts(12, 10, seed=4)[80:])  # episodes 3..12 more
        assert mem.stats()["facts"] >= 5 * 80
    few = scene_reads(small, (3, 1))
    many = scene_reads(large, (13, 1))
    assert few[2] == many[2] == 0, "no read of the facts filtered by metadata"
    assert many[0] <= few[0] + 4, f"facts read grew with the store: {few[0]} -> {many[0]}"
    assert many[1] <= few[1] + 8, f"index records read grew with the store: {few[1]} -> {many[1]}"
    assert many[0] <= 2 * 3 * len(OBJECTS) + 10  # one per slot in force, plus the k newest


def test_a_store_written_before_the_index_is_indexed_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    with StoryMemory(path) as mem:
        add(mem, series_facts(2, 4))
        expected = {p: in_force(mem, ["MARA", "TOM"], p) for p in [(2, 2), None]}
        mem._client.delete_collection(fact_index.NAME)  # as a store from before the index has none
    with StoryMemory(path) as mem:
        assert mem._index.get(ids=[fact_index.VERSION_ID], include=[])["ids"] == [fact_index.VERSION_ID]
        for point, ids in expected.items():
            assert in_force(mem, ["MARA", "TOM"], point) == ids
