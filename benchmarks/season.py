"""Seasons at scale (issue 19), measured side by side in one run against real servers on 127.0.0.1.

- The models: ``dsr serve``'s app serving the scripted room (tests/scripted_room.py) in its own process, every
  request held ``--latency`` seconds before a valid answer for its role (five calls per scene: planner,
  novelist, screenwriter, critic's rubric, fact extraction). What is measured is everything around the models.
- Episodes per hour at 1, 4 and 8 workers: one season of independent episodes written in-process by
  ``dsr.run.season.Season`` (SQLite checkpoints per episode, one embedded Chroma memory), a fresh directory per
  worker count, after an untimed warm-up episode; the speed-up against 1 worker (target >= 6x at 8).
- Checkpoint write overhead per node: the savers' ``put``/``put_writes`` timed while real episodes run with no
  model latency, PostgreSQL (a throwaway cluster on 127.0.0.1, tests/backing_servers.py) vs SQLite.
- Memory retrieval p50/p95 at 10,000 scenes, a ``chroma run`` server vs the embedded client: the calls and the
  series of benchmarks/memory.py, on one copy of its store (built and cached under /tmp on first use).
- Kill -9 during a season: ``dsr season`` on PostgreSQL and a Chroma server is SIGKILLed mid-season and the same
  command run again; committed scenes lost and finished model calls made again are counted.

Usage: ``.venv/bin/python benchmarks/season.py [--latency 2] [--episodes 8] [--scenes 2] [--workers 1,4,8]
[--skip throughput,checkpoints,memory,kill] [--json FILE]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
console = Console(width=150)


def room_env(base_url: str) -> dict[str, str]:
    """Every role on the room (no retries: a failure shows at once)."""
    from dsr.models.settings import ROLES
    from tests.conftest import ServedModel

    return ServedModel(base_url, "room", Path(os.devnull)).env(*ROLES, max_new_tokens=2048)


def use_room(base_url: str) -> None:
    for key in [k for k in os.environ if k.startswith("DSR_")]:
        del os.environ[key]
    os.environ.update(room_env(base_url))


def write_season(folder: Path, episodes: int, scenes: int, series: str) -> Path:
    """A season of ``episodes`` independent episodes (no storyline): all may be written at once."""
    from tests.scripted_room import episode_yaml

    folder.mkdir(parents=True, exist_ok=True)
    lines = ["title: benchmark season", "episodes:"]
    for n in range(1, episodes + 1):
        (folder / f"ep{n:02d}.yaml").write_text(episode_yaml(series, n, scenes))
        lines.append(f"  - file: ep{n:02d}.yaml")
    (folder / "season.yaml").write_text("\n".join(lines) + "\n")
    return folder / "season.yaml"


def model_calls(run: Path) -> list[dict[str, Any]]:
    from dsr.contract.call_log import read_call_log

    return [c for c in read_call_log(run / "calls.jsonl") if c.get("ok") is not None]


# 1. episodes per hour


def run_season(path: Path, out: Path, workers: int) -> dict[str, Any]:
    from dsr.contract.context import RunContext
    from dsr.run.season import Season, load_season

    _, planned = load_season(path)
    started = time.perf_counter()
    statuses = Season(planned, out, RunContext(memory_dir=str(out / "memory")), workers=workers).run()
    wall = time.perf_counter() - started
    stopped = [s.name for s in statuses.values() if s.status != "done"]
    if stopped:
        raise SystemExit(f"episodes did not finish: {stopped} ({statuses[stopped[0]].detail})")
    calls = [c for p in planned for c in model_calls(out / p.name)]
    return {
        "workers": workers,
        "episodes": len(planned),
        "wall_s": wall,
        "episodes_per_hour": len(planned) / wall * 3600,
        "calls": len(calls),
        "model_s": sum(c["seconds"] for c in calls),
    }


def throughput(tmp: Path, base_url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    use_room(base_url)
    warm = write_season(tmp / "warm", 1, 1, "warm")
    run_season(warm, tmp / "warm-out", 1)  # imports, embedder, the server's grammar cache: not measured
    rows = []
    for workers in args.workers:
        path = write_season(tmp / f"season-{workers}", args.episodes, args.scenes, f"bench{workers}")
        row = run_season(path, tmp / f"out-{workers}", workers)
        rows.append(row)
        console.print(
            f"  {workers} worker(s): {row['episodes']} episodes in {row['wall_s']:.1f} s = "
            f"{row['episodes_per_hour']:.0f} episodes/hour ({row['calls']} model calls)"
        )
    return rows


# 2. checkpoint writes


def time_savers() -> tuple[dict[str, list[float]], Callable[[], None]]:
    """Wrap both savers' put/put_writes with timers (this process only); returns the samples and an undo."""
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.sqlite import SqliteSaver

    samples: dict[str, list[float]] = {"sqlite": [], "postgres": []}
    originals = []
    for cls, key in ((SqliteSaver, "sqlite"), (PostgresSaver, "postgres")):
        for name in ("put", "put_writes"):
            original = getattr(cls, name)
            originals.append((cls, name, original))

            def timed(self, *a, _original=original, _key=key, **kw):  # type: ignore[no-untyped-def]
                started = time.perf_counter()
                try:
                    return _original(self, *a, **kw)
                finally:
                    samples[_key].append(time.perf_counter() - started)

            setattr(cls, name, timed)

    def undo() -> None:
        for cls, name, original in originals:
            setattr(cls, name, original)

    return samples, undo


def checkpoint_overhead(tmp: Path, base_url: str, postgres: str, args: argparse.Namespace) -> dict[str, dict]:
    from dsr.contract.context import RunContext
    from dsr.run.runner import drive, initial_input, start_run
    from dsr.story.episode_spec import load_episode
    from tests.scripted_room import episode_yaml

    use_room(base_url)
    samples, undo = time_savers()
    out: dict[str, dict] = {}
    try:
        for store, address in (("sqlite", "sqlite"), ("postgres", postgres)):
            nodes, walls = 0, 0.0
            for n in range(1, args.checkpoint_episodes + 1):
                source = tmp / f"cp-{store}-{n}.yaml"
                source.write_text(episode_yaml(f"cp-{store}", n, args.scenes + 1))
                spec, run = load_episode(source), tmp / f"cp-{store}-{n}"
                context = start_run(
                    spec, run, RunContext(run_dir=str(run), memory_dir=str(tmp / f"cp-mem-{store}")), address
                )
                counted: list[str] = []
                started = time.perf_counter()
                result = drive(
                    run,
                    context,
                    initial_input(spec),
                    on_update=lambda node, _u, c=counted: c.append(node),
                    checkpoints=address,
                )
                walls += time.perf_counter() - started
                assert result.finished
                nodes += len(counted)
            writes = samples[store]
            out[store] = {
                "nodes": nodes,
                "writes": len(writes),
                "write_ms_p50": statistics.median(writes) * 1000,
                "per_node_ms": sum(writes) / nodes * 1000,
                "share_of_wall": sum(writes) / walls,
            }
            console.print(
                f"  {store}: {nodes} nodes, {len(writes)} writes, p50 {out[store]['write_ms_p50']:.2f} ms per write, "
                f"{out[store]['per_node_ms']:.2f} ms per node ({out[store]['share_of_wall']:.1%} of the run's wall time)"
            )
    finally:
        undo()
    return out


# 3. memory retrieval


def memory_benchmark_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_memory", ROOT / "benchmarks" / "memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def memory_latency(tmp: Path, args: argparse.Namespace) -> dict[str, dict[str, tuple[float, float]]]:
    from dsr import memory as memory_pkg
    from dsr.memory.embedding import SentenceEmbedding
    from tests.backing_servers import chroma_server

    bm = memory_benchmark_module()
    size, seed = 10_000, 7
    scenes, facts = bm.corpus(size, bm.PER_EPISODE, seed)
    embedding = SentenceEmbedding()
    key = f"{size}-{bm.PER_EPISODE}-{seed}"
    vectors = (
        bm.cached_vectors(embedding, [s.summary for s in scenes], args.memory_cache, f"scenes-{key}"),
        bm.cached_vectors(embedding, [f.text for f in facts], args.memory_cache, f"facts-{key}"),
    )
    cached = bm.open_store(console, args.memory_cache, size, seed, (scenes, facts, *vectors))
    copy = tmp / "memory-10k"
    shutil.copytree(cached, copy)
    got = {}
    with chroma_server(copy) as url:  # the server first, then the embedded client on the same files
        got["chroma server"] = measure_memory(bm, memory_pkg, url, scenes, seed + size, args.queries)
    got["embedded"] = measure_memory(bm, memory_pkg, copy, scenes, seed + size, args.queries)
    return got


def measure_memory(bm: Any, pkg: Any, where: Any, scenes: list, seed: int, rounds: int) -> dict[str, Any]:
    """p50/p95 (ms) of the calls retrieval makes, on the store at ``where`` (a directory or a server URL), with
    benchmarks/memory.py's cases; a call that fails is reported with its error instead of a time."""
    import random

    from dsr.memory.embedding import QUERY_CACHE

    QUERY_CACHE.clear()  # the same cases on both: neither may find the other's query vectors cached
    mem = pkg.StoryMemory(where)
    series = bm.SERIES
    calls: dict[str, Callable[[tuple[int, int], str, list[str]], object]] = {
        "build_previous_context (600 tokens)": lambda p, q, n: pkg.build_previous_context(
            mem, series, p[0], p[1], q, n, premise="A keeper."
        ),
        "recent_scenes k=3": lambda p, q, n: mem.recent_scenes(series, p, k=3),
        "facts by character, newest k=10": lambda p, q, n: mem.facts(series, characters=n, before=p, k=10),
        "facts by character + query k=8": lambda p, q, n: mem.facts(
            series, characters=n, query=q, before=p, k=8
        ),
        "similar_scenes k=3 (MMR)": lambda p, q, n: mem.similar_scenes(series, q, p, k=3),
        "profiles(names)": lambda p, q, n: mem.profiles(series, n, before=p),
    }
    if hasattr(mem, "fact_history"):  # typed facts (issue 17): the history of the characters' slots
        calls["fact_history (typed facts, 2 names)"] = lambda p, q, n: mem.fact_history(
            series, characters=n, before=p
        )
    calls["embed one query (reference)"] = lambda p, q, n: mem.embedding.query_vector(q)
    out: dict[str, Any] = {}
    for i, (label, fn) in enumerate(calls.items()):
        it = iter(bm.cases(random.Random(seed * 100 + i), scenes, rounds + 3))
        try:
            out[label] = bm.percentiles(bm.timed(lambda fn=fn, it=it: fn(*next(it)), rounds))
        except Exception as exc:  # noqa: BLE001 - reported in the table
            out[label] = f"fails: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    return out


# 4. kill -9 during a season


def kill_season(
    tmp: Path, base_url: str, requests_log: Path, postgres: str, chroma: str, args: argparse.Namespace
) -> dict[str, Any]:
    from dsr.run.runner import run_state
    from tests.servers import read_requests

    received_before = len(read_requests(requests_log))

    path = write_season(tmp / "kill", args.kill_episodes, 3, "killed")
    out = tmp / "kill-out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSR_")} | room_env(base_url)
    cmd = [
        str(ROOT / ".venv" / "bin" / "dsr"),
        "season",
        str(path),
        "-o",
        str(out),
        "--workers",
        str(args.kill_episodes),
        "--checkpoints",
        postgres,
        "--memory",
        chroma,
    ]
    names = [f"ep{n:02d}" for n in range(1, args.kill_episodes + 1)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    total = args.kill_episodes * 3 * 5
    while proc.poll() is None and sum(len(model_calls(out / n)) for n in names) < total // 2:
        time.sleep(0.1)
    if proc.poll() is not None:
        raise SystemExit("the season finished before it could be killed")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = time.time()
    first_wall = time.perf_counter() - started
    before = {
        n: run_state(out / n, checkpoints=postgres)[2] for n in names if (out / n / "run.json").is_file()
    }
    finished = {n: [c for c in model_calls(out / n) if c["ok"]] for n in names}
    started = time.perf_counter()
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if again.returncode != 0:
        raise SystemExit(f"the season did not finish after the kill: {again.stderr[-2000:]}")
    second_wall = time.perf_counter() - started
    lost = repeated = 0
    committed = sum(len(v.get("scenes", [])) for v in before.values())
    for name, values in before.items():
        after = run_state(out / name, checkpoints=postgres)[2]
        kept = values.get("scenes", [])
        lost += len(kept) - sum(a == b for a, b in zip(after["scenes"], kept, strict=False))
    for name in names:
        redone = {
            (c["scene"], c["node"], c["step"]) for c in model_calls(out / name) if c["time"] > killed_at
        }
        repeated += sum((c["scene"], c["node"], c["step"]) in redone for c in finished[name])
    finished_calls = sum(len(model_calls(out / n)) for n in names)  # every answer a process received
    received = len(read_requests(requests_log)) - received_before  # every request the model server received
    row = {
        "episodes": len(names),
        "scenes_committed_at_kill": committed,
        "scenes_lost": lost,
        "finished_calls_repeated": repeated,
        "finished_calls": finished_calls,
        "requests_received": received,
        "requests_in_flight_at_kill": received - finished_calls,
        "wall_before_kill_s": first_wall,
        "wall_after_s": second_wall,
    }
    console.print(
        f"  killed after {first_wall:.1f} s with {committed} scenes committed; the rerun took {second_wall:.1f} s: "
        f"{lost} scenes lost, {repeated} finished model calls made again; {received - finished_calls} requests were "
        "in flight at the kill (never answered to the killed process, so asked again)"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--latency", type=float, default=2.0, help="seconds the model server holds every request"
    )
    parser.add_argument("--episodes", type=int, default=8, help="episodes of the throughput season")
    parser.add_argument("--scenes", type=int, default=2, help="scenes per episode")
    parser.add_argument("--workers", default="1,4,8", help="worker counts, comma-separated")
    parser.add_argument("--checkpoint-episodes", type=int, default=2)
    parser.add_argument("--queries", type=int, default=40, help="timed memory calls per measurement")
    parser.add_argument("--memory-cache", type=Path, default=Path(tempfile.gettempdir()) / "dsr-memory-bench")
    parser.add_argument("--kill-episodes", type=int, default=4)
    parser.add_argument(
        "--skip", default="", help="comma list of parts to skip: throughput,checkpoints,memory,kill"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

    from tests.backing_servers import chroma_server, throwaway_postgres
    from tests.servers import served_chat_model

    figures: dict[str, Any] = {
        "latency_s": args.latency,
        "load_average": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }
    console.print(
        f"load average {figures['load_average']:.1f} on {figures['cpus']} CPUs; model latency {args.latency} s"
    )
    with tempfile.TemporaryDirectory(prefix="dsr-season-bench-") as name:
        tmp = Path(name)
        requests_log = tmp / "requests.jsonl"
        with (
            served_chat_model(
                "tests.scripted_room:ScriptedRoom", "room", args.latency, log=requests_log
            ) as slow,
            served_chat_model("tests.scripted_room:ScriptedRoom", "room", 0.0) as instant,
        ):
            if "throughput" not in skip:
                console.print(f"[bold]episodes per hour[/] ({args.episodes} episodes x {args.scenes} scenes)")
                figures["throughput"] = throughput(tmp, slow, args)
            if not {"checkpoints", "kill"} <= skip:
                with throwaway_postgres(durable=True) as postgres:  # fsync on, as SQLite's writes are
                    if "checkpoints" not in skip:
                        console.print("[bold]checkpoint writes per node[/] (no model latency)")
                        figures["checkpoints"] = checkpoint_overhead(tmp, instant, postgres, args)
                    if "kill" not in skip:
                        console.print(
                            f"[bold]kill -9 during a season[/] ({args.kill_episodes} episodes x 3 scenes)"
                        )
                        with chroma_server(tmp / "kill-memory") as chroma:
                            figures["kill"] = kill_season(tmp, slow, requests_log, postgres, chroma, args)
        if "memory" not in skip:
            console.print("[bold]memory retrieval at 10,000 scenes[/]")
            figures["memory"] = memory_latency(tmp, args)

    if "throughput" in figures:
        rows = figures["throughput"]
        base = rows[0]["episodes_per_hour"]
        table = Table(title=f"episodes per hour, {args.latency} s per model call")
        for col in ("workers", "wall s", "episodes/hour", "speed-up"):
            table.add_column(col, justify="right")
        for row in rows:
            table.add_row(
                str(row["workers"]),
                f"{row['wall_s']:.1f}",
                f"{row['episodes_per_hour']:.0f}",
                f"{row['episodes_per_hour'] / base:.2f}x",
            )
        console.print(table)
    if "memory" in figures:
        table = Table(title="memory retrieval at 10,000 scenes / 50,000 facts, ms")
        for col in ("call", "server p50", "server p95", "embedded p50", "embedded p95"):
            table.add_column(col, justify="left" if col == "call" else "right")
        for label, server in figures["memory"]["chroma server"].items():
            embedded = figures["memory"]["embedded"][label]
            cells = [f"{v:.1f}" for v in server] if isinstance(server, tuple) else [server, ""]
            cells += [f"{v:.1f}" for v in embedded] if isinstance(embedded, tuple) else [embedded, ""]
            table.add_row(label, *cells)
        console.print(table)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
