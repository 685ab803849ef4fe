"""Story-memory retrieval latency at series scale, before and after, side by side in one run.

The series: 10,000 scenes (40 per episode) with 50,000 facts, five per scene of the kinds fact extraction
produces (object, knowledge, injury, location, relationship), and one series of its first 1,000 scenes.
Fact texts come from templates, so many repeat, as in a long series; each distinct text is embedded once.

1. Ingest: the texts are embedded once in batches and cached under ``--cache`` (about 20,000 distinct
   texts: several minutes on a busy 2-core CPU), then inserted into one Chroma store per size with the
   precomputed vectors; the stores are cached there too, so reruns only measure retrieval.
2. Retrieval at random points of each series (warm, after a few untimed calls), the same cases for
   both code paths: p50/p95 of the whole ``build_previous_context``, ``recent_scenes``, facts by
   character (newest, and most similar to the scene), ``similar_scenes``, ``profiles`` and the characters'
   state derived from typed facts (issue 17 item 2; the baseline has none), with the cost of embedding one
   query for reference; and ``build_previous_context`` as a run calls it, the episode's scene queries
   embedded in one batch at its first scene (the batch's cost per query reported beside it).

"Before" is the ``memory`` package as it was at ``--baseline`` (read from git into a temporary package
and run against the same store), so both columns are measured on the same data, process and load.

Usage: ``nice .venv/bin/python benchmarks/memory.py [--sizes 1000,10000] [--queries 60] [--torch-threads 2]``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dsr.memory import CharacterRecord, Fact, SceneRecord, StoryMemory  # noqa: E402
from dsr.memory.embedding import SentenceEmbedding  # noqa: E402

BASELINE = "96df561"  # the last commit before issue 17's retrieval work
PER_EPISODE = 40
FIRST = "build_previous_context (600 tokens)"
BATCHED = "build_previous_context, queries embedded per episode"
BATCH_EMBED = "embed the queries in one batch, per query (reference)"

SERIES = "bench-series"
NAMES = [
    "MARA",
    "TOM",
    "JONAH",
    "ELSIE",
    "SILAS",
    "NELL",
    "OWEN",
    "PRIYA",
    "AGNES",
    "KIT",
    "DR. REYES",
    "FATHER BRIDE",
]
PLACES = [
    "the lighthouse lamp room",
    "the harbour wall",
    "the fish market",
    "Tom's kitchen",
    "the chapel",
    "the lifeboat station",
    "the cliff path",
    "the Anchor pub",
    "the customs office",
    "the beach below the rocks",
    "the school hall",
    "the ferry deck",
]
OBJECTS = [
    "a salt-stained letter",
    "the missing logbook",
    "a brass compass",
    "the lifeboat keys",
    "a bloodied scarf",
    "the harbour ledger",
    "a photograph of the wreck",
    "a bottle of rum",
    "the keeper's spare lens",
    "a roll of banknotes",
]
ACTIONS = [
    "confronts {b} about {obj}",
    "hides {obj} from {b}",
    "tells {b} the truth about {obj}",
    "argues with {b} over {obj}",
    "finds {obj} where {b} left it",
    "bargains with {b} for {obj}",
    "catches {b} searching for {obj}",
    "begs {b} to forget {obj}",
]
OUTCOMES = [
    "{b} storms out into the rain",
    "{b} promises to keep quiet, for now",
    "the storm cuts the power",
    "{b} threatens to tell the harbour master",
    "neither of them notices the stranger at the window",
    "{b} breaks down in tears",
    "a ship's horn sounds in the fog",
    "{b} leaves without a word",
]


def synopsis(rng: random.Random) -> tuple[str, list[str]]:
    a, b = rng.sample(NAMES, 2)
    act = rng.choice(ACTIONS).format(b=b.title(), obj=rng.choice(OBJECTS))
    out = rng.choice(OUTCOMES).format(b=b.title())
    return f"In {rng.choice(PLACES)}, {a.title()} {act}; {out}.", [a, b]


def make_scenes(n: int, per_episode: int, rng: random.Random) -> list[SceneRecord]:
    scenes = []
    for i in range(n):
        text, names = synopsis(rng)
        extra, _ = synopsis(rng)
        scenes.append(
            SceneRecord(
                series=SERIES,
                episode=i // per_episode + 1,
                scene_no=i % per_episode + 1,
                summary=f"{text} Later, {extra[0].lower()}{extra[1:]}",
                characters=names,
                tail=f"{names[0].title()} stares out at the water.",
            )
        )
    return scenes


INJURIES = [
    "a cut across the palm",
    "a cracked rib",
    "a sprained ankle",
    "burns on both hands",
    "a black eye",
    "a fever from the cold water",
    "a limp from the fall",
    "a gash above the eyebrow",
]
SECRETS = [
    "was on the wreck",
    "owes the harbour master money",
    "forged the ledger",
    "saw the lamp go dark",
    "has a brother at sea",
    "signed the false report",
    "buried something on the beach",
    "lied about the storm",
]
TURNS = [
    "no longer trust each other",
    "become allies",
    "fall out over money",
    "share a secret",
    "are engaged",
    "stop speaking",
    "make peace",
    "become rivals",
]
WHEN = ["at dawn", "after the storm", "that night", "before the ferry", "during the wake", "at low tide"]
FACTS_PER_SCENE = 5


def scene_facts(s: SceneRecord, rng: random.Random) -> list[Fact]:
    """Five facts per scene, one of each kind extraction will produce (object, knowledge, injury,
    location, relationship), so a 10,000-scene series carries 50,000 facts."""
    a, b = s.characters[0], s.characters[1]
    when = rng.choice(WHEN)
    obj, secret = rng.choice(OBJECTS), rng.choice(SECRETS)
    rows = [  # (kind, characters, subject, about, text): typed as extraction types them (memory.state)
        ("object", [a], obj, a, f"{a.title()} now holds {obj} {when}."),
        ("knowledge", [b, a], b, secret, f"{b.title()} learns that {a.title()} {secret}."),
        ("injury", [a], a, "", f"{a.title()} has {rng.choice(INJURIES)} {when}."),
        ("location", [b], b, "", f"{b.title()} ends the scene at {rng.choice(PLACES)} {when}."),
        ("relationship", [a, b], a, b, f"{a.title()} and {b.title()} {rng.choice(TURNS)} {when}."),
    ]
    return [
        Fact(
            series=s.series,
            episode=s.episode,
            scene_no=s.scene_no,
            text=text,
            characters=names,
            kind=kind,
            subject=subject,
            about=about,
        )
        for kind, names, subject, about, text in rows
    ]


def corpus(n_scenes: int, per_episode: int, seed: int) -> tuple[list[SceneRecord], list[Fact]]:
    """The synthetic series: deterministic for a seed, so vectors and stores can be cached under /tmp."""
    rng = random.Random(seed)
    scenes = make_scenes(n_scenes, per_episode, rng)
    return scenes, [f for s in scenes for f in scene_facts(s, rng)]


def cached_vectors(embedding: SentenceEmbedding, texts: list[str], cache: Path, key: str) -> np.ndarray:
    """Embeddings of ``texts`` (unique texts embedded once, in batches), cached as ``cache/key.npy``."""
    path = cache / f"{key}.npy"
    if path.exists():
        vectors = np.load(path)
        if len(vectors) == len(texts):
            return vectors
    unique = list(dict.fromkeys(texts))
    index = {text: i for i, text in enumerate(unique)}
    table = embedding.embed(unique)
    vectors = table[[index[t] for t in texts]].astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in samples)
    return statistics.median(ms), ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]


def timed(fn: Callable[[], object], rounds: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def baseline_package(rev: str, into: Path) -> ModuleType:
    """``memory`` as it was at ``rev``, importable as ``memory_before`` (imports rewritten to match)."""
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", rev, "memory/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    package = into / "memory_before"
    package.mkdir(parents=True)
    for name in files:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{name}"], check=True, capture_output=True, text=True
        ).stdout
        for old in ("from dsr.memory.", "from memory."):  # a revision before or after the dsr namespace
            text = text.replace(old, "from memory_before.")
        text = text.replace("import memory.", "import memory_before.")
        (package / Path(name).name).write_text(text)
    sys.path.insert(0, str(into))
    return importlib.import_module("memory_before")


def build_store(
    console: Console, path: Path, scenes: list[SceneRecord], facts: list[Fact], vectors: tuple[Any, Any]
) -> None:
    """Fill a fresh store with precomputed vectors (insert timed) plus a few one-by-one commits."""
    with StoryMemory(path) as mem:
        last_episode = scenes[-1].episode
        for name in NAMES:  # a profile version every 5 episodes, as a character's profile changes
            for ep in range(1, last_episode + 1, 5):
                mem.upsert_character(
                    CharacterRecord(
                        series=SERIES,
                        name=name,
                        profile={"name": name, "state": f"as of E{ep}"},
                        episode=ep,
                        scene_no=0,
                    )
                )
        started = time.perf_counter()
        mem.add_scenes(scenes, embeddings=vectors[0])
        mem.add_facts(facts, embeddings=vectors[1])
        insert_s = time.perf_counter() - started
        sample = [s.model_copy(update={"series": f"{SERIES}-commit"}) for s in scenes[:50]]
        started = time.perf_counter()
        for s in sample:  # a separate series, so retrieval below sees exactly the series' scenes
            mem.add_scene(s)
        commit_s = time.perf_counter() - started
        n = len(scenes) + len(facts)
        console.print(
            f"built {path.name}: chroma insert {n:,} precomputed in {insert_s:.1f} s ({n / insert_s:,.0f}/s); "
            f"add_scene one by one {len(sample) / commit_s:.1f}/s"
        )


def open_store(
    console: Console, cache: Path, size: int, seed: int, corpus_all: tuple[list, list, Any, Any]
) -> Path:
    """The cached store of the series' first ``size`` scenes, built on first use."""
    scenes, facts, scene_vecs, fact_vecs = corpus_all
    path = (
        cache / f"store-{size}-{PER_EPISODE}-{seed}-typed"
    )  # typed facts (subject, slot) since issue 17 item 1
    with StoryMemory(path) as mem:
        filled = mem.stats()["facts"] >= size * FACTS_PER_SCENE
    if not filled:
        n_facts = size * FACTS_PER_SCENE
        build_store(console, path, scenes[:size], facts[:n_facts], (scene_vecs[:size], fact_vecs[:n_facts]))
    return path


def cases(
    rng: random.Random, scenes: list[SceneRecord], n: int
) -> list[tuple[tuple[int, int], str, list[str]]]:
    """Fresh (point, query, names) per call past the first tenth of the series, so no call profits
    from the query-vector cache."""
    later = scenes[len(scenes) // 10 :]
    return [((s.episode, s.scene_no), *synopsis(rng)) for s in (rng.choice(later) for _ in range(n))]


def measure(
    pkg: ModuleType, path: Path, scenes: list[SceneRecord], seed: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """p50/p95 (ms) of each call of ``pkg`` (a memory package) on the store at ``path``."""
    mem = pkg.StoryMemory(path)
    calls: dict[str, Callable[[tuple[int, int], str, list[str]], object]] = {
        FIRST: lambda p, q, n: pkg.build_previous_context(mem, SERIES, p[0], p[1], q, n, premise="A keeper."),
        "recent_scenes k=3": lambda p, q, n: mem.recent_scenes(SERIES, p, k=3),
        "facts by character, newest k=10": lambda p, q, n: mem.facts(SERIES, characters=n, before=p, k=10),
        "facts by character + query k=8": lambda p, q, n: mem.facts(
            SERIES, characters=n, query=q, before=p, k=8
        ),
        "similar_scenes k=3 (MMR)": lambda p, q, n: mem.similar_scenes(SERIES, q, p, k=3),
        "profiles(names)": lambda p, q, n: mem.profiles(SERIES, n, before=p),
        "character state (typed facts, 2 names)": lambda p, q, n: character_state(pkg, mem, p, n),
        "embed one query (reference)": lambda p, q, n: mem.embedding.query_vector(q),
    }
    out = {}
    for i, (label, fn) in enumerate(calls.items()):  # each row its own cases: no query is embedded yet
        it = iter(cases(random.Random(seed * 100 + i), scenes, rounds + 3))
        out[label] = percentiles(timed(lambda fn=fn, it=it: fn(*next(it)), rounds))
    if hasattr(pkg, "embed_scene_queries"):  # the run embeds an episode's scene queries in one batch
        batch = cases(random.Random(seed * 100 + len(calls)), scenes, rounds + 3)
        started = time.perf_counter()
        pkg.embed_scene_queries(mem, [(query, names) for _, query, names in batch])
        per_query = (time.perf_counter() - started) * 1000 / len(batch)
        it = iter(batch)
        out[BATCHED] = percentiles(timed(lambda: calls[FIRST](*next(it)), rounds))
        out[BATCH_EMBED] = (per_query, per_query)
    return out


def character_state(pkg: ModuleType, mem: Any, point: tuple[int, int], names: list[str]) -> object:
    """What retrieve_context derives for the scene's characters: the fact in force in every slot they
    touch, as state lines (a package from before typed facts has none: skipped). Warm: the typed-fact index
    is read once per process, in the untimed warm-up calls (``--index-load`` times that read)."""
    if not hasattr(mem, "facts_in_force"):
        return None
    from dsr.memory.records import name_key
    from dsr.memory.state import character_states

    current = mem.facts_in_force(SERIES, characters=names, before=point)
    return character_states(current, {n: {name_key(n)} for n in names})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="series lengths in scenes, comma-separated")
    parser.add_argument("--queries", type=int, default=60, help="timed calls per measurement")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "dsr-memory-bench")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the 'before' memory package")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--torch-threads", type=int, default=2, help="torch.set_num_threads")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.torch_threads)
    console = Console(width=150)
    sizes = sorted(int(n) for n in args.sizes.split(","))
    scenes, facts = corpus(sizes[-1], PER_EPISODE, args.seed)
    embedding = SentenceEmbedding()
    started = time.perf_counter()
    key = f"{sizes[-1]}-{PER_EPISODE}-{args.seed}"
    scene_vecs = cached_vectors(embedding, [s.summary for s in scenes], args.cache, f"scenes-{key}")
    fact_vecs = cached_vectors(embedding, [f.text for f in facts], args.cache, f"facts-{key}")
    console.print(
        f"vectors for {len(scenes):,} scenes and {len(facts):,} facts: {time.perf_counter() - started:.1f} s"
    )
    with tempfile.TemporaryDirectory(prefix="dsr-memory-before-") as tmp:
        before = baseline_package(args.baseline, Path(tmp))
        after = importlib.import_module("dsr.memory")
        table = Table(
            title=f"retrieval latency, ms ({args.queries} calls each, torch threads {args.torch_threads}, "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
        for col in ("call", "scenes / facts", "before p50", "before p95", "after p50", "after p95"):
            table.add_column(col, justify="left" if col == "call" else "right")
        for size in sizes:
            path = open_store(console, args.cache, size, args.seed, (scenes, facts, scene_vecs, fact_vecs))
            got = {
                name: measure(pkg, path, scenes[:size], args.seed + size, args.queries)
                for name, pkg in (("after", after), ("before", before))
            }
            for label, (a50, a95) in got["after"].items():
                b50, b95 = got["before"].get(label, (None, None))  # newer rows have no baseline figure
                table.add_row(
                    label,
                    f"{size:,} / {size * FACTS_PER_SCENE:,}",
                    "-" if b50 is None or label.startswith("character state") else f"{b50:.1f}",
                    "-" if b95 is None or label.startswith("character state") else f"{b95:.1f}",
                    f"{a50:.1f}",
                    f"{a95:.1f}",
                )
            table.add_section()
        console.print(table)
        point, query, names = cases(random.Random(args.seed), scenes, 1)[0]
        with StoryMemory(path) as mem:
            story, _, ids = after.build_previous_context(mem, SERIES, *point, query, names)
        console.print(f"[dim]sample context for E{point[0]} S{point[1]} ({len(ids)} sources):[/]\n{story}")


if __name__ == "__main__":
    main()
