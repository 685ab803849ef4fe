"""Content-addressed cache of teacher calls, so a rerun or a killed run repeats no finished call.

Key: sha256 of the exact messages, the model configuration that shapes its output and the seed. SQLite in
WAL mode with a commit per call: a SIGKILL loses at most the call in flight, and the file stays readable.
``hits`` counts how often a stored answer was reused, which the resume test and the datasheet report.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    output TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    seconds REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True)
class CachedCall:
    output: str
    input_tokens: int
    output_tokens: int
    seconds: float


def call_key(messages: list[dict[str, str]], model: dict[str, Any], seed: int) -> str:
    payload = json.dumps(
        {"messages": messages, "model": model, "seed": seed}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class CallCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # Used only from the synthesis event-loop thread, which is not the thread that opens it.
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get(self, key: str) -> CachedCall | None:
        row = self._db.execute(
            "SELECT output, input_tokens, output_tokens, seconds FROM calls WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        self._db.execute("UPDATE calls SET hits = hits + 1 WHERE key = ?", (key,))
        self._db.commit()
        return CachedCall(*row)

    def put(self, key: str, purpose: str, call: CachedCall) -> None:
        # INSERT OR IGNORE: two identical prompts in flight at once store one answer.
        self._db.execute(
            "INSERT OR IGNORE INTO calls (key, purpose, output, input_tokens, output_tokens, seconds)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (key, purpose, call.output, call.input_tokens, call.output_tokens, call.seconds),
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()
