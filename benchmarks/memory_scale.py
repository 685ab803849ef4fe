"""Story memory at 10,000 and 100,000 scenes (50,000 and 500,000 typed facts): retrieval p50/p95 and first open,
on the embedded store and on a ``chroma run`` server over the same files, side by side in one run.

The series: 40 scenes per episode, five typed facts per scene (object, knowledge, injury, location,
relationship), a profile version per character every 25 episodes. Vectors are **synthetic but
meaningful**: MiniLM on 2 shared cores ingests about 45 documents/s, so embedding 100,000 distinct scene
summaries would take most of an hour. Each scene summary's vector is the normalised sum of the real MiniLM
vectors of its parts (place, characters, action, outcome: about 1,100 distinct phrases), each fact's vector
is the real MiniLM vector of its text (templates: about 10,000 distinct texts). Queries are real MiniLM
vectors of fresh synopses, and every query goes through the real code path (``build_previous_context``,
``StoryMemory``) against a real Chroma store.

Stores are built once (progress lines on stdout) and cached under ``--cache`` (default
``~/.cache/dsr/bench``); a rerun measures only.

Rows, per size and per backend (embedded ``PersistentClient``, then ``chroma run`` serving the same directory):

- first open: ``StoryMemory(path)``, then the first scene's whole retrieval (what the ``retrieve_context`` node
  reads: profiles, the characters' state from typed facts, ``build_previous_context``, the critic's known facts),
  in a fresh process, so nothing is cached (the first scene's query embedded between the two, untimed); on the
  embedded store once more "as a run opens it": the episode's 40 queries embedded in one batch between the two,
  as a run's first scene does (nodes/episode.py), timed apart, while the store loads the collections' vector
  indexes in the background (``StoryMemory`` starts that when it opens);
- warm p50/p95 of ``build_previous_context`` (queries embedded beforehand, as a run embeds an episode's scene
  queries in one batch), of the characters' state (``facts_in_force``), of the critic's known facts
  (``facts(characters=..., before=..., k=10)``) and of the retrieve node's reads together;
- "before": the same calls on the memory package at ``--baseline`` (a git revision), where it can still read
  the store; the characters' state and the retrieve node's reads together only where that package has
  ``facts_in_force`` and the size is at most ``--before-state-at`` (a package from before the facts index reads
  the whole facts collection once per process); its first open too, in a fresh process;
- on the server, first open once more after the warm measurements: a fresh client process on a server that is
  already serving the store (a server that stays up has loaded the collections' vector indexes already).

``--out FILE`` writes the tables as markdown with the command, the revision and the load average before and
after the run.

Usage: ``nice -n 5 .venv/bin/python benchmarks/memory_scale.py [--sizes 10000,100000] [--queries 60]
[--cache DIR] [--baseline REV] [--before-state-at N] [--skip-server] [--skip-before] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.memory import (  # noqa: E402
    ACTIONS,
    INJURIES,
    NAMES,
    OBJECTS,
    OUTCOMES,
    PLACES,
    SECRETS,
    TURNS,
    WHEN,
    baseline_package,
)

SERIES = "bench-series"
PER_EPISODE = 40
FACTS_PER_SCENE = 5
PROFILE_EVERY = 25  # episodes between a character's profile versions
FORMAT = "v1"  # bump when the corpus or the store layout changes: the cache key
BASELINE = "720c272"  # the memory package before the per-slot index


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# the corpus: every scene and fact with the phrases its synthetic vector is made of


def scene_parts(rng: random.Random) -> tuple[str, list[str], list[str]]:
    """One synopsis: its text, its two characters, and the phrases its vector sums."""
    a, b = rng.sample(NAMES, 2)
    obj, place = rng.choice(OBJECTS), rng.choice(PLACES)
    act = rng.choice(ACTIONS).format(b=b.title(), obj=obj)
    out = rng.choice(OUTCOMES).format(b=b.title())
    return f"In {place}, {a.title()} {act}; {out}.", [a, b], [f"In {place}", a.title(), act, out]


def corpus(n: int, seed: int) -> Iterator[tuple[Any, list[str], list[Any]]]:
    """``(scene, its vector's phrases, its facts)`` for scenes 0..n-1: deterministic for the seed, so the
    first 10,000 scenes of the 100,000-scene series are the 10,000-scene series."""
    from dsr.memory import Fact, SceneRecord

    rng = random.Random(seed)
    for i in range(n):
        text, names, parts = scene_parts(rng)
        extra, _, more = scene_parts(rng)
        scene = SceneRecord(
            series=SERIES,
            episode=i // PER_EPISODE + 1,
            scene_no=i % PER_EPISODE + 1,
            summary=f"{text} Later, {extra[0].lower()}{extra[1:]}",
            characters=names,
            tail=f"{names[0].title()} stares out at the water.",
        )
        a, b = names
        when = rng.choice(WHEN)
        obj, secret = rng.choice(OBJECTS), rng.choice(SECRETS)
        rows = [
            ("object", [a], obj, a, f"{a.title()} now holds {obj} {when}."),
            ("knowledge", [b, a], b, secret, f"{b.title()} learns that {a.title()} {secret}."),
            ("injury", [a], a, "", f"{a.title()} has {rng.choice(INJURIES)} {when}."),
            ("location", [b], b, "", f"{b.title()} ends the scene at {rng.choice(PLACES)} {when}."),
            ("relationship", [a, b], a, b, f"{a.title()} and {b.title()} {rng.choice(TURNS)} {when}."),
        ]
        facts = [
            Fact(
                series=SERIES,
                episode=scene.episode,
                scene_no=scene.scene_no,
                text=t,
                characters=cs,
                kind=kind,
                subject=subject,
                about=about,
            )
            for kind, cs, subject, about, t in rows
        ]
        yield scene, parts + more, facts


class Vectors:
    """Real MiniLM vectors of phrases and fact texts, each distinct text embedded once (cached in memory)."""

    def __init__(self) -> None:
        from dsr.memory.embedding import SentenceEmbedding

        self.embedding = SentenceEmbedding()
        self.table: dict[str, np.ndarray] = {}

    def fill(self, texts: list[str]) -> None:
        missing = [t for t in dict.fromkeys(texts) if t not in self.table]
        for i in range(0, len(missing), 512):
            chunk = missing[i : i + 512]
            for text, vector in zip(chunk, self.embedding.embed(chunk), strict=True):
                self.table[text] = vector.astype(np.float32)

    def summed(self, parts: list[str]) -> list[float]:
        v = np.sum([self.table[p] for p in parts], axis=0)
        return (v / np.linalg.norm(v)).tolist()


def store_dir(cache: Path, size: int, seed: int) -> Path:
    return cache / f"memory-{size}-{PER_EPISODE}-{seed}-{FORMAT}"


def build_store(path: Path, size: int, seed: int, vectors: Vectors) -> None:
    """Write the series' first ``size`` scenes, their facts and the cast's profile versions into a fresh
    store, in chunks of 5,000 scenes, with a progress line per chunk; ``path/BUILT`` marks it complete."""
    import shutil

    from dsr.memory import StoryMemory
    from dsr.memory.records import CharacterRecord, join_names

    if path.exists():
        shutil.rmtree(path)
    started = time.perf_counter()
    with StoryMemory(path) as mem:
        episodes = (size - 1) // PER_EPISODE + 1
        versions = [
            CharacterRecord(
                series=SERIES, name=n, profile={"name": n, "state": f"as of E{ep}"}, episode=ep, scene_no=0
            )
            for n in NAMES
            for ep in range(1, episodes + 1, PROFILE_EVERY)
        ]
        # Bulk, as upsert_character writes one (its metadata layout), without its per-version read.
        mem._characters.upsert(
            ids=[r.id for r in versions],
            documents=[f"{r.name}: {json.dumps(r.profile)}" for r in versions],
            metadatas=[
                {
                    "series": r.series,
                    "name": r.name,
                    "aliases": join_names(r.aliases),
                    "keys": sorted(r.keys()),
                    "profile": json.dumps(r.profile),
                    "episode": r.episode,
                    "scene_no": r.scene_no,
                    "order": r.order,
                }
                for r in versions
            ],
        )
        chunk: list[tuple[Any, list[str], list[Any]]] = []
        done = 0
        for row in corpus(size, seed):
            chunk.append(row)
            if len(chunk) == 5000 or done + len(chunk) == size:
                scenes = [s for s, _, _ in chunk]
                facts = [f for _, _, fs in chunk for f in fs]
                vectors.fill([p for _, parts, _ in chunk for p in parts] + [f.text for f in facts])
                mem.add_scenes(scenes, embeddings=[vectors.summed(parts) for _, parts, _ in chunk])
                mem.add_facts(facts, embeddings=[vectors.table[f.text].tolist() for f in facts])
                done += len(chunk)
                chunk = []
                rate = done / (time.perf_counter() - started)
                log(
                    f"built {path.name}: {done:,}/{size:,} scenes, {done * FACTS_PER_SCENE:,} facts ({rate:,.0f} scenes/s)"
                )
    (path / "BUILT").write_text(
        json.dumps({"scenes": size, "seconds": round(time.perf_counter() - started, 1)})
    )


def index_store(path: Path, size: int, seed: int) -> None:
    """Write the facts index of a store built before it (memory/index.py), or before its ``t|`` records (the
    typed facts whole), from the corpus the store holds, through a bare Chroma client: what ``StoryMemory``
    would do on first open of a store from before the index, without its whole read of the facts (10 minutes
    at 500,000 facts on this loaded machine; 68 s measured at 50,000)."""
    import chromadb
    from chromadb.config import Settings

    from dsr.memory import index
    from dsr.memory.store import _StoredFacts

    client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    col = client.get_or_create_collection(
        index.NAME, embedding_function=None, configuration=index.CONFIGURATION
    )
    index.tune(col)
    got = col.get(ids=[index.VERSION_ID], include=["metadatas"])["metadatas"] or [{}]
    if (got[0] or {}).get("version") == index.VERSION and (got[0] or {}).get("typed") == index.TYPED:
        return
    log(f"indexing {path.name} from its corpus")
    whole = _StoredFacts(client.get_collection("facts", embedding_function=None))
    started, chunk = time.perf_counter(), []
    for i, (_, _, facts) in enumerate(corpus(size, seed), 1):
        chunk += facts
        if i % 10_000 == 0 or i == size:  # whole episodes (PER_EPISODE divides 10,000)
            index.index_facts(col, chunk, client.get_max_batch_size(), whole)
            chunk = []
            log(f"indexed {i:,}/{size:,} scenes ({time.perf_counter() - started:.0f} s)")
    col.upsert(
        ids=[index.VERSION_ID],
        embeddings=[[1.0]],
        metadatas=[{"version": index.VERSION, "typed": index.TYPED}],
    )


def ensure_store(cache: Path, size: int, seed: int, vectors: Vectors | None = None) -> Path:
    path = store_dir(cache, size, seed)
    if not (path / "BUILT").exists():
        log(f"building {path} ({size:,} scenes, {size * FACTS_PER_SCENE:,} facts; cached for later runs)")
        build_store(path, size, seed, vectors or Vectors())
    index_store(path, size, seed)
    return path


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = sorted(x * 1000 for x in samples)
    return statistics.median(ms), ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]


def cases(size: int, n: int, seed: int) -> list[tuple[tuple[int, int], str, list[str]]]:
    """Fresh (point, synopsis, names) at random points past the first tenth of the series."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        i = rng.randrange(size // 10, size)
        text, names, _ = scene_parts(rng)
        out.append(((i // PER_EPISODE + 1, i % PER_EPISODE + 1), text, names))
    return out


def scene_reads(
    pkg: ModuleType, mem: Any, point: tuple[int, int], query: str, names: list[str], *, state: bool = True
) -> dict[str, Any]:
    """What the retrieve_context node reads for one scene (nodes/retrieve.py), call by call; without ``state``
    the build_previous_context and known facts only (a package from before the facts index reads the whole
    facts collection for the characters' state)."""
    out: dict[str, Any] = {}
    if state:
        started = time.perf_counter()
        mem.profiles(SERIES, names, before=point)
        out["profiles"] = time.perf_counter() - started
        started = time.perf_counter()
        if hasattr(mem, "facts_in_force"):
            mem.facts_in_force(SERIES, characters=names, before=point)
        out["state"] = time.perf_counter() - started
    started = time.perf_counter()
    pkg.build_previous_context(mem, SERIES, point[0], point[1], query, names, premise="A keeper.")
    out["context"] = time.perf_counter() - started
    started = time.perf_counter()
    mem.facts(SERIES, characters=names, before=point, k=10)
    out["known"] = time.perf_counter() - started
    if state:  # the retrieve node's reads together
        out["scene"] = sum(out.values())
    return out


def measure(
    pkgs: list[tuple[ModuleType, bool]], location: str, size: int, rounds: int, seed: int
) -> list[dict[str, Any]]:
    """Warm p50/p95 per call of each memory package in ``pkgs`` (with whether to time its characters' state) on
    the store at ``location``, side by side: one store client each, queries embedded beforehand in one batch as
    a run embeds its episode's, the packages taking turns scene by scene (which goes first alternates), so a
    machine that slows down during the run (other jobs, its host reclaiming memory) slows both alike."""
    opened = [pkg.StoryMemory(location) for pkg, _ in pkgs]
    batch = cases(size, rounds + 4, seed)
    for (pkg, _), mem in zip(pkgs, opened, strict=True):
        pkg.embed_scene_queries(mem, [(q, n) for _, q, n in batch])
    samples: list[dict[str, list[float]]] = [{} for _ in pkgs]
    for i, (point, query, names) in enumerate(batch[1:]):
        turns = list(range(len(pkgs)))
        for j in turns if i % 2 else turns[::-1]:
            (pkg, state), mem = pkgs[j], opened[j]
            point_reads = scene_reads(pkg, mem, point, query, names, state=state)
            if i >= 3:  # warm-up
                for k, v in point_reads.items():
                    samples[j].setdefault(k, []).append(v)
    for mem in opened:
        mem.close()
    return [{k: percentiles(v) for k, v in got.items()} for got in samples]


FIRST_OPEN = """
import importlib, json, resource, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
sys.path[1:1] = {extra_path!r}
if {preload}:
    from dsr.memory.embedding import load_model
    load_model()
else:  # what a run has imported when it opens its memory: the embedding model (torch) is not among it
    import dsr.run.runner, dsr.graph
from benchmarks.memory_scale import cases, scene_reads
pkg = importlib.import_module({package!r})
t = time.perf_counter()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
mem = pkg.StoryMemory({location!r})
opened = time.perf_counter() - t
batch = cases({size}, {queries}, {seed})
point, query, names = batch[0]
t = time.perf_counter()
pkg.embed_scene_queries(mem, [(q, n) for _, q, n in batch])
embedded = time.perf_counter() - t
reads = scene_reads(pkg, mem, point, query, names)
faulted = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) * resource.getpagesize() / 2**20
print(json.dumps({{"open": opened, **reads, "embed": embedded, "faulted": faulted}}))
"""


def first_open(
    location: str, size: int, seed: int, pkg: ModuleType | None = None, queries: int = 1, preload: bool = True
) -> dict[str, float]:
    """``StoryMemory(location)`` and the first scene's reads in a fresh process (nothing cached), of ``pkg`` (a
    memory package: the baseline's, imported there from the same directory) or of ``dsr.memory``; between
    them, ``queries`` scenes' memory queries embedded in one batch (timed apart: ``embed``), the first scene's
    alone by default, an episode's (``PER_EPISODE``) as a run's first scene does (nodes/episode.py). The
    embedding model is loaded before ``StoryMemory`` is timed, unless ``preload`` is False: then the process has
    imported what a run has when it opens its memory, and the model's load (torch's import with it) is part of
    ``StoryMemory(path)``, as in a fresh ``dsr write``."""
    package, extra = "dsr.memory", []
    if pkg is not None:
        package, extra = pkg.__name__, [str(Path(pkg.__file__ or "").parents[1])]
    code = FIRST_OPEN.format(
        root=str(ROOT),
        extra_path=extra,
        package=package,
        location=location,
        size=size,
        seed=seed,
        queries=queries,
        preload=preload,
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


TOUCH = "import time, numpy as np; t = time.perf_counter(); a = np.ones({n}); print(time.perf_counter() - t)"


def touch_seconds_per_gib() -> tuple[float, float]:
    """Seconds to fill 1 GiB in a new process, twice in a row: memory the machine hands out fresh, then memory
    just freed. The first open's vector index load is mostly memory being faulted in: Chroma reads each vector
    index into memory it allocates (838 MB for the facts' at 500,000 facts). On a virtual machine that gives
    freed guest memory back to its host (Firecracker's free page reporting, on this machine's kernel command
    line) a page touched again costs the host's fault too: 2.9 s/GiB here against 0.12 s/GiB for memory just
    freed, which no code of ours changes; the tables say which the run saw, and the first opens report how
    much memory they faulted in."""
    n = 2**30 // 8
    runs = [
        subprocess.run([sys.executable, "-c", TOUCH.format(n=n)], capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    first, again = (float(r.stdout.strip()) for r in runs)
    return first, again


@contextmanager
def served(path: Path) -> Iterator[str]:
    from tests.backing_servers import chroma_server

    with chroma_server(path) as url:
        yield url


def row(label: str, size: int, backend: str, before: Any, after: Any) -> str:
    def cell(v: Any) -> str:
        return "-" if v is None else f"{v:.1f}"

    b = before or (None, None)
    return f"| {label} | {size:,} / {size * FACTS_PER_SCENE:,} | {backend} | {cell(b[0])} | {cell(b[1])} | {cell(after[0])} | {cell(after[1])} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="series lengths in scenes, comma-separated")
    parser.add_argument("--queries", type=int, default=60, help="timed scenes per measurement")
    parser.add_argument("--cache", type=Path, default=Path("~/.cache/dsr/bench").expanduser())
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the 'before' memory package")
    parser.add_argument("--build-only", action="store_true", help="build (or find) the stores and stop")
    parser.add_argument("--out", type=Path, help="write the results as markdown to this file")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument(
        "--before-state-at", type=int, default=10_000, help="largest size the 'before' state runs at"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    fresh, freed = touch_seconds_per_gib()
    touch = [
        f"1 GiB filled in a new process: {fresh:.2f} s as the machine hands memory out, {freed:.2f} s at once again"
    ]
    log("; ".join(touch))
    command = " ".join([Path(sys.executable).name, *sys.argv])
    import torch

    torch.set_num_threads(1)
    sizes = sorted(int(n) for n in args.sizes.split(","))
    vectors: Vectors | None = None
    paths = {}
    for size in sizes:
        if not (store_dir(args.cache, size, args.seed) / "BUILT").exists():
            vectors = vectors or Vectors()
        paths[size] = ensure_store(args.cache, size, args.seed, vectors)
    if args.build_only:
        return
    from dsr.memory import StoryMemory

    for path in paths.values():  # a store built before the index is indexed once, on first open
        started = time.perf_counter()
        StoryMemory(path).close()
        log(
            f"opened {path.name} ({time.perf_counter() - started:.1f} s; the first open indexes a store from before)"
        )
    after = importlib.import_module("dsr.memory")
    lines: list[str] = []
    firsts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dsr-memory-before-") as tmp:
        before = None if args.skip_before else baseline_package(args.baseline, Path(tmp))
        for size, path in paths.items():
            backends = [("embedded", None)] + ([] if args.skip_server else [("server", path)])
            for backend, serve in backends:
                with served(serve) if serve is not None else _nothing(str(path)) as location:
                    log(f"{size:,} scenes, {backend}: first open in a fresh process")
                    firsts.append(first_row(size, backend, "after", first_open(location, size, args.seed)))
                    log(firsts[-1])
                    log(f"{size:,} scenes, {backend}: warm, after" + (" and before" if before else ""))
                    pkgs = [(after, True)]
                    if before is not None:
                        state = hasattr(before.StoryMemory, "facts_in_force") and size <= args.before_state_at
                        pkgs.append((before, state))
                    got, *olds = measure(pkgs, location, size, args.queries, args.seed + 1)
                    old: dict[str, Any] = olds[0] if olds else {}
                    for key, label in (
                        ("context", "build_previous_context (queries embedded per episode)"),
                        ("known", "critic's known facts (newest k=10 about the names)"),
                        ("state", "characters' state (facts_in_force, 2 names)"),
                        ("profiles", "profiles(names)"),
                        ("scene", "the retrieve node's reads together"),
                    ):
                        lines.append(row(label, size, backend, old.get(key), got[key]))
                    log("\n".join(lines[-5:]))
                    if backend == "server":  # the server has loaded the store: a new client's first scene
                        log(f"{size:,} scenes, server: first open in a fresh process, server already serving")
                        warm = first_open(location, size, args.seed)
                        firsts.append(first_row(size, "server, already serving", "after", warm))
                        log(firsts[-1])
                    if before is not None and backend == "embedded":
                        log(f"{size:,} scenes, {backend}: first open in a fresh process, before")
                        firsts.append(
                            first_row(size, backend, "before", first_open(location, size, args.seed, before))
                        )
                        log(firsts[-1])
                    if backend == "embedded":  # as a run's first scene: the episode's queries embedded first
                        for code, pkg in (("after", None), ("before", before)):
                            if code == "before" and pkg is None:
                                continue
                            log(f"{size:,} scenes, {backend}: first open as a run's first scene, {code}")
                            got_first = first_open(location, size, args.seed, pkg, PER_EPISODE)
                            firsts.append(first_row(size, f"{backend}, as a run opens it", code, got_first))
                            log(firsts[-1])
                            log(f"{size:,} scenes, {backend}: first open in a fresh run's process, {code}")
                            got_first = first_open(location, size, args.seed, pkg, PER_EPISODE, preload=False)
                            label = f"{backend}, in a fresh run's process (model loaded in StoryMemory)"
                            firsts.append(first_row(size, label, code, got_first))
                            log(firsts[-1])
    load_after = os.getloadavg()
    head = "| call | scenes / facts | store | before p50 | before p95 | after p50 | after p95 |"
    loads = f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} before, {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} after (1, 5, 15 min), {os.cpu_count()} CPUs"
    tables = [
        f"retrieval, ms ({args.queries} scenes each, warm; before = memory/ at {args.baseline}; {loads})",
        "",
        head,
        "|---|---|---|---:|---:|---:|---:|",
        *lines,
        "",
        "first open in a fresh process, ms (StoryMemory(path), the first scene's query embedded, or an episode's "
        f"{PER_EPISODE} in one batch where the store is 'as a run opens it' (nodes/episode.py), then the first "
        "scene's reads)",
        "",
        "| scenes / facts | store | code | StoryMemory(path) | queries embedded | first scene's reads "
        "| open + first scene | with the embedding | memory faulted in, MiB |",
        "|---|---|---|---:|---:|---|---:|---:|---:|",
        *firsts,
    ]
    print("\n" + "\n".join(tables))
    if args.out is not None:
        revision = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "memory", "benchmarks/memory_scale.py"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            "\n".join(
                [
                    f"# Story memory at scale: {', '.join(f'{n:,}' for n in sizes)} scenes",
                    "",
                    f"- command: `{command}`",
                    f"- run: {time.strftime('%Y-%m-%d %H:%M %Z')}, revision {revision}"
                    + (" with uncommitted changes to memory/ or this benchmark" if dirty else ""),
                    f"- {loads}",
                    f"- {'; '.join(touch)}",
                    "",
                    *tables,
                    "",
                ]
            )
        )
        log(f"wrote {args.out}")


def first_row(size: int, backend: str, code: str, first: dict[str, float]) -> str:
    ms = {k: v * 1000 for k, v in first.items()}
    embed = ms.get("embed", 0.0)
    return (
        f"| {size:,} / {size * FACTS_PER_SCENE:,} | {backend} | {code} | {ms['open']:.0f} | {embed:.0f} | "
        f"{ms['scene']:.0f} (profiles {ms['profiles']:.0f}, state {ms['state']:.0f}, context "
        f"{ms['context']:.0f}, known facts {ms['known']:.0f}) | {ms['open'] + ms['scene']:.0f} | "
        f"{ms['open'] + embed + ms['scene']:.0f} | {first.get('faulted', 0.0):.0f} |"
    )


@contextmanager
def _nothing(location: str) -> Iterator[str]:
    yield location


if __name__ == "__main__":
    main()
