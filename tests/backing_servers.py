"""Real backing servers for tests and benchmarks: a throwaway PostgreSQL and a ``chroma run`` server, both on
127.0.0.1 on free ports, with their data in temporary directories removed afterwards.

PostgreSQL comes from the Debian package (``.ci/run`` installs it when missing): ``initdb`` and ``pg_ctl``
from ``PATH`` or ``/usr/lib/postgresql/<version>/bin``. PostgreSQL refuses to run as root, so under root
both run as the package's ``postgres`` user (``runuser``). Host connections need a password (scram), so
tests see what a real deployment sees. Outside CI a missing binary skips the tests that need it, with the
reason; with ``CI`` set it fails them.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.servers import VENV_BIN, free_port, stop_group, wait_http

PG_USER, PG_PASSWORD = "dsr", "s3cret-test-pw"


class Missing(RuntimeError):
    """A server binary (or the user it must run as) is not on this machine."""


def postgres_bindir() -> Path:
    """The directory of ``initdb`` and ``pg_ctl``: PATH first, then the newest Debian cluster version."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if versions:
        return Path(versions[-1]).parent
    raise Missing("PostgreSQL is not installed (no initdb): apt-get install postgresql, or run .ci/run")


def _as_postgres_user() -> list[str]:
    """The prefix that runs a PostgreSQL binary as a non-root user (none when not root)."""
    if os.geteuid() != 0:
        return []
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise Missing("running as root and there is no 'postgres' user to run PostgreSQL as") from None
    runuser = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if not runuser:
        raise Missing("running as root without runuser to start PostgreSQL as the 'postgres' user")
    return [runuser, "-u", "postgres", "--"]


@contextmanager
def throwaway_postgres(*, durable: bool = False) -> Iterator[str]:
    """A fresh PostgreSQL cluster on 127.0.0.1; yields ``postgresql://dsr:PASSWORD@127.0.0.1:PORT/postgres``.
    Tests run it without fsync (``-F``); ``durable`` keeps PostgreSQL's defaults (benchmarks)."""
    bindir, prefix = postgres_bindir(), _as_postgres_user()
    # Under root the server runs as 'postgres', which must reach the directory: /tmp, not a private TMPDIR.
    root = Path(tempfile.mkdtemp(prefix="dsr-pg-", dir="/tmp" if prefix else None))
    data, log = root / "data", root / "server.log"
    try:
        pwfile = root / "pw"
        pwfile.write_text(PG_PASSWORD + "\n")
        if prefix:
            import pwd

            user = pwd.getpwnam("postgres")
            for path in (root, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                PG_USER,
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=root,
        )
        port = free_port()
        options = f"-h 127.0.0.1 -p {port} -k {root} -c max_connections=200" + ("" if durable else " -F")
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=90,
            cwd=root,
        )
        try:
            yield f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
                cwd=root,
            )
    except subprocess.CalledProcessError as exc:
        tail = log.read_text()[-1500:] if log.exists() else ""
        raise RuntimeError(f"{exc.cmd[len(prefix)]} failed: {exc.stderr[-1500:]}\n{tail}") from None
    finally:
        shutil.rmtree(root, ignore_errors=True)


def chroma_binary() -> Path:
    path = VENV_BIN / "chroma"
    if not path.exists():
        raise Missing(f"no Chroma server binary at {path} (the chromadb package installs it)")
    return path


@contextmanager
def chroma_server(path: Path, *, port: int | None = None) -> Iterator[str]:
    """``chroma run`` on 127.0.0.1 serving the store at ``path``; yields ``http://127.0.0.1:PORT``. Its log goes
    to ``path``'s sibling ``chroma-server.log`` (a pipe nobody reads would fill up and stall the server)."""
    port = port or free_port()
    log = path.parent / f"{path.name}-chroma-server.log"
    cmd = [str(chroma_binary()), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            cmd,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v2/heartbeat", 60, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(proc)


def missing(reason: str) -> None:
    """Skip (outside CI) or fail (``CI`` set: the machine must have the server) a test for ``reason``."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it: .ci/run installs PostgreSQL)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL for the session (password in the URL, as a deployment's would be)."""
    try:
        with throwaway_postgres() as url:
            yield url
    except Missing as exc:
        missing(str(exc))


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory) -> Iterator[str]:
    """A real Chroma server for the session, its store in a temporary directory."""
    try:
        binary = chroma_binary()
    except Missing as exc:
        missing(str(exc))
    del binary
    with chroma_server(tmp_path_factory.mktemp("chroma") / "store") as url:
        yield url


def pg_rows(url: str, sql: str, *params: object) -> list[tuple]:
    """Rows of one query (tests look into the checkpoint tables themselves)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def wait_for(predicate, timeout: float, what: str, step: float = 0.2) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(Exception):
            if predicate():
                return
        time.sleep(step)
    raise TimeoutError(f"{what} not within {timeout} s")
