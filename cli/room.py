"""``dsr room``: the writers' room, a local web page for a run or a directory of runs."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from dsr.cli.console import console

MIN_TOKEN = 16


def _bind(host: str, port: int) -> socket.socket:
    from dsr.common.errors import BadInput

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BadInput(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port"
        ) from None
    sock.listen(64)
    return sock


def room(
    path: Annotated[Path, typer.Argument(help="a run directory, or a directory of runs")],
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: a free one, printed)")] = 0,
    host: Annotated[
        str, typer.Option(help="address to listen on; anything but loopback needs --token")
    ] = "127.0.0.1",
    token: Annotated[
        str | None, typer.Option(help=f"a secret of at least {MIN_TOKEN} characters every visitor must give")
    ] = None,
) -> None:
    """Serve the writers' room: read the episode, answer reviews, edit any stage and re-run what follows."""
    from dsr.common.errors import BadInput
    from dsr.room.guard import allowed_hosts, is_loopback
    from dsr.room.view import find_runs

    if not path.is_dir():
        raise BadInput(f"{path}: not a directory; give a run directory (dsr write -o) or a directory of runs")
    if not find_runs(path):
        raise BadInput(
            f"{path} holds no run (no run.json in it or the two levels below); write one with `dsr write`"
        )
    if not is_loopback(host) and not token:
        raise BadInput(
            f"refusing to serve on {host}: anyone who reaches it could edit your runs; add --token SECRET "
            f"(at least {MIN_TOKEN} characters) or leave --host at 127.0.0.1"
        )
    if token is not None and len(token) < MIN_TOKEN:
        raise BadInput(f"--token must be at least {MIN_TOKEN} characters")
    import uvicorn

    from dsr.room.app import create_app

    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    app = create_app(path, hosts=allowed_hosts(host, bound), token=token)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/" + (f"?token={token}" if token else "")
    console.print(
        f"writers' room for {path} at {url}  (Ctrl-C to stop)", markup=False, highlight=False, soft_wrap=True
    )
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def register(app: typer.Typer, panel: str) -> None:
    app.command("room", rich_help_panel=panel)(room)
