"""Output files and directories: atomic, with the modes an editor gives, never over a user's own files.

Atomic: a killed process never leaves a half-written file behind (temp file in the same directory,
then ``os.replace``). Modes: a new file gets ``0o666 & ~umask`` like any editor's, so episodes, reports
and data sets can be shared the way the user's umask says; a file rewritten in place keeps its mode;
``mode=PRIVATE`` is for what only the user may read.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from dsr.common.errors import BadInput

PRIVATE = 0o600
SHARED = 0o666  # what open(2) is asked for by editors; the kernel applies the umask


def atomic_write(
    path: str | os.PathLike[str], data: str | bytes, *, encoding: str = "utf-8", mode: int | None = None
) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``.

    ``mode`` (e.g. :data:`PRIVATE`) is applied through the umask; without it an existing file keeps its
    permission bits and a new one gets ``0o666 & ~umask``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode(encoding) if isinstance(data, str) else data
    keep = _existing_mode(target) if mode is None else None
    tmp = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    # O_EXCL: never follows a planted link or reuses a file; the kernel applies the umask to the mode.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SHARED if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            if keep is not None:
                os.fchmod(handle.fileno(), keep)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _existing_mode(target: Path) -> int | None:
    """Permission bits of the regular file at ``target``, or None when there is none."""
    try:
        info = target.stat()
    except OSError:
        return None
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else None


def write_json(path: str | os.PathLike[str], data: object, *, mode: int | None = None) -> Path:
    """Pretty, UTF-8 JSON, atomically."""
    return atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", mode=mode)


def prepare_output_dir(
    path: Path,
    markers: Iterable[str],
    *,
    what: str,
    force: bool = False,
    can_force: bool = True,
    option: str = "-o",
    create: bool = True,
) -> Path:
    """Create ``path`` for a command's output, refusing to write among a user's files.

    A directory is ours when it holds one of ``markers`` (the file the command writes to recognise its
    own output, e.g. run.json): a rerun may continue in it. A non-empty directory without one is the
    user's, and only ``force`` writes there (``can_force``: the command has a --force to offer); a path
    that is a file is never a directory to write in. ``create=False`` only checks, for a command that
    creates the directory itself once its other inputs are validated (a refused run leaves nothing behind).
    Called before any model loads, so a refusal costs nothing.
    """
    names = list(markers)
    if path.exists() and not path.is_dir():
        raise BadInput(f"{path}: is a file, not a directory; give {option} a new or empty directory")
    if path.is_dir() and not force and not any((path / name).exists() for name in names):
        try:
            occupied = next(path.iterdir(), None) is not None
        except OSError as exc:
            raise BadInput(
                f"{path}: cannot read the directory ({exc.strerror or type(exc).__name__})"
            ) from None
        if occupied:
            anyway = ", or add --force to write into it anyway" if can_force else ""
            raise BadInput(
                f"{path}: directory is not empty and holds no {what} ({names[0]}); "
                f"give {option} a new or empty directory{anyway}"
            )
    if not create:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(
            f"{path}: cannot create the output directory ({exc.strerror or type(exc).__name__})"
        ) from None
    return path


def refuse_directory(path: Path, option: str = "-o") -> Path:
    """A single-file output must not name a directory (writing would fail or land inside it)."""
    if path.is_dir():
        raise BadInput(f"{path}: is a directory; give {option} a file name")
    return path
