"""Story-memory retrieval latency at scale (default 10,000 stored scenes) and ingest rate.

1. Ingest: synthetic scene summaries (150-300 chars) and one fact per two scenes, embedded once in
   batches (timed on its own), then inserted into Chroma with the precomputed vectors (timed on its
   own). A small sample also goes through ``add_scene`` one by one, the way ``commit`` writes.
2. Retrieval at random points of the series (warm, after a few untimed calls): p50/p95 of
   ``similar_scenes`` (series + order filter, MMR over 20 candidates), ``recent_scenes``, ``facts`` and
   the whole ``build_previous_context``; the cost of embedding one query is shown for reference.

Usage: ``.venv/bin/python benchmarks/memory.py [--scenes 10000] [--per-episode 40] [--queries 100]``.
Ingesting 10,000 scenes embeds ~15,000 texts: about 4-5 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory import CharacterRecord, Fact, SceneRecord, StoryMemory, build_previous_context  # noqa: E402

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
    "the lighthouse lamp room", "the harbour wall", "the fish market", "Tom's kitchen", "the chapel",
    "the lifeboat station", "the cliff path", "the Anchor pub", "the customs office", "the beach below the rocks",
    "the school hall", "the ferry deck",
]  # fmt: skip
OBJECTS = [
    "a salt-stained letter", "the missing logbook", "a brass compass", "the lifeboat keys", "a bloodied scarf",
    "the harbour ledger", "a photograph of the wreck", "a bottle of rum", "the keeper's spare lens", "a roll of banknotes",
]  # fmt: skip
ACTIONS = [
    "confronts {b} about {obj}", "hides {obj} from {b}", "tells {b} the truth about {obj}",
    "argues with {b} over {obj}", "finds {obj} where {b} left it", "bargains with {b} for {obj}",
    "catches {b} searching for {obj}", "begs {b} to forget {obj}",
]  # fmt: skip
OUTCOMES = [
    "{b} storms out into the rain", "{b} promises to keep quiet, for now", "the storm cuts the power",
    "{b} threatens to tell the harbour master", "neither of them notices the stranger at the window",
    "{b} breaks down in tears", "a ship's horn sounds in the fog", "{b} leaves without a word",
]  # fmt: skip


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


def make_facts(scenes: list[SceneRecord], rng: random.Random) -> list[Fact]:
    return [
        Fact(
            series=SERIES,
            episode=s.episode,
            scene_no=s.scene_no,
            text=f"{s.characters[0].title()} now has {rng.choice(OBJECTS)} ({s.episode}.{s.scene_no}).",
            characters=[s.characters[0]],
            kind="object",
        )
        for s in scenes[::2]
    ]


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


def ingest(
    console: Console,
    mem: StoryMemory,
    scenes: list[SceneRecord],
    facts: list[Fact],
    open_s: float,
    args: argparse.Namespace,
    rng: random.Random,
) -> None:
    """Fill the store (embedding and insert timed separately) and print the ingest table."""
    for name in NAMES:
        for ep in range(1, scenes[-1].episode + 1, 5):
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
    scene_vecs = mem.embedding.embed([s.summary for s in scenes])
    fact_vecs = mem.embedding.embed([f.text for f in facts])
    embed_s = time.perf_counter() - started
    started = time.perf_counter()
    mem.add_scenes(scenes, embeddings=scene_vecs)
    mem.add_facts(facts, embeddings=fact_vecs)
    insert_s = time.perf_counter() - started
    # A separate series, so the retrieval numbers below see exactly --scenes scenes.
    sample = [
        s.model_copy(update={"series": f"{SERIES}-commit"})
        for s in make_scenes(args.commit_sample, args.per_episode, rng)
    ]
    started = time.perf_counter()
    for s in sample:
        mem.add_scene(s)
    commit_s = time.perf_counter() - started

    ingest = Table(title=f"ingest ({mem.stats()})")
    for col in ("what", "seconds", "items/s"):
        ingest.add_column(col, justify="right" if col != "what" else "left")
    n_texts = len(scenes) + len(facts)
    ingest.add_row("open memory (loads MiniLM)", f"{open_s:.1f}", "")
    ingest.add_row(f"embed {n_texts:,} texts (batches of 64)", f"{embed_s:.1f}", f"{n_texts / embed_s:,.0f}")
    ingest.add_row(f"chroma insert {n_texts:,} precomputed", f"{insert_s:.1f}", f"{n_texts / insert_s:,.0f}")
    ingest.add_row(
        f"add_scene one by one x{len(sample)}", f"{commit_s:.1f}", f"{len(sample) / commit_s:,.1f}"
    )
    console.print(ingest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=10_000)
    parser.add_argument("--per-episode", type=int, default=40)
    parser.add_argument("--queries", type=int, default=100, help="timed calls per measurement")
    parser.add_argument(
        "--commit-sample", type=int, default=200, help="scenes written one by one via add_scene"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        help="keep the Chroma directory here (default: a temp dir); reused if already filled",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--torch-threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    console = Console()
    rng = random.Random(args.seed)
    workdir = tempfile.TemporaryDirectory(prefix="dsr-memory-bench-") if args.dir is None else None
    path = args.dir or Path(workdir.name)

    started = time.perf_counter()
    mem = StoryMemory(path)
    open_s = time.perf_counter() - started
    scenes = make_scenes(args.scenes, args.per_episode, rng)
    facts = make_facts(scenes, rng)
    console.print(f"[bold]memory benchmark[/] {len(scenes):,} scenes, {len(facts):,} facts, {path}")
    if mem.stats()["scenes"] >= len(scenes):
        console.print("[dim]store already filled by an earlier run with --dir: measuring retrieval only[/]")
    else:
        ingest(console, mem, scenes, facts, open_s, args, rng)
    later = scenes[len(scenes) // 10 :]

    def cycling(fn: Callable[[tuple[int, int], str, list[str]], object]) -> Callable[[], object]:
        """Calls ``fn`` on fresh (point, query, names) cases, so no row profits from the query cache."""
        cases = [((s.episode, s.scene_no), *synopsis(rng)) for s in rng.sample(later, args.queries + 3)]
        it = iter(cases)
        return lambda: fn(*next(it))

    rows = [
        ("embed one query (reference)", cycling(lambda p, q, n: mem.embedding.embed([q]))),
        ("similar_scenes k=3 (filter + MMR)", cycling(lambda p, q, n: mem.similar_scenes(SERIES, q, p, k=3))),
        ("recent_scenes k=3", cycling(lambda p, q, n: mem.recent_scenes(SERIES, p, k=3))),
        (
            "facts(characters, query) k=8",
            cycling(lambda p, q, n: mem.facts(SERIES, characters=n, query=q, before=p, k=8)),
        ),
        ("profiles(names)", cycling(lambda p, q, n: mem.profiles(SERIES, n, before=p))),
        (
            "build_previous_context (600 tokens)",
            cycling(
                lambda p, q, n: build_previous_context(mem, SERIES, p[0], p[1], q, n, premise="A keeper.")
            ),
        ),
    ]
    latency = Table(title=f"retrieval at {len(scenes):,} scenes, {args.queries} timed calls each (ms)")
    for col in ("call", "p50", "p95"):
        latency.add_column(col, justify="right" if col != "call" else "left")
    for label, fn in rows:
        p50, p95 = percentiles(timed(fn, args.queries))
        latency.add_row(label, f"{p50:.1f}", f"{p95:.1f}")
    console.print(latency)
    point, query, names = (later[0].episode, later[0].scene_no), *synopsis(rng)
    story, _, ids = build_previous_context(mem, SERIES, *point, query, names)
    console.print(f"[dim]sample context for E{point[0]} S{point[1]} ({len(ids)} sources):[/]\n{story}")
    mem.close()
    if workdir is not None:
        workdir.cleanup()


if __name__ == "__main__":
    main()
