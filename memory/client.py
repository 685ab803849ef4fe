"""Where a story memory lives: a Chroma directory (embedded ``PersistentClient``, the default) or a Chroma
server (``--memory http://HOST:PORT``, Chroma's ``HttpClient``), with the same collections, filters and
embeddings either way: vectors are computed here, by the packaged MiniLM, and sent with the records.

A server that wants a token gets it from ``DSR_CHROMA_TOKEN`` (never from the command line or a file the
run writes), as ``Authorization: Bearer <token>``, or raw in the header ``DSR_CHROMA_TOKEN_HEADER`` names
(``X-Chroma-Token`` for Chroma's own token auth). Run directories record the URL only.
"""

from __future__ import annotations

import copy
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import chromadb
from chromadb.config import Settings

from dsr.common.addresses import redact
from dsr.common.errors import BadInput

TOKEN_ENV = "DSR_CHROMA_TOKEN"
HEADER_ENV = "DSR_CHROMA_TOKEN_HEADER"
SCHEMES = ("http", "https")
#: What marks a directory as a Chroma store (``--memory DIR`` of an earlier run may be reused).
STORE_MARKER = "chroma.sqlite3"
# Chroma keeps its clients' systems in a process-wide registry (one per directory or server, reference-counted)
# whose creation and release are not atomic: a client opened in one thread while another closes the last one on
# the same directory finds its system gone (KeyError). Opening and closing take turns here; nothing else does.
_LIFECYCLE = threading.Lock()


def is_server(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` is a Chroma server's URL rather than a directory."""
    # The scheme alone decides (urlsplit raises on a malformed host such as "[::1:1"; _server_parts says why).
    return isinstance(location, str) and "://" in location and location.split("://", 1)[0].lower() in SCHEMES


def shown_location(location: object) -> str:
    """A memory location fit for a message: a server URL without credentials, a directory as given."""
    return redact(location) if isinstance(location, str) and is_server(location) else str(location)


def _server_parts(url: str) -> tuple[str, int, bool]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a malformed IPv6 host ("[::1:1") or port
        raise BadInput(
            f"--memory {redact(url)} is not a Chroma server address; use http://HOST:PORT"
        ) from None
    if not parts.hostname or port == -1 or parts.path.strip("/") or parts.query or parts.fragment:
        raise BadInput(
            f"--memory {redact(url)} is not a Chroma server address; use http://HOST:PORT (or a directory)"
        )
    if "@" in parts.netloc:  # Chroma's client sends no credentials from the URL: they would only be echoed
        raise BadInput(
            f"--memory {redact(url)}: credentials in the address are not used; set {TOKEN_ENV} instead"
        )
    ssl = parts.scheme == "https"
    return parts.hostname, port or (443 if ssl else 8000), ssl


def auth_headers() -> dict[str, str]:
    """The token header from ``DSR_CHROMA_TOKEN`` (and ``DSR_CHROMA_TOKEN_HEADER``), or none."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        return {}
    header = os.environ.get(HEADER_ENV, "").strip() or "Authorization"
    return {header: f"Bearer {token}" if header.lower() == "authorization" else token}


def memory_location(memory: str, *, force: bool = False) -> str:
    """``--memory`` checked before a run is recorded: a server URL as given (trailing slash dropped), or a
    directory that may be created or is already a Chroma store (``--force`` for any other non-empty one)."""
    if is_server(memory):
        connect(memory, Settings(anonymized_telemetry=False))  # reachable (and the token accepted) now
        return memory.rstrip("/")
    from dsr.common.fsutil import prepare_output_dir

    prepare_output_dir(Path(memory), [STORE_MARKER], what="story memory", force=force, option="--memory")
    return str(memory)


def probe(location: str) -> str:
    """For ``dsr doctor``: a Chroma server reached (token included) and what it holds; a problem is BadInput."""
    client = connect(location, Settings(anonymized_telemetry=False))
    names = sorted(collection_names(client))
    return f"{redact(location)}: Chroma {client.get_version()}, " + (
        f"collections {', '.join(names)}" if names else "empty (no memory written yet)"
    )


def collection_names(client: Any) -> set[str]:
    """The names of the collections a Chroma client reaches (``list_collections`` gives objects in Chroma 1.x,
    names before it)."""
    return {getattr(c, "name", str(c)) for c in client.list_collections()}


def connect(location: str | os.PathLike[str], settings: Settings) -> Any:
    """A Chroma client for a directory (``PersistentClient``) or a server URL (``HttpClient``, which checks
    the server is there before returning)."""
    if not isinstance(location, (str, os.PathLike)):  # str() of anything else would name a junk directory
        raise TypeError(f"a memory location is a directory or a server URL, not {type(location).__name__}")
    if not is_server(location):
        with _LIFECYCLE:
            return chromadb.PersistentClient(path=str(location), settings=settings)
    host, port, ssl = _server_parts(str(location))
    try:
        # HttpClient writes host, port and headers into the settings it is given: a copy keeps ours clean.
        with _LIFECYCLE:
            return chromadb.HttpClient(
                host=host, port=port, ssl=ssl, headers=auth_headers(), settings=copy.deepcopy(settings)
            )
    except Exception as exc:  # httpx errors, chroma's auth and version errors
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = (
            f"check {TOKEN_ENV}"
            if "401" in reason or "403" in reason or "auth" in reason.lower()
            else (f"start it (chroma run --host {host} --port {port} --path DIR) or fix --memory")
        )
        raise BadInput(
            f"Chroma server {redact(str(location))} is unreachable ({reason[:200]}); {hint}"
        ) from None


def disconnect(client: Any) -> None:
    """Close a client from :func:`connect` (the last one on a directory releases its sqlite files)."""
    with _LIFECYCLE:
        client.close()


def check_vectors(client: Any, location: object, label: str, dim: int, names: tuple[str, ...]) -> None:
    """Refuse a store whose collections were filled with other vectors (another embedder or dimension, or
    another application's embedding function), before any collection is opened with ours."""
    for col in client.list_collections():
        if col.name not in names:
            continue
        meta = col.metadata or {}
        function = (getattr(col, "configuration_json", None) or {}).get("embedding_function") or {}
        if (meta.get("embedder"), meta.get("dim")) != (label, dim):
            theirs = meta.get("embedder") or function.get("name") or "unknown"
            size = f"{meta['dim']}-d" if meta.get("dim") else "dimension unknown"
            raise BadInput(
                f"memory at {shown_location(location)} was built with embedder {theirs!r} ({size}), not {label!r} ({dim}-d) "
                f"(collection {col.name!r}): use that embedder, or another server or a fresh --memory DIR"
            )
