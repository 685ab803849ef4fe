"""``dsr serve``: one process holds the local model and serves it over an OpenAI-compatible API."""

from __future__ import annotations

from typing import Annotated

import typer

from dsr.cli.console import err_console


def serve(
    role: Annotated[str, typer.Option(help="serve the model configured for this role")] = "novelist",
    host: Annotated[str, typer.Option(help="bind address (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8765,
    name: Annotated[str, typer.Option(help="model id clients ask for")] = "dsr-local",
    delay_ms: Annotated[int, typer.Option(min=0, help="fixed extra latency per request (benchmarks)")] = 0,
    max_queue: Annotated[
        int,
        typer.Option(
            min=0, help="requests that may wait for the model; more are answered 429 with Retry-After"
        ),
    ] = 16,  # models.server.DEFAULT_MAX_QUEUE; importing it here would slow every dsr command by ~2 s
) -> None:
    """Serve a local model (embedded or hf) at http://HOST:PORT/v1 for the openai provider and other clients.

    One generation runs at a time, in arrival order; max_tokens is capped by the model's context.
    """
    from dsr.models.factory import get_chat_model
    from dsr.models.server import serve as run_server
    from dsr.models.settings import ConfigError, load_settings

    settings = load_settings()
    if settings.role(role).provider == "openai":
        raise ConfigError(
            f"role '{role}' already uses an openai endpoint; serve a role with provider embedded or hf"
        )
    model = get_chat_model(role, settings)
    err_console.print(f"serving role '{role}' as model '{name}' at http://{host}:{port}/v1 (Ctrl-C stops)")
    run_server(model, name, host, port, delay_s=delay_ms / 1000, max_queue=max_queue)


def register(app: typer.Typer, panel: str) -> None:
    app.command("serve", rich_help_panel=panel)(serve)
