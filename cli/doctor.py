"""``dsr doctor``: resolved configuration per role, a one-token check of every model, GPU, caches, versions."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dsr.cli.console import console, err_console
from dsr.models.settings import (
    ROLES,
    SHIPPED_STAGE,
    RoleConfig,
    Settings,
    config_path,
    load_settings,
    shipped_adapter,
)

_PACKAGES = (
    "torch",
    "transformers",
    "langgraph",
    "langchain-core",
    "langchain-openai",
    "chromadb",
    "onnxruntime-genai",
    "xgrammar",
    "dsr-screenwriter",
)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _engine(settings: Settings, provider: str) -> tuple[str, str]:
    """(engine, why) for a role's provider: the embedded engine's choice is explained in the table's caption."""
    if provider == "embedded":
        from dsr.common.errors import BadInput
        from dsr.models.factory import embedded_engine

        try:
            return embedded_engine(settings)
        except BadInput as exc:
            return "unavailable", str(exc)
    return ("transformers", "") if provider == "hf" else ("endpoint", "")


def _weights(cfg: dict[str, object]) -> str:
    """What a role's model runs on: the model plus its adapter, or the bare base."""
    model = cfg["model"] or ("SmolLM2-135M-Instruct" if cfg["provider"] == "embedded" else "-")
    if cfg["provider"] == "openai":
        return str(model)
    if not cfg["adapter"]:
        return f"{model} (base, no adapter)"
    for stage in sorted(set(SHIPPED_STAGE.values())):
        shipped = shipped_adapter(stage)
        if shipped is not None and Path(str(cfg["adapter"])).resolve() == shipped.resolve():
            return f"{model} + shipped Stage {stage} adapter (models/adapters)"
    return f"{model} + adapter {cfg['adapter']}"


def _config_table(settings: Settings) -> Table:
    table = Table(title=f"Model roles (config file: {config_path()})", show_lines=False)
    columns = ("role", "provider", "engine", "weights", "endpoint", "key", "T", "top_p", "max_new", "rep_pen")
    for column in columns:
        table.add_column(column)
    whys = set()
    for role in ROLES:
        cfg = settings.role(role).public_dict()
        engine, why = _engine(settings, cfg["provider"])
        if why:
            whys.add(f"embedded engine {engine}: {why}")
        key = f"${cfg['api_key_env']} {cfg['api_key']}" if "api_key" in cfg else "-"
        table.add_row(
            role,
            cfg["provider"],
            engine,
            _weights(cfg),
            cfg["base_url"] or "-",
            key,
            str(cfg["temperature"]),
            str(cfg["top_p"]),
            str(cfg["max_new_tokens"]),
            str(cfg["repetition_penalty"]),
        )
    table.caption = "; ".join(sorted(whys)) or None
    return table


def _check_key(cfg: RoleConfig) -> tuple[str | None, ...]:
    """Roles with the same model and endpoint are checked once."""
    return (cfg.provider, cfg.model, cfg.base_url, cfg.adapter, cfg.device)


def _check_models(settings: Settings) -> list[tuple[str, bool, str]]:
    from dsr.models.factory import get_chat_model

    results: list[tuple[str, bool, str]] = []
    seen: dict[tuple[str | None, ...], tuple[bool, str]] = {}
    for role in ROLES:
        key = _check_key(settings.role(role))
        if key not in seen:
            started = time.perf_counter()
            try:
                model = get_chat_model(role, settings)
                limit = {"max_completion_tokens": 1} if key[0] == "openai" else {"max_new_tokens": 1}
                model.invoke("Say OK.", **limit)
                seen[key] = (True, f"answered in {time.perf_counter() - started:.1f} s")
            except Exception as exc:  # every failure becomes a line of the report
                seen[key] = (False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        results.append((role, *seen[key]))
    return results


def _check_services(checkpoints: str | None, memory: str | None) -> list[tuple[str, bool, str]]:
    """The checkpoint database and the memory server a run would use, each reached once (read-only)."""
    from dsr.common.errors import BadInput
    from dsr.memory.client import is_server
    from dsr.memory.client import probe as probe_memory
    from dsr.run.checkpoints import probe as probe_checkpoints

    results: list[tuple[str, bool, str]] = []
    try:
        found = probe_checkpoints(checkpoints)
        results.append(("checkpoints", True, found or "SQLite in each run directory"))
    except BadInput as exc:
        results.append(("checkpoints", False, str(exc)))
    if memory and is_server(memory):
        try:
            results.append(("memory", True, probe_memory(memory.rstrip("/"))))
        except BadInput as exc:
            results.append(("memory", False, str(exc)))
    elif memory:
        results.append(("memory", True, f"directory {memory} (local Chroma store)"))
    return results


def doctor(
    checkpoints: Annotated[
        str | None,
        typer.Option(
            help="checkpoint database to check: postgresql://USER@HOST:PORT/DB (default $DSR_CHECKPOINTS)"
        ),
    ] = None,
    memory: Annotated[
        str | None, typer.Option(help="story memory to check: a Chroma server http(s)://HOST:PORT")
    ] = None,
    models: Annotated[bool, typer.Option(help="send each configured model a one-token request")] = True,
) -> None:
    """Show the configuration and check every configured model, the checkpoint database and memory server,
    the GPU, caches and versions."""
    settings = load_settings()
    console.print(_config_table(settings))

    import torch

    gpu = (
        f"CUDA {torch.version.cuda}: {torch.cuda.get_device_name(0)}"
        if torch.cuda.is_available()
        else "none (CPU)"
    )
    env = Table(title="Environment", show_header=False)
    env.add_row("python", f"{platform.python_version()} ({sys.executable})")
    env.add_row("GPU", gpu)
    env.add_row("cache dir", str(settings.cache_dir))
    from dsr.models.weights import embedded_cache_dir

    cached = embedded_cache_dir(settings.cache_dir)
    env.add_row("embedded weights", f"{cached} ({'cached' if cached.is_dir() else 'converted on first use'})")
    for name in _PACKAGES:
        env.add_row(name, _version(name))
    console.print(env)

    problems = []
    sections = [("Backing services", "service", _check_services(checkpoints, memory))]
    if models:
        sections.insert(0, ("Model checks (one-token request)", "role", _check_models(settings)))
    for title, kind, results in sections:
        checks = Table(title=title)
        for column in (kind, "ok", "detail"):
            checks.add_column(column)
        for name, ok, detail in results:
            checks.add_row(name, "[green]yes[/]" if ok else "[red]no[/]", detail)
            if not ok:
                problems.append(f"{name}: {detail}")
        console.print(checks)
    if problems:
        err_console.print("dsr doctor found problems:")
        for line in problems:
            err_console.print(f"  - {line}", markup=False)
        raise typer.Exit(1)
    console.print("[green]all checks passed[/]")


def register(app: typer.Typer, panel: str) -> None:
    app.command("doctor", rich_help_panel=panel)(doctor)
