"""A season: several episodes written at once against shared checkpoints and memory (``dsr season``).

``SEASON.yaml`` names the episode files and what each must wait for::

    title: Harbor Lights, season 1
    episodes:
      - file: ep1.yaml            # relative to SEASON.yaml; its run directory is OUT/ep1 (or OUT/<name>)
        storyline: mara           # a storyline's episodes run in this order, each after the one before it,
      - file: ep2.yaml            #   so episode 2 reads what episode 1 committed to memory
        storyline: mara
      - file: ep3.yaml            # another storyline (or none): written alongside the first
        storyline: harbour
        after: [ep1]              # optional: more episodes it must wait for, by name

Each episode is an ordinary run (``OUT/<name>``, the same driver as ``dsr write``), so ``dsr resume OUT/<name>``
works on it too. Up to ``workers`` episodes are driven at once, one thread each (the work is waiting on models;
embedded models take turns). All of them share the memory (a directory, or a Chroma server for several
processes) and, with ``--checkpoints postgresql://...``, one checkpoint database. An episode that fails (an
endpoint that stays down, bad input, a bug) or stops for review is paused on its own: the others go on, the
episodes waiting on it are held, and running the season again continues every unfinished one from its last
checkpoint. ``OUT/season.json`` holds every episode's status as it changes.
"""

from __future__ import annotations

import re
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dsr.common.bounded_yaml import read_yaml_mapping
from dsr.common.errors import BadInput
from dsr.common.fsutil import write_json
from dsr.contract.context import RunContext
from dsr.story.episode_spec import EpisodeSpec, load_episode

SEASON_FILE = "season.json"
#: Names in OUT that belong to the season itself (its status file, the default shared memory): no episode's
#: run directory may take one (compared case-insensitively, for case-insensitive file systems).
RESERVED_NAMES = frozenset({SEASON_FILE, "memory"})
MAX_EPISODES = 500
MAX_FILE_BYTES = 262_144
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
Status = Literal["waiting", "running", "done", "paused", "held"]


class SeasonEpisode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str = Field(min_length=1, max_length=1000)
    name: str | None = Field(default=None, pattern=NAME)
    storyline: str | None = Field(default=None, min_length=1, max_length=200)
    after: list[str] = Field(default_factory=list, max_length=MAX_EPISODES)


class SeasonSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="", max_length=200)
    episodes: list[SeasonEpisode] = Field(min_length=1, max_length=MAX_EPISODES)


@dataclass(frozen=True)
class Planned:
    """One episode of the season: its run directory name, spec, file and the episodes it waits for."""

    name: str
    spec: EpisodeSpec
    source: Path
    needs: tuple[str, ...]


@dataclass
class EpisodeStatus:
    name: str
    status: Status = "waiting"
    detail: str = ""
    scenes_done: int = 0
    scenes_total: int = 0
    node: str = ""


def _read_season(path: Path) -> SeasonSpec:
    _, data = read_yaml_mapping(path, what="a season file", shape="an 'episodes' list", limit=MAX_FILE_BYTES)
    try:
        return SeasonSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "the file"
        raise BadInput(f"{path}: {where}: {err['msg']}") from None


def load_season(path: Path) -> tuple[str, list[Planned]]:
    """Read and check a season file and every episode file it names (one BadInput line for any problem),
    with each episode's dependencies: the one before it in its storyline, and its ``after`` list."""
    season = _read_season(path)
    names = [entry.name or Path(entry.file).stem for entry in season.episodes]
    for name in names:
        if not re.match(NAME, name):
            raise BadInput(f"{path}: episode name {name!r} cannot be a directory name; give it a 'name'")
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise BadInput(f"{path}: two episodes are named {twice!r}; give one of them another 'name'")
    for name in names:
        if name.lower() in RESERVED_NAMES:
            raise BadInput(
                f"{path}: episode name {name!r} is the season's own file or folder; give it another 'name'"
            )
    last_of: dict[str, str] = {}
    planned: list[Planned] = []
    for name, entry in zip(names, season.episodes, strict=True):
        needs = []
        if entry.storyline is not None:
            if entry.storyline in last_of:
                needs.append(last_of[entry.storyline])
            last_of[entry.storyline] = name
        for other in entry.after:
            if other not in names:
                raise BadInput(f"{path}: episode {name!r} waits for {other!r}, which is not in the season")
            if other == name:
                raise BadInput(f"{path}: episode {name!r} cannot wait for itself")
            if other not in needs:
                needs.append(other)
        source = (path.parent / entry.file).resolve()
        planned.append(Planned(name, load_episode(source), source, tuple(needs)))
    _refuse_cycles(path, planned)
    _refuse_same_episode(path, planned)
    return season.title, planned


def _refuse_same_episode(path: Path, planned: list[Planned]) -> None:
    """Two entries that are one episode (one file under two names, or two files with the same series and
    number) would have two workers write the same story positions into one memory."""
    seen: dict[tuple[str, int], str] = {}
    for p in planned:
        key = (p.spec.series, p.spec.episode)
        if key in seen:
            raise BadInput(
                f"{path}: episodes {seen[key]!r} and {p.name!r} are both {p.spec.series!r} episode {p.spec.episode}; "
                "a season writes each episode once"
            )
        seen[key] = p.name


def _refuse_cycles(path: Path, planned: list[Planned]) -> None:
    needs = {p.name: p.needs for p in planned}
    done: set[str] = set()
    while len(done) < len(needs):
        ready = [n for n, deps in needs.items() if n not in done and all(d in done for d in deps)]
        if not ready:
            stuck = sorted(set(needs) - done)
            raise BadInput(f"{path}: episodes wait for each other in a circle ({', '.join(stuck[:5])})")
        done.update(ready)


Listener = Callable[[EpisodeStatus], None]


@dataclass
class Season:
    """Drives a season's episodes with up to ``workers`` at once (see the module docstring)."""

    planned: list[Planned]
    out: Path
    template: RunContext
    workers: int = 1
    checkpoints: str | None = None
    on_change: Listener = lambda status: None
    statuses: dict[str, EpisodeStatus] = field(init=False)

    def __post_init__(self) -> None:
        self.statuses = {p.name: EpisodeStatus(p.name, scenes_total=len(p.spec.scenes)) for p in self.planned}
        self._by_name = {p.name: p for p in self.planned}
        self._lock = threading.Lock()

    # bookkeeping

    def _set(self, name: str, **changes: Any) -> None:
        with self._lock:
            status = self.statuses[name]
            for key, value in changes.items():
                setattr(status, key, value)
            snapshot = replace(status)
            if "status" in changes:
                self._save()
        self.on_change(snapshot)

    def _save(self) -> None:
        """``OUT/season.json``: every episode's status, written atomically at each change (lock held)."""
        write_json(
            self.out / SEASON_FILE,
            {
                "updated": datetime.now(UTC).isoformat(timespec="seconds"),
                "workers": self.workers,
                "episodes": [
                    {
                        "name": p.name,
                        "file": str(p.source),
                        "run_dir": str(self.out / p.name),
                        "waits_for": list(p.needs),
                        "status": self.statuses[p.name].status,
                        "detail": self.statuses[p.name].detail,
                    }
                    for p in self.planned
                ],
            },
        )

    def _hold_dependents(self) -> None:
        """Episodes waiting on a paused or held one are held, naming it."""
        changed = True
        while changed:
            changed = False
            for p in self.planned:
                if self.statuses[p.name].status != "waiting":
                    continue
                stopped = [d for d in p.needs if self.statuses[d].status in ("paused", "held")]
                if stopped:
                    self._set(p.name, status="held", detail=f"waits for {stopped[0]}, which is stopped")
                    changed = True

    def _ready(self) -> list[str]:
        return [
            p.name
            for p in self.planned
            if self.statuses[p.name].status == "waiting"
            and all(self.statuses[d].status == "done" for d in p.needs)
        ]

    # driving

    def run(self) -> dict[str, EpisodeStatus]:
        self.out.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._save()
        for p in self.planned:
            if p.needs:
                self._set(p.name, detail=f"waits for {', '.join(p.needs)}")
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="dsr-episode") as pool:
            running: dict[Future[None], str] = {}
            while True:
                for name in self._ready()[: self.workers - len(running)]:
                    self._set(name, status="running", detail="starting")
                    running[pool.submit(self._episode, name)] = name
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    running.pop(future)
                self._hold_dependents()
        return self.statuses

    def _episode(self, name: str) -> None:
        """Write (or continue) one episode; whatever stops it pauses this episode only."""
        from dsr.run.runlock import holding
        from dsr.run.runner import RUN_FILE, drive, initial_input, run_state
        from dsr.run.setup import begin_run, reopen_run

        planned, run_dir = self._by_name[name], self.out / name
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            with holding(run_dir, f"dsr season {self.out}"):
                if (run_dir / RUN_FILE).is_file():
                    spec, context = reopen_run(run_dir, model_factory=self.template.model_factory)
                    _, _, values = run_state(run_dir, checkpoints=self.checkpoints)
                    self._set(name, scenes_done=len(values.get("scenes", [])), detail="resuming")
                else:
                    spec = planned.spec
                    context = begin_run(spec, run_dir, self.template, self.checkpoints)
                result = drive(
                    run_dir,
                    context,
                    initial_input(spec),
                    on_update=self._progress(name),
                    checkpoints=self.checkpoints,
                )
        except Exception as exc:  # one episode's failure, whatever it is, is that episode's
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not isinstance(exc, BadInput):
                reason = f"{type(exc).__name__}: {reason}"
                (run_dir / "season-error.txt").write_text(traceback.format_exc(), encoding="utf-8")
            self._set(name, status="paused", detail=reason[:300])
            return
        if result.finished:
            self._set(name, status="done", detail="written", scenes_done=len(result.state.get("scenes", [])))
        elif result.paused_for is not None:
            point, scene = result.paused_for["point"], result.paused_for["scene"]
            self._set(
                name, status="paused", detail=f"review of the {point} of scene {scene}: dsr resume {run_dir}"
            )
        else:
            self._set(name, status="paused", detail="stopped before finishing")

    def _progress(self, name: str) -> Callable[[str, dict[str, Any]], None]:
        def on_update(node: str, update: dict[str, Any]) -> None:
            status = self.statuses[name]
            done = status.scenes_done + (node == "commit")
            scene = min(done + 1, status.scenes_total)
            self._set(
                name, node=node, scenes_done=done, detail=f"scene {scene}/{status.scenes_total}: {node} done"
            )

        return on_update
