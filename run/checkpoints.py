"""Where a run's checkpoints live: SQLite in the run directory (the default) or a PostgreSQL database.

``dsr write --checkpoints postgresql://USER[:PASSWORD]@HOST:PORT/DB`` (or ``DSR_CHECKPOINTS``) puts a new
run's checkpoints in Postgres through ``langgraph-checkpoint-postgres``; several runs, processes and
machines share one database, each run on its own thread (``<run id>:episode``). ``run.json`` records the
store without its password::

    "checkpoints": {"store": "postgres", "url": "postgresql://dsr@db:5432/dsr", "thread": "3f2a..."}

so any worker that sees the run directory resumes it; the password comes from the address given then
(``--checkpoints`` / ``DSR_CHECKPOINTS`` naming the same database) or from libpq's own ``PGPASSWORD`` /
``~/.pgpass``. A run without the entry keeps SQLite in ``RUN_DIR/checkpoints.sqlite`` on thread ``episode``.
"""

from __future__ import annotations

import atexit
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver

from dsr.common.addresses import Address, AddressError, parse, redact, without_password
from dsr.common.errors import BadInput

ENV = "DSR_CHECKPOINTS"
SQLITE_FILE = "checkpoints.sqlite"
SCHEMES = ("postgresql", "postgres")
_SETUP_LOCK_KEY = 0x445352  # pg_advisory_lock key: one migration at a time across processes ("DSR")
_POOL_SIZE = 32  # connections per database per process: a season's workers, one each

_pools: dict[str, Any] = {}
_ready: set[str] = set()
_pools_lock = threading.Lock()


@dataclass(frozen=True)
class CheckpointStore:
    """A run's checkpoint store as run.json records it: never a password."""

    store: Literal["sqlite", "postgres"] = "sqlite"
    url: str | None = None  # postgres: the database's address without its password
    thread: str | None = None  # postgres: the run's id, prefix of its thread ids

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> CheckpointStore:
        if not record:
            return cls()
        try:
            store = cls(**record)
        except TypeError as exc:
            raise BadInput(f"run.json's checkpoints entry is damaged ({exc})") from None
        if store.store == "postgres" and not (store.url and store.thread):
            raise BadInput("run.json's checkpoints entry names postgres without its url and thread")
        return store

    def thread_id(self, kind: str) -> str:
        return kind if self.store == "sqlite" else f"{self.thread}:{kind}"

    def describe(self) -> str:
        return SQLITE_FILE if self.store == "sqlite" else redact(str(self.url))


def is_postgres(address: str | None) -> bool:
    """A PostgreSQL address: a ``postgresql://`` / ``postgres://`` URI or a libpq ``key=value`` string."""
    if not address:
        return False
    text = str(address).strip()
    if "://" in text:
        return text.split("://", 1)[0].lower() in SCHEMES
    return re.match(r"[A-Za-z_]+\s*=", text) is not None


def _parsed(address: str) -> Address:
    """``address`` as libpq reads it; one that does not parse is bad input shown without its secrets."""
    try:
        return parse(address)
    except AddressError as exc:
        raise BadInput(f"checkpoint address {redact(address)} cannot be used: {exc}") from None


def stored_address(address: str) -> str:
    """What run.json records of ``address``: everything but the password."""
    return without_password(_parsed(address))


def _identity(address: str) -> tuple[str, str | None, int, str]:
    """What makes two addresses the same database: user, host, port, database name."""
    parsed = _parsed(address)
    user = parsed.user or os.environ.get("PGUSER", "")
    host, port = parsed.hosts[0] if parsed.hosts else (None, None)
    return (user, host, port or 5432, parsed.path or user)


def given_address(option: str | None = None) -> str | None:
    """The address given now: ``--checkpoints`` first, then ``DSR_CHECKPOINTS``; blank is none."""
    for value in (option, os.environ.get(ENV)):
        if value and value.strip():
            return value.strip()
    return None


def choose(option: str | None) -> CheckpointStore:
    """The store of a new run: SQLite unless ``--checkpoints`` / ``DSR_CHECKPOINTS`` gives a Postgres address
    (``sqlite`` names the default explicitly). Anything else is refused."""
    address = given_address(option)
    if address is None or address == "sqlite":
        return CheckpointStore()
    if not is_postgres(address):
        raise BadInput(
            f"--checkpoints / {ENV} must be a postgresql://USER@HOST:PORT/DB address or 'sqlite', "
            f"not {redact(address)!r}"
        )
    _identity(address)
    return CheckpointStore("postgres", stored_address(address), uuid.uuid4().hex)


def connection_string(store: CheckpointStore, option: str | None = None) -> str:
    """The address to connect with: the one given now when it names the run's database (it may carry the
    password), else the recorded one (libpq then reads ``PGPASSWORD`` or ``~/.pgpass``). An explicit
    ``--checkpoints`` naming another database is refused; ``DSR_CHECKPOINTS`` naming one is ignored (a run
    keeps its checkpoints where it started, as it keeps its models)."""
    assert store.url is not None
    for address, explicit in ((option, True), (os.environ.get(ENV), False)):
        if not address or not address.strip():
            continue
        address = address.strip()
        if is_postgres(address) and _identity(address) == _identity(store.url):
            return address
        if explicit:
            raise BadInput(
                f"this run keeps its checkpoints in {redact(store.url)}, not {redact(address)}: resume it without "
                "--checkpoints, or give that database's address"
            )
    return store.url


def check_sqlite(path: Path) -> None:
    """A damaged checkpoint file (truncated, overwritten) is bad input with its fix, not a traceback."""
    if not path.exists():
        return
    try:
        with closing(sqlite3.connect(path)) as db:
            problem = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    if problem != "ok":
        raise BadInput(
            f"{path} is damaged ({problem}); move {path.name}* aside and run `dsr resume {path.parent}` to "
            "write the episode again from its first scene"
        )


def probe(option: str | None = None) -> str | None:
    """For ``dsr doctor``: the checkpoint store a new run would use, reached read-only (no tables created).
    ``None`` when that is SQLite in the run directory; else what the server says; a problem is BadInput."""
    store = choose(option)
    if store.store != "postgres":
        return None
    import psycopg

    address = given_address(option)
    assert address is not None and store.url is not None
    try:
        with psycopg.connect(address, connect_timeout=10, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            tables = conn.execute("SELECT to_regclass('checkpoints') IS NOT NULL").fetchone()
    except psycopg.Error as exc:
        raise _unreachable(redact(store.url), exc) from None
    present = "checkpoint tables present" if tables and tables[0] else "no runs yet"
    return f"{redact(store.url)}: PostgreSQL {version[0] if version else '(version not given)'}, {present}"


def _unreachable(store_url: str, exc: BaseException) -> BadInput:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BadInput(
        f"checkpoint database {store_url} is unreachable ({reason}); start it or fix --checkpoints / {ENV} "
        "(a password goes in the address, PGPASSWORD or ~/.pgpass)"
    )


def _pool(dsn: str) -> Any:
    """One connection pool per database per process, its tables created once (under an advisory lock, so
    workers starting together do not race on the migrations)."""
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    with _pools_lock:
        if dsn in _pools:
            return _pools[dsn]
        shown = redact(dsn)
        try:  # a plain connection first: its error says why (refused, authentication, no database)
            with psycopg.connect(dsn, connect_timeout=10, autocommit=True, row_factory=dict_row) as conn:
                if dsn not in _ready:
                    conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK_KEY,))
                    try:
                        PostgresSaver(conn).setup()
                    finally:
                        conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK_KEY,))
                    _ready.add(dsn)
        except psycopg.Error as exc:
            raise _unreachable(shown, exc) from None
        pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=_POOL_SIZE,
            open=True,
            check=ConnectionPool.check_connection,
            kwargs={
                "autocommit": True,
                "prepare_threshold": 0,
                "row_factory": dict_row,
                "connect_timeout": 10,
            },
            name=f"dsr-checkpoints-{len(_pools)}",
        )
        _pools[dsn] = pool
        return pool


@atexit.register
def _close_pools() -> None:
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


def prepare(store: CheckpointStore, option: str | None = None) -> None:
    """Reach the store before a run is recorded: a wrong address fails before anything is written."""
    if store.store == "postgres":
        _pool(connection_string(store, option))


@contextmanager
def open_saver(
    run_dir: Path, store: CheckpointStore, option: str | None = None
) -> Iterator[BaseCheckpointSaver]:
    """The run's checkpointer; a Postgres connection lost mid-run becomes one line saying the run is kept."""
    if store.store == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        check_sqlite(run_dir / SQLITE_FILE)
        with SqliteSaver.from_conn_string(str(run_dir / SQLITE_FILE)) as saver:
            yield saver
        return
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg_pool import PoolTimeout

    pool = _pool(connection_string(store, option))
    try:
        yield PostgresSaver(pool)
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise BadInput(
            f"{_unreachable(str(store.url), exc)}; the run is kept up to its last checkpoint, continue with "
            f"`dsr resume {run_dir}`"
        ) from None
