"""Story memory with the real MiniLM embedder and a real Chroma directory per test."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dsr.common.errors import BadInput
from dsr.memory import (
    CharacterRecord,
    Fact,
    SceneRecord,
    StoryMemory,
    approx_tokens,
    build_previous_context,
    profiles_for,
)
from dsr.memory.embedding import load_model

pytestmark = pytest.mark.slow

SERIES = "harbor-lights"
EPISODE_1 = [
    "A violent storm batters the lighthouse; Mara drags a half-drowned sailor off the rocks.",
    "Mara hides the sailor, Jonah, in the lamp room and lies to the harbour master about the wreck.",
    "Tom brings bread and gossip; Mara and Tom drink tea in the warm kitchen.",
]
FACTS_1 = [
    Fact(
        series=SERIES,
        episode=1,
        scene_no=1,
        text="Jonah has a deep gash on his left hand.",
        characters=["JONAH"],
        kind="injury",
    ),
    Fact(
        series=SERIES,
        episode=1,
        scene_no=2,
        text="Only Mara knows Jonah is in the lamp room.",
        characters=["MARA", "JONAH"],
        kind="knowledge",
    ),
    Fact(
        series=SERIES,
        episode=1,
        scene_no=3,
        text="Tom left his red scarf on the kitchen chair.",
        characters=["TOM"],
        kind="object",
    ),
]


@pytest.fixture(scope="module", autouse=True)
def _embedder():
    """Load MiniLM once (every StoryMemory reuses the cached model), on one torch thread for this module:
    tiny batches gain nothing from two, and OpenMP spinning makes them 10x slower on a busy shared CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    load_model()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def mem(tmp_path: Path):
    with StoryMemory(tmp_path / "memory") as memory:
        yield memory


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Fail any Python-level internet connection attempt (the hub, telemetry)."""
    real_connect = socket.socket.connect

    def guarded(sock: socket.socket, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network connection attempted: {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def test_dsr_turns_the_hub_off_where_it_starts_and_the_library_leaves_the_environment_alone() -> None:
    """Without the switches in its environment, a ``dsr`` process runs offline (the hub's own flag reads on,
    set before any command imports it) while importing the memory and model packages writes nothing; a user's
    own setting is kept."""
    import os
    import subprocess
    import sys

    switches = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ANONYMIZED_TELEMETRY")
    clean = {k: v for k, v in os.environ.items() if k not in switches}
    values = f"[os.environ.get(k) for k in {switches!r}]"
    library = f"import os, dsr.memory, dsr.models.weights; print({values})"
    command = (
        "import os, sys\n"
        "from dsr.cli.main import main\n"
        "sys.argv = ['dsr', 'doctor', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "import huggingface_hub.constants as hub\n"
        f"print('RESULT', hub.HF_HUB_OFFLINE, {values})\n"
    )

    def run(code: str, **env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[-1]

    assert run(library) == "[None, None, None]"
    assert run(command) == "RESULT True ['1', '1', 'False']"
    assert run(command, HF_HUB_OFFLINE="0") == "RESULT False ['0', '1', 'False']"


def scene(
    episode: int, scene_no: int, summary: str, chars: list[str] | None = None, tail: str | None = None
) -> SceneRecord:
    return SceneRecord(
        series=SERIES, episode=episode, scene_no=scene_no, summary=summary, characters=chars or [], tail=tail
    )


def write_episode_1(memory: StoryMemory) -> None:
    memory.upsert_character(
        CharacterRecord(
            series=SERIES,
            name="MARA",
            aliases=["Mara Quill"],
            profile={"name": "MARA", "background": "Lighthouse keeper, 60s.", "state": None},
            episode=1,
            scene_no=0,
        )
    )
    for n, summary in enumerate(EPISODE_1, 1):
        memory.add_scene(scene(1, n, summary, ["MARA"], tail=f"Scene {n} ends with the lamp turning."))
    memory.add_facts(FACTS_1)


def test_continuity_across_episodes_after_reopen(tmp_path: Path, no_network) -> None:
    path = tmp_path / "memory"
    with StoryMemory(path) as first:
        write_episode_1(first)
    with StoryMemory(path) as second:  # a new client on the same directory: what episode 2 sees
        assert second.stats() == {"characters": 1, "scenes": 3, "facts": 3}
        story, tail, ids = build_previous_context(
            second, SERIES, 2, 1, "Mara checks on the hidden sailor's wounded hand", ["MARA", "JONAH"]
        )
        assert "Recently (E1 S3): Tom brings bread" in story
        assert "Known (E1 S1): Jonah has a deep gash on his left hand." in story
        assert tail == "Scene 3 ends with the lamp turning."
        assert "harbor-lights:0001:0002" in ids
        profile = profiles_for(second, SERIES, ["mara"], (2, 1))
        # without the episode file's profile, all of it is what episode 1 established
        assert profile == [{"name": "MARA", "background": "[from E1] Lighthouse keeper, 60s.", "state": None}]


def test_before_filter_never_returns_current_or_later(mem: StoryMemory) -> None:
    summaries = {(1, n): f"Episode one scene {n}: Mara climbs the lighthouse stairs." for n in range(1, 6)}
    summaries |= {(2, n): f"Episode two scene {n}: Mara climbs the lighthouse stairs." for n in range(1, 4)}
    mem.add_facts(
        [
            Fact(series=SERIES, episode=ep, scene_no=n, text=f"Fact of {ep}/{n}.", characters=["MARA"])
            for ep, n in summaries
        ]
    )
    for (ep, n), text in summaries.items():
        mem.add_scene(scene(ep, n, text, ["MARA"]))
        mem.upsert_character(
            CharacterRecord(series=SERIES, name="MARA", profile={"v": [ep, n]}, episode=ep, scene_no=n)
        )
    for point in [(1, 1), (1, 3), (2, 1), (2, 3), (3, 1)]:
        limit = point[0] * 10_000 + point[1]
        exact = summaries.get(point, "Mara climbs the lighthouse stairs.")
        got = [
            *mem.recent_scenes(SERIES, point, k=10),
            *mem.similar_scenes(SERIES, exact, point, k=10),
            *mem.facts(SERIES, characters=["MARA"], before=point, k=100),
            *mem.facts(SERIES, query=exact, before=point, k=100),
        ]
        assert all(r.order < limit for r in got), point
        assert len({r.id for r in got if isinstance(r, SceneRecord)}) == sum(
            1 for k in summaries if k < point
        )
        profile = mem.profiles(SERIES, ["MARA"], before=point)
        assert [tuple(p.profile["v"]) for p in profile] == (
            [max(k for k in summaries if k < point)] if point > (1, 1) else []
        )
    recent = mem.recent_scenes(SERIES, (2, 2), k=3)
    assert [(s.episode, s.scene_no) for s in recent] == [
        (1, 4),
        (1, 5),
        (2, 1),
    ]  # crosses the episode boundary


def test_similarity_ranks_the_related_scene_first(mem: StoryMemory) -> None:
    write_episode_1(mem)
    mem.add_scene(scene(1, 4, "The harbour master counts crates of mackerel at the morning fish market."))
    storm = mem.similar_scenes(
        SERIES, "waves and gale wind hammer the lighthouse tower at night", (2, 1), k=4
    )
    tea = mem.similar_scenes(SERIES, "a kettle boils and cups are poured", (2, 1), k=4)
    assert storm[0].scene_no == 1
    assert tea[0].scene_no == 3
    assert mem.similar_scenes(SERIES, "storm", (2, 1), k=4, exclude_ids={storm[0].id})[0].scene_no != 1


def test_mmr_avoids_near_duplicates(mem: StoryMemory) -> None:
    texts = [
        "A violent storm hits the lighthouse and Mara fights to keep the lamp burning.",
        "A violent storm strikes the lighthouse and Mara struggles to keep the lamp lit.",
        "During a violent storm at the lighthouse, Mara fights to keep the lamp burning.",
        "After the storm, Mara finds a shipwrecked sailor washed up on the rocks below the lighthouse.",
        "Mara and Tom drink tea in the warm kitchen and talk about the village fair.",
    ]
    for n, text in enumerate(texts, 1):
        mem.add_scene(scene(1, n, text))
    query = "storm at the lighthouse, Mara keeps the lamp burning"
    plain = [s.scene_no for s in mem.similar_scenes(SERIES, query, (2, 1), k=2, mmr_lambda=1.0)]
    diverse = [s.scene_no for s in mem.similar_scenes(SERIES, query, (2, 1), k=2)]
    assert set(plain) <= {1, 2, 3}  # pure similarity: two copies of one situation
    assert diverse[0] == plain[0] and diverse[1] == 4  # MMR: the best copy, then the related new event


def test_an_episodes_queries_embedded_in_one_batch_serve_every_scene(mem: StoryMemory, monkeypatch) -> None:
    """A run embeds its scenes' memory queries in one batch at the first scene: each vector equals the one
    embedded alone, and building a scene's previous context then embeds nothing (the model is not called)."""
    from dsr.memory.context import embed_scene_queries, scene_query
    from dsr.memory.embedding import QUERY_CACHE

    write_episode_1(mem)
    scenes = [("Mara lies to the harbour master about the wreck", ["MARA"]), ("Tom finds the scarf", ["TOM"])]
    QUERY_CACHE.clear()
    alone = [mem.embedding.embed([scene_query(*s)])[0] for s in scenes]
    assert not mem.embedding.has_query(scene_query(*scenes[1]))
    embed_scene_queries(mem, scenes)
    assert mem.embedding.has_query(scene_query(*scenes[1]))
    for (synopsis, names), vector in zip(scenes, alone, strict=True):
        cached = QUERY_CACHE.get((mem.embedding.embedder, scene_query(synopsis, names)))
        assert cached is not None and max(abs(a - b) for a, b in zip(cached, vector, strict=True)) < 1e-5
    calls = []
    real_encode = mem.embedding.model.encode
    monkeypatch.setattr(
        mem.embedding.model, "encode", lambda *a, **k: calls.append(a) or real_encode(*a, **k)
    )
    story, _, ids = build_previous_context(mem, SERIES, 2, 1, *scenes[0])
    assert ids and "Mara" in story and calls == []  # the context was built from the batch's vector
    QUERY_CACHE.clear()
    build_previous_context(mem, SERIES, 2, 1, *scenes[0])
    assert len(calls) == 1  # not cached: embedded once, for all three reads


def test_versioned_profiles(mem: StoryMemory) -> None:
    def version(ep: int, n: int, state: str, aliases: list[str] | None = None) -> CharacterRecord:
        return CharacterRecord(
            series=SERIES,
            name="MARA",
            aliases=aliases or [],
            profile={"state": state},
            episode=ep,
            scene_no=n,
        )

    mem.upsert_character(version(1, 0, "healthy", ["Mara Quill", "Keeper"]))
    mem.upsert_character(version(1, 3, "sprained ankle"))
    mem.upsert_character(version(2, 2, "limping, knows about Jonah"))
    mem.upsert_character(
        CharacterRecord(series=SERIES, name="Tom", profile={"state": "fine"}, episode=1, scene_no=0)
    )
    mem.upsert_character(
        CharacterRecord(series="other", name="MARA", profile={"state": "x"}, episode=1, scene_no=0)
    )

    def state(before: tuple[int, int] | None, name: str = "MARA") -> list[str]:
        return [r.profile["state"] for r in mem.profiles(SERIES, [name], before=before)]

    assert state((1, 3)) == ["healthy"]
    assert state((1, 4)) == ["sprained ankle"]
    assert state((2, 2)) == ["sprained ankle"]
    assert state((3, 1)) == state(None) == ["limping, knows about Jonah"]
    assert state(None, "keeper") == state(None, "mara quill") == state(None, " mara ")  # aliases, any case
    assert [r.name for r in mem.profiles(SERIES)] == ["MARA", "Tom"]
    assert [r.name for r in mem.profiles(SERIES, ["tom", "NOBODY", "Mara", "MARA"])] == ["Tom", "MARA"]
    assert mem.profiles(SERIES, []) == mem.profiles(SERIES, ["nobody"]) == []
    mem.upsert_character(version(1, 3, "twisted ankle"))  # same position replaces, no new version
    assert state((1, 4)) == ["twisted ankle"] and mem.stats()["characters"] == 5


def test_adding_again_never_duplicates(mem: StoryMemory) -> None:
    write_episode_1(mem)
    write_episode_1(mem)  # a resumed run commits the same scenes again
    mem.add_facts(
        [FACTS_1[0], FACTS_1[0].model_copy(update={"text": " jonah has a deep  gash on his left hand. "})]
    )
    assert mem.stats() == {"characters": 1, "scenes": 3, "facts": 3}
    mem.add_scene(scene(1, 2, "Rewritten: Mara sends Jonah away before dawn.", ["MARA", "JONAH"], tail=None))
    rewritten = mem.recent_scenes(SERIES, (1, 3), k=1)[0]
    assert rewritten.summary.startswith("Rewritten") and rewritten.tail is None
    assert rewritten.characters == ["MARA", "JONAH"] and mem.stats()["scenes"] == 3


def test_bulk_add_with_precomputed_embeddings(mem: StoryMemory) -> None:
    recs = [scene(1, n, summary, ["MARA"]) for n, summary in enumerate(EPISODE_1, 1)]
    mem.add_scenes([*recs, recs[0]], embeddings=mem.embedding.embed([*EPISODE_1, EPISODE_1[0]]))
    mem.add_facts(FACTS_1, embeddings=mem.embedding.embed([f.text for f in FACTS_1]))
    assert mem.stats() == {"characters": 0, "scenes": 3, "facts": 3}
    assert mem.similar_scenes(SERIES, "kettle, cups of tea", (2, 1), k=1)[0].scene_no == 3
    assert mem.facts(SERIES, query="bleeding hand", k=1)[0].kind == "injury"


def test_delete_scene_removes_its_summary_and_facts(mem: StoryMemory) -> None:
    write_episode_1(mem)
    mem.delete_scene(SERIES, 1, 2)
    assert [s.scene_no for s in mem.recent_scenes(SERIES, (2, 1), k=5)] == [1, 3]
    assert [f.scene_no for f in mem.facts(SERIES, k=10)] == [1, 3]
    assert mem.facts(SERIES, characters=["Mara Quill"]) == []  # the only Mara fact was in scene 2
    assert mem.stats() == {"characters": 1, "scenes": 2, "facts": 2}


def test_facts_by_character_alias_and_query(mem: StoryMemory) -> None:
    write_episode_1(mem)
    assert [f.kind for f in mem.facts(SERIES, characters=["mara quill"])] == ["knowledge"]
    assert [f.scene_no for f in mem.facts(SERIES, characters=["jonah", "TOM"])] == [1, 2, 3]  # story order
    assert mem.facts(SERIES, query="an injured hand, bleeding", k=1)[0].kind == "injury"
    assert mem.facts(SERIES, characters=["JONAH"], before=(1, 2)) == [FACTS_1[0]]
    assert mem.facts("another-series") == []


def test_budget_is_respected(mem: StoryMemory) -> None:
    for n in range(1, 11):  # long summaries, each saying something of its own (no echo to drop)
        long = " ".join(f"Mara climbs stair {n}-{i} of the lighthouse." for i in range(6))
        mem.add_scene(scene(1, n, f"Scene {n}. {long}", ["MARA"], tail="Mara blows out the candle. " * 20))
    mem.add_facts(
        [
            Fact(
                series=SERIES,
                episode=1,
                scene_no=n,
                text=f"Mara counted {n * 100} steps.",
                characters=["MARA"],
            )
            for n in range(1, 11)
        ]
    )
    premise = "A lighthouse keeper hides a stranger from a suspicious harbour."
    sizes = []
    for budget in (40, 120, 300, 600, 2000):
        story, tail, ids = build_previous_context(
            mem, SERIES, 2, 1, "Mara climbs the stairs", ["MARA"], premise=premise, budget_tokens=budget
        )
        used = approx_tokens(premise) + approx_tokens(story) + approx_tokens(tail)
        assert used <= budget, (budget, used)
        assert len(ids) == len(story.splitlines()) if story else ids == []
        sizes.append(len(ids))
        assert tail is None or tail.endswith("candle.")  # the tail keeps its end
    assert sizes == sorted(sizes) and sizes[0] < sizes[2] < sizes[-1] and sizes[-1] >= 8
    story, _, _ = build_previous_context(mem, SERIES, 2, 1, "Mara climbs", ["MARA"], budget_tokens=2000)
    lines = story.splitlines()
    assert lines[0].startswith("Earlier (E1 S") and lines[-1].startswith("Known (E1 S")
    assert lines.index(next(line for line in lines if line.startswith("Recently"))) > 0


def test_approx_tokens() -> None:
    assert approx_tokens("") == approx_tokens(None) == 0
    assert approx_tokens("one two three four five six seven eight nine ten") == 13
    assert approx_tokens("玛拉走上楼梯") == 8  # six CJK characters


def test_bad_path_and_corrupted_store(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(BadInput, match="not a directory"):
        StoryMemory(a_file)
    with pytest.raises(BadInput, match="cannot be created"):
        StoryMemory(a_file / "memory")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(BadInput, match=r"broken is unreadable or corrupted.*--memory NEW_DIR") as info:
        StoryMemory(broken)
    assert "\n" not in str(info.value)


def test_other_embedder_is_refused(tmp_path: Path) -> None:
    import chromadb

    from dsr.memory.embedding import SentenceEmbedding
    from dsr.memory.store import _SETTINGS

    client = chromadb.PersistentClient(path=str(tmp_path), settings=_SETTINGS)
    client.create_collection(
        "characters", embedding_function=SentenceEmbedding(), metadata={"embedder": "bge-m3", "dim": 1024}
    )
    client.close()
    with pytest.raises(BadInput, match="built with embedder 'bge-m3'"):
        StoryMemory(tmp_path)


def test_recent_scenes_in_story_order_across_gaps_and_episodes(mem: StoryMemory) -> None:
    for ep, n in [(1, 1), (1, 2), (1, 7), (4, 3), (4, 5), (4, 6), (4, 9)]:
        mem.add_scene(scene(ep, n, f"Episode {ep} scene {n}: Mara trims the lamp.", ["MARA"]))
        mem.add_facts(
            [Fact(series=SERIES, episode=ep, scene_no=n, text=f"Mara fact {ep}.{n}.", characters=["MARA"])]
        )

    def recent(point: tuple[int, int], k: int = 3) -> list[tuple[int, int]]:
        return [(s.episode, s.scene_no) for s in mem.recent_scenes(SERIES, point, k=k)]

    assert recent((4, 10)) == [(4, 5), (4, 6), (4, 9)]  # a gap in the numbering widens the window
    assert recent((4, 5)) == [(1, 2), (1, 7), (4, 3)]  # back over three missing episodes
    assert recent((2, 1), k=5) == [(1, 1), (1, 2), (1, 7)]  # fewer than k exist: all of them
    assert recent((1, 1)) == [] and recent((4, 5), k=0) == []
    newest = mem.facts(SERIES, characters=["MARA"], before=(4, 6), k=3)
    assert [f.text for f in newest] == ["Mara fact 1.7.", "Mara fact 4.3.", "Mara fact 4.5."]


def test_resumed_run_and_flashback_see_the_story_as_it_stood(mem: StoryMemory) -> None:
    """Writing episode 1 again (a resumed run, or a flashback episode written after episode 3) must
    not see anything from later in the story, even though memory already holds it."""
    for ep in (1, 2, 3):
        for n in (1, 2):
            mem.add_scene(
                scene(
                    ep, n, f"E{ep} S{n}: the storm season, Mara at the lamp.", ["MARA"], tail=f"end {ep}.{n}"
                )
            )
            mem.add_facts(
                [
                    Fact(
                        series=SERIES,
                        episode=ep,
                        scene_no=n,
                        text=f"In {ep}.{n} Mara learns a secret.",
                        characters=["MARA"],
                    )
                ]
            )
        mem.upsert_character(
            CharacterRecord(
                series=SERIES,
                name="MARA",
                profile={"name": "MARA", "state": f"after E{ep}"},
                episode=ep,
                scene_no=1,
            )
        )
    story, tail, ids = build_previous_context(
        mem, SERIES, 1, 2, "the storm season, Mara at the lamp", ["MARA"]
    )
    assert tail == "end 1.1" and ids and all(i.startswith(f"{SERIES}:0001:0001") for i in ids)
    assert "E2" not in story and "E3" not in story
    assert profiles_for(mem, SERIES, ["MARA"], (2, 1)) == [{"name": "MARA", "state": "[from E1] after E1"}]


def committed(episode: int, scene_no: int, synopsis: str, beats: list[str]) -> tuple[SceneRecord, list[Fact]]:
    """What commit stores for an accepted scene (its summary record and its outline facts)."""
    from dsr.story.schemas import TaskInput
    from dsr.story.summary import scene_facts, scene_summary

    x = TaskInput.model_validate(
        {
            "outline": {"characters": ["MARA", "JONAH"], "synopsis": synopsis, "beats": beats},
            "meta": {"series": SERIES, "episode": episode, "scene_no": scene_no},
        }
    )
    summary, tail = scene_summary(x, "Mara shuts the door. The lamp turns.")
    rec = SceneRecord(
        series=SERIES,
        episode=episode,
        scene_no=scene_no,
        summary=summary,
        characters=["MARA", "JONAH"],
        tail=tail,
    )
    return rec, scene_facts(x)


def test_no_outline_line_twice_in_the_previous_context(mem: StoryMemory) -> None:
    """A scene without beats stores its synopsis as its fact, and a beat the synopsis quotes is an echo
    too: whether the scene comes back as a recent or as a similar one, its outline line appears once.
    A fact that says something new (the ring) is kept."""
    stored = [
        committed(1, 1, "Mara drags a half-drowned sailor, Jonah, off the rocks during the storm.", []),
        committed(
            1,
            2,
            "Mara hides Jonah in the lamp room and lies to the harbour master.",
            [
                "Mara hides Jonah in the lamp room",
                "Jonah gives Mara a silver ring stamped with a ship's crest",
            ],
        ),
        *(committed(1, n, f"Tom mends the nets on the quay, day {n}.", []) for n in (3, 4, 5)),
    ]
    for rec, facts in stored:
        mem.add_scene(rec)
        mem.add_facts(facts)
    for point in [(1, 3), (2, 1)]:  # scenes 1-2 recent, then only found by similarity
        story, _, ids = build_previous_context(
            mem,
            SERIES,
            *point,
            "a storm, a sailor hidden in the lamp room",
            ["MARA", "JONAH"],
            budget_tokens=2000,
        )
        lines = story.splitlines()
        assert sum("half-drowned sailor" in line for line in lines) == 1, story
        assert sum("hides Jonah in the lamp room" in line for line in lines) == 1, story
        assert any(line.startswith("Known (E1 S2): Jonah gives Mara a silver ring") for line in lines), story
        assert any(line.startswith(("Recently (E1 S1)", "Earlier (E1 S1)")) for line in lines), story
        assert len(ids) == len(lines) == len(set(ids))


def test_a_shorter_later_profile_keeps_earlier_details_with_provenance(tmp_path: Path) -> None:
    """Two episodes through the real retrieve and commit nodes: episode 2's file drops the compass and
    the relationship to Tom; its inputs still carry both, marked as established in episode 1, and a
    detail episode 2 rewrites ("trusts Tom") takes the new wording."""
    import json
    from types import SimpleNamespace

    from dsr.contract.context import RunContext
    from dsr.nodes.commit import commit_node
    from dsr.nodes.retrieve import retrieve_context_node
    from dsr.story.schemas import TaskInput

    memory_dir, run_dir = tmp_path / "memory", tmp_path / "run"
    runtime = SimpleNamespace(context=RunContext(memory_dir=str(memory_dir), run_dir=str(run_dir)))
    episode_1 = {
        "name": "MARA",
        "background": "Lighthouse keeper, 60s. Always carries her late husband's brass compass. Trusts Tom completely.",
        "relationships": [{"target": "TOM", "relation": "old friend", "dynamic": "protective"}],
    }
    episode_2 = {
        "name": "MARA",
        "background": "Lighthouse keeper, 60s. No longer trusts Tom.",
        "personality": "Guarded.",
    }

    def write_scene(episode: int, number: int, profile: dict) -> dict:
        x = TaskInput.model_validate(
            {
                "outline": {
                    "characters": ["MARA"],
                    "synopsis": f"Mara keeps watch, night {episode}.{number}.",
                },
                "characters": [profile],
                "meta": {"series": SERIES, "episode": episode, "scene_no": number},
            }
        )
        state = retrieve_context_node({"x": x.model_dump(mode="json")}, runtime)
        commit_node({"x": state["x"], "prose": "Mara climbs the stairs. The lamp turns."}, runtime)
        return json.loads((run_dir / "scenes" / f"{number:02d}" / "inputs.json").read_text())

    for n in (1, 2):
        first = write_scene(1, n, episode_1)
    assert first["characters"][0]["background"] == episode_1["background"]  # nothing earlier to merge
    for n in (1, 2):
        inputs = write_scene(2, n, episode_2)
        mara = inputs["characters"][0]
        assert mara["background"] == (
            "Lighthouse keeper, 60s. No longer trusts Tom. [from E1] Always carries her late husband's brass compass."
        ), n  # the second scene reads episode 2's stored merge: the compass is still from E1
        assert mara["relationships"] == [
            {"target": "TOM", "relation": "old friend", "dynamic": "[from E1] protective"}
        ]
        assert mara["personality"] == "Guarded."
    with StoryMemory(memory_dir) as mem:  # one version per change, not per scene
        assert mem.stats()["characters"] == 2


def test_recent_and_similar_read_together_equal_the_two_reads_apart(mem: StoryMemory, monkeypatch) -> None:
    """build_previous_context's scenes: the recent ones and the similar ones (less the recent) in two reads of
    the scenes collection, the same scenes as recent_scenes and similar_scenes give apart, at an episode's
    start, past a gap in the scene numbers (the episodes-back fallback) and in a full episode."""
    places = ["lighthouse stairs", "harbour market", "kitchen table", "rocky shore", "village fair"]
    for ep in (1, 2):
        for n in range(1, 11):
            if ep == 2 and n in (4, 5, 6, 7):  # a gap: the 2k ids before (2, 9) hold fewer than k scenes
                continue
            text = f"Episode {ep} scene {n}: Mara walks to the {places[n % 5]} and talks with Tom."
            mem.add_scene(scene(ep, n, text, ["MARA", "TOM"]))
    query = "Mara and Tom talk at the harbour market"
    vector = mem.embedding.query_vector(query)
    for point in [(1, 1), (1, 2), (2, 1), (2, 3), (2, 9), (2, 11), (3, 1)]:
        recent = mem.recent_scenes(SERIES, point, k=3)
        similar = mem.similar_scenes(SERIES, vector, point, k=3, exclude_ids={s.id for s in recent})
        assert mem.recent_and_similar(SERIES, vector, point) == (recent, similar), point
    reads: list[str] = []
    for name in ("get", "query"):
        real = getattr(mem._scenes, name)
        monkeypatch.setattr(
            mem._scenes, name, lambda *a, _real=real, _name=name, **k: reads.append(_name) or _real(*a, **k)
        )
    mem.recent_and_similar(SERIES, vector, (2, 11))  # the three scenes before are among the ids read
    assert reads == ["query", "get"]
