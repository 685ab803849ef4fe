"""The writers' room page of a 30-scene run: how long it takes to load and how many bytes it sends.

The run is real (SQLite checkpoints, every file, the critic's verdicts) with screenplay-sized scenes: the
screenwriter answers with real scenes of the corpus (data/corpus, round robin) and the novelist with
prose of similar length, from a scripted model, so the page holds what a 30-scene episode holds without 30
scenes of model time. ``dsr room``'s app is served by uvicorn on 127.0.0.1 as the command serves it.

Measured: the episode page (``/run``) over HTTP (median and p95 of 20 loads, bytes of the HTML and of the
script and style sheet it loads; gzip sizes for reference), one scene's details (``/scene``: the first
request reads the run's checkpoint tree, later ones only what is new), and, when
headless Chromium and Selenium are installed, the browser's own navigation timing (DOM ready, load) and the
bytes it transferred.

Usage: ``.venv/bin/python benchmarks/room.py [--scenes 30] [--json OUT]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dsr.common.fsutil import write_json  # noqa: E402

CORPUS = Path(os.environ.get("DSR_CORPUS", ROOT / "data" / "corpus"))
THREE = ROOT / "tests" / "data" / "room" / "three-scenes.yaml"


def corpus_scenes() -> list[str]:
    from dsr.screenplay.fountain_reader import parse_fountain
    from dsr.screenplay.fountain_writer import write_fountain
    from dsr.screenplay.model import Screenplay

    scenes = []
    for path in sorted(CORPUS.glob("*.fountain")):
        doc = parse_fountain(path.read_text(encoding="utf-8"))
        scenes += [write_fountain(Screenplay(scenes=[s])) for s in doc.scenes if len(s.elements) >= 4]
    if not scenes:
        raise SystemExit(f"no corpus scenes under {CORPUS}; set DSR_CORPUS")
    return scenes


def build_run(run_dir: Path, count: int) -> None:
    """A finished ``count``-scene run written by scripted models answering with corpus scenes."""
    from dsr.contract.context import RunContext
    from dsr.run.runner import drive, initial_input, start_run
    from dsr.story.episode_spec import EpisodeSpec, load_episode
    from tests.recording import RecordingModels

    base = load_episode(THREE).model_dump(mode="json")
    base["scenes"] = [
        dict(base["scenes"][i % 3], outline=f"{base['scenes'][i % 3]['outline']} (part {i + 1})")
        for i in range(count)
    ]
    spec = EpisodeSpec.model_validate(base)
    scenes = corpus_scenes()
    models = RecordingModels()
    screenplays = [scenes[i % len(scenes)] for i in range(count)]
    proses = [
        " ".join(line for line in s.splitlines() if line and not line.isupper())[:1500] for s in screenplays
    ]
    models.script("screenwriter", *screenplays).script("novelist", *proses)
    context = RunContext(
        mode="dsr", use_rubric=False, run_dir=str(run_dir), max_retries_per_stage=0, max_retries_per_scene=0
    )
    result = drive(
        run_dir, replace(start_run(spec, run_dir, context), model_factory=models), initial_input(spec)
    )
    assert result.finished


def serve(run_dir: Path) -> tuple[str, object]:
    import uvicorn

    from dsr.room.app import create_app
    from dsr.room.guard import allowed_hosts

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(run_dir, hosts=allowed_hosts("127.0.0.1", port)),
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def timed_gets(client, url: str, n: int) -> tuple[list[float], bytes]:
    times, body = [], b""
    for _ in range(n):
        started = time.perf_counter()
        reply = client.get(url)
        reply.raise_for_status()
        body = reply.content
        times.append(time.perf_counter() - started)
    return times, body


def browser_timing(url: str, loads: int = 5) -> dict | None:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    if not (binary and driver):
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1500"):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(driver))
    try:
        rows = []
        for _ in range(loads):
            browser.get(url)
            rows.append(
                browser.execute_script("""
                const nav = performance.getEntriesByType('navigation')[0];
                const res = performance.getEntriesByType('resource').filter(r => !r.name.includes('/events'));
                return {dom_ready_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd,
                        html_bytes: nav.transferSize,
                        resource_bytes: res.reduce((sum, r) => sum + r.transferSize, 0)};
            """)
            )
        median = {key: round(statistics.median(row[key] for row in rows), 1) for key in rows[0]}
        # The first load fetches the script and style sheet; later ones take them from the browser's cache.
        return {"first_load": rows[0], "median_of_loads": median, "loads": loads}
    finally:
        browser.quit()


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="dsr-room-bench-")) / "run"
    started = time.perf_counter()
    build_run(run_dir, args.scenes)
    built = time.perf_counter() - started
    base, server = serve(run_dir)
    with httpx.Client(timeout=60) as client:
        page_times, page = timed_gets(client, f"{base}/run?run=run", 20)
        js = client.get(f"{base}/static/room.js").content
        css = client.get(f"{base}/static/room.css").content
        first_detail, _ = timed_gets(
            client, f"{base}/scene?run=run&n={args.scenes // 2}", 1
        )  # reads the tree
        detail_times, detail = timed_gets(client, f"{base}/scene?run=run&n={args.scenes // 2}", 10)
    page_times.sort()
    result = {
        "scenes": args.scenes,
        "run_built_seconds": round(built, 1),
        "page": {
            "median_ms": round(statistics.median(page_times) * 1000, 1),
            "p95_ms": round(page_times[int(0.95 * (len(page_times) - 1))] * 1000, 1),
            "html_bytes": len(page),
            "js_bytes": len(js),
            "css_bytes": len(css),
            "total_bytes": len(page) + len(js) + len(css),
            "total_gzip_bytes": sum(len(gzip.compress(b)) for b in (page, js, css)),
        },
        "scene_details": {
            "first_ms": round(first_detail[0] * 1000, 1),
            "median_ms": round(statistics.median(detail_times) * 1000, 1),
            "bytes": len(detail),
        },
        "browser": browser_timing(f"{base}/run?run=run"),
    }
    server.should_exit = True
    print(json.dumps(result, indent=2))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
