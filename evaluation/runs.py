"""Runs: every test item written by every system, through the same scene graph ``dsr write`` uses.

A *system* is a name, a mode (``dsr``, ``dsr-nocot``, ``e2e``) and optional per-role model settings
(``novelist: {provider: hf, model: PATH}``) layered over the configured ones. Each (system, item) gets
its own run directory, ``EVAL_DIR/runs/<system>/<item>/``, with SQLite checkpoints and ``calls.jsonl``:

* a finished item is never regenerated (its row in ``outputs/<system>.jsonl`` is the cache);
* an unfinished one (killed, or an endpoint that failed) resumes at its last finished node;
* a failure is recorded as a failed row with its reason and the evaluation goes on.

The X of an item is complete (reverse synthesis wrote P and C), so runs use no story memory.

A system is a run context: its roles resolved from the configuration with the system's overrides on
top, recorded in each item's context, so systems never change the process environment.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dsr.common.bounded_yaml import load_yaml
from dsr.common.errors import BadInput
from dsr.contract.context import MODES, Mode, ModelFactory, RunContext, resolve_roles, retry_caps, roles_for
from dsr.evaluation import records
from dsr.models.settings import ROLES, RoleConfig

OnItem = Callable[[str, str, str], None]  # (system, item, "cached" | "done" | "failed")


@dataclass
class System:
    """One system under evaluation; ``roles`` are RoleConfig fields per role, over the configured ones."""

    name: str
    mode: Mode
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    rubric: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_system(name: str, mode: Any, roles: Any, rubric: Any, where: str) -> System:
    if not isinstance(name, str) or not name.strip():
        raise BadInput(f"{where}: a system needs a non-empty name")
    if name == records.HUMAN or name.startswith(f"{records.HUMAN}:"):
        raise BadInput(f"{where}: '{name}' is reserved for the human reference; pick another system name")
    records.slug(name)
    if mode not in MODES:
        raise BadInput(f"{where}: system '{name}' has unknown mode {mode!r}; use one of: {', '.join(MODES)}")
    if not isinstance(roles, dict):
        raise BadInput(f"{where}: system '{name}': 'roles' must map role names to settings")
    for role, overrides in roles.items():
        if role not in ROLES:
            raise BadInput(
                f"{where}: system '{name}' sets unknown role '{role}'; roles are: {', '.join(ROLES)}"
            )
        if not isinstance(overrides, dict):
            raise BadInput(f"{where}: system '{name}', role '{role}': settings must be a mapping")
        unknown = [k for k in overrides if k not in RoleConfig.model_fields]
        if unknown:
            raise BadInput(
                f"{where}: system '{name}', role '{role}': unknown setting '{unknown[0]}' "
                f"(valid: {', '.join(RoleConfig.model_fields)})"
            )
    if not isinstance(rubric, bool):
        raise BadInput(f"{where}: system '{name}': 'rubric' must be true or false")
    return System(name=name, mode=mode, roles={r: dict(v) for r, v in roles.items()}, rubric=rubric)


def parse_system_option(text: str, *, rubric: bool = True) -> System:
    """``NAME`` (a mode name) or ``NAME=MODE`` from ``--system``."""
    name, _, mode = text.partition("=")
    name, mode = name.strip(), (mode.strip() or name.strip())
    return _check_system(name, mode, {}, rubric, f"--system {text}")


def load_systems_file(path: Path, *, rubric: bool = True) -> list[System]:
    """Systems from YAML or TOML: a ``systems`` list of ``{name, mode, roles, rubric}`` or a name -> spec map."""
    if not path.is_file():
        raise BadInput(f"{path}: systems file not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else load_yaml(text, str(path))
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "YAML"
        raise BadInput(f"{path}: not valid {kind} ({str(exc).splitlines()[0]})") from None
    entries = data.get("systems") if isinstance(data, dict) else None
    if isinstance(entries, dict):
        entries = [{"name": k, **(v or {})} for k, v in entries.items()]
    if not isinstance(entries, list) or not entries:
        raise BadInput(f"{path}: expected a non-empty 'systems' list (or a name -> settings table)")
    systems = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise BadInput(f"{path}: every system must be a mapping with name, mode and optional roles")
        extra = set(entry) - {"name", "mode", "roles", "rubric"}
        if extra:
            raise BadInput(
                f"{path}: system '{entry.get('name')}' has unknown key '{sorted(extra)[0]}' (use name, mode, roles, rubric)"
            )
        name = entry.get("name")
        systems.append(
            _check_system(
                name,
                entry.get("mode", name),
                entry.get("roles") or {},
                entry.get("rubric", rubric),
                str(path),
            )
        )
    return systems


def unique_systems(systems: list[System]) -> list[System]:
    names = [s.name for s in systems]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise BadInput(f"system '{duplicate}' is given twice; every system needs its own name")
    slugs = [records.slug(n) for n in names]
    clash = next((s for s in slugs if slugs.count(s) > 1), None)
    if clash:
        raise BadInput(f"two system names share the file name '{clash}'; rename one")
    return systems


def system_roles(system: System) -> dict[str, dict[str, Any]]:
    """The system's role configurations: the configured ones with its overrides on top (RoleConfig dumps)."""
    return resolve_roles(roles_for(system.mode, use_rubric=system.rubric, memory=False), system.roles)


def validate_system(system: System) -> dict[str, str]:
    """Configuration problems of a system's roles surface before anything runs; returns role -> model used."""
    from dsr.models.factory import validate_role
    from dsr.models.settings import load_settings

    settings = load_settings()
    used = {}
    for role, data in system_roles(system).items():
        cfg = RoleConfig.model_validate(data)
        validate_role(role, settings.model_copy(update={role: cfg}))
        model = cfg.model or ("SmolLM2-135M-Instruct" if cfg.provider == "embedded" else "default")
        used[role] = f"{cfg.provider}:{model}" + (f"+{Path(cfg.adapter).name}" if cfg.adapter else "")
    return used


def run_context(
    system: System, run_dir: Path, max_retries: int, model_factory: ModelFactory | None = None
) -> RunContext:
    """One item's run of ``system``: its mode, caps and models, no review and no story memory."""
    return RunContext(
        mode=system.mode,
        review=[],
        use_rubric=system.rubric,
        run_dir=str(run_dir),
        memory_dir=None,
        roles=system_roles(system),
        model_factory=model_factory,
        **retry_caps(max_retries),
    )


def run_item(
    system: System,
    item: dict[str, Any],
    run_dir: Path,
    max_retries: int,
    model_factory: ModelFactory | None = None,
) -> dict[str, Any]:
    """Run (or resume) one item's scene graph; any failure becomes a failed output row, never an exception."""
    from dsr.contract.call_log import CALL_LOG, read_call_log
    from dsr.run.runner import drive, scene_input

    run_dir.mkdir(parents=True, exist_ok=True)
    context = run_context(system, run_dir, max_retries, model_factory)
    started = time.perf_counter()
    values: dict[str, Any] = {}
    error: str | None = None
    try:
        result = drive(run_dir, context, scene_input(item["x"]), kind="scene")
        values = result.state
        if not result.finished:
            error = "the scene graph stopped before finishing"
    except Exception as exc:  # an endpoint failure or a broken answer costs this item, not the evaluation
        error = f"{type(exc).__name__}: {exc}"[:500]
    seconds = sum(t["seconds"] for t in values.get("timings", [])) or (time.perf_counter() - started)
    calls = len(read_call_log(run_dir / CALL_LOG))  # every model request of this item, resumed runs included
    accepted = values.get("accepted") if error is None else None
    if accepted is None:
        return records.output_row(
            item["id"],
            system.name,
            ok=False,
            error=error or "no accepted scene",
            calls=calls,
            seconds=seconds,
        ) | {"status": "failed"}
    return records.output_row(
        item["id"],
        system.name,
        ok=True,
        screenplay=accepted.get("screenplay") or "",
        prose=accepted.get("prose"),
        calls=calls,
        seconds=seconds,
    ) | {"status": accepted.get("status")}


def _check_config(eval_dir: Path, set_dir: Path, systems: list[System], max_retries: int) -> dict[str, Any]:
    """eval.json: a rerun must evaluate the same set, and a system name must keep its configuration."""
    path = records.eval_config_path(eval_dir)
    config = records.read_json(path) if path.is_file() else {"set_dir": str(set_dir.resolve()), "systems": {}}
    if Path(config["set_dir"]).resolve() != set_dir.resolve():
        raise BadInput(
            f"{eval_dir} evaluates {config['set_dir']}, not {set_dir}; pick a new -o for another set"
        )
    for system in systems:
        before = config["systems"].get(system.name)
        now = system.to_dict() | {"max_retries": max_retries}
        if before is not None and before != now:
            raise BadInput(
                f"system '{system.name}' in {eval_dir} was run with another configuration ({before}); "
                "give the new configuration a new name or use a new -o"
            )
        config["systems"][system.name] = now
    return config


def _write(eval_dir: Path, system: str, every: list[dict[str, Any]], done: dict[str, dict[str, Any]]) -> None:
    order = [i["id"] for i in every] + sorted(set(done) - {i["id"] for i in every})
    records.write_outputs(eval_dir, system, [done[i] for i in order if i in done])


def run_systems(
    set_dir: Path,
    eval_dir: Path,
    systems: list[System],
    *,
    limit: int | None = None,
    max_retries: int = 2,
    on_item: OnItem = lambda system, item, status: None,
    model_factory: ModelFactory | None = None,
) -> dict[str, dict[str, int]]:
    """Generate every item with every system (cached, resumable); returns per-system counts.

    ``model_factory`` builds every system's models instead of their providers (scripted models in tests).
    """
    every = records.read_items(set_dir)
    items = every[:limit] if limit is not None else every
    if not items:
        raise BadInput(f"{set_dir} has no items (see {records.set_manifest_path(set_dir)} for why)")
    unique_systems(systems)
    used = {system.name: validate_system(system) for system in systems}
    eval_dir.mkdir(parents=True, exist_ok=True)
    config = _check_config(eval_dir, set_dir, systems, max_retries)
    config.setdefault("models", {}).update(used)  # what each role ran on, for the ablation table
    # The human reference covers every item any run of this EVAL_DIR asked for (set order).
    asked = set(config.get("item_ids", [])) | {i["id"] for i in items}
    config["item_ids"] = [i["id"] for i in every if i["id"] in asked]
    records.write_eval_config(eval_dir, config)
    records.write_outputs(
        eval_dir, records.HUMAN, records.human_outputs([i for i in every if i["id"] in asked])
    )
    summary: dict[str, dict[str, int]] = {}
    for system in systems:
        path = records.outputs_path(eval_dir, system.name)
        done = {r["item"]: r for r in records.read_outputs(eval_dir, system.name)} if path.is_file() else {}
        counts = {"cached": 0, "done": 0, "failed": 0}
        for item in items:
            previous = done.get(item["id"])
            if previous is not None and previous["ok"]:
                status = "cached"
            else:
                run_dir = eval_dir / "runs" / records.slug(system.name) / records.slug(item["id"])
                done[item["id"]] = run_item(system, item, run_dir, max_retries, model_factory)
                status = "done" if done[item["id"]]["ok"] else "failed"
                # Rows in set order; the file is rewritten after every item so a kill loses nothing.
                _write(eval_dir, system.name, every, done)
            counts[status] += 1
            on_item(system.name, item["id"], status)
        _write(eval_dir, system.name, every, done)
        summary[system.name] = counts
    return summary
