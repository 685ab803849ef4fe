"""One writer of a run at a time: ``RUN_DIR/.lock`` (an advisory ``flock``), held while a run is driven or
forked by ``dsr edit``, ``dsr history --restore`` and the writers' room. A second one is refused with what
holds the run, never left to interleave checkpoints. The lock goes with its process, so a killed run never
leaves the directory locked.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dsr.common.errors import BadInput

LOCK = ".lock"


class RunBusy(BadInput):
    """The run is being driven or edited by someone else right now."""


@contextmanager
def holding(run_dir: Path, what: str) -> Iterator[None]:
    """Hold the run's lock for ``what`` (shown to whoever is refused meanwhile)."""
    path = run_dir / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise RunBusy(f"{run_dir} is busy ({holder}); wait until it finishes and try again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what}, pid {os.getpid()}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
