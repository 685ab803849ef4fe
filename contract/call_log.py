"""``RUN_DIR/calls.jsonl``: every model call as it happens (scene, node, role, step, tokens, seconds).

The one place model calls and tokens are counted: a langchain callback on the run, reading scene and
role from the metadata ``dsr.nodes.runtime.call_role`` puts in the run config. report.json and the
evaluation's rows are built from it. Append-only and independent of graph state, it records calls made
by nodes that were later interrupted or killed too, which is how a resumed run can be shown to repeat
no finished node's calls. Holds no prompt text and no keys.

Each structured call (:func:`dsr.models.structured.record`: mechanism, attempts, validity, truncations) is a
line of its own with ``"kind": "structured"``, so report.json's structured figures are this run's, every
process of a resumed run included. :func:`read_call_log` gives the model calls, :func:`read_structured`
the structured calls.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from dsr.models.structured import STRUCTURED_EVENT

CALL_LOG = "calls.jsonl"


class CallLog(BaseCallbackHandler):
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._started: dict[UUID, tuple[float, dict[str, Any]]] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: Any,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        meta = metadata or {}
        self._started[run_id] = (
            time.time(),
            {
                "scene": meta.get("dsr_scene"),
                "role": meta.get("dsr_role"),
                "node": meta.get("langgraph_node"),
                "step": meta.get("langgraph_step"),
                "model": meta.get("ls_model_name"),
                # the half of a split Stage 1 answer ("directives" / "novel") and the answer's id
                **{key: meta[f"dsr_{key}"] for key in ("split", "answer") if f"dsr_{key}" in meta},
            },
        )

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._write(run_id, response, ok=True)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._write(run_id, None, ok=False, error=type(error).__name__)

    def on_custom_event(
        self, name: str, data: Any, *, run_id: UUID, metadata: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if name == STRUCTURED_EVENT:
            meta = metadata or {}
            entry = {
                "kind": "structured",
                "time": round(time.time(), 3),
                "scene": meta.get("dsr_scene"),
                **data,
            }
            self._append(
                entry | {"role": meta.get("dsr_role") or data["role"]}
            )  # the run's name for the role

    def _write(self, run_id: UUID, response: Any, *, ok: bool, error: str | None = None) -> None:
        started, info = self._started.pop(run_id, (time.time(), {}))
        usage: dict[str, Any] = {}
        if response is not None and response.generations and response.generations[0]:
            message = getattr(response.generations[0][0], "message", None)
            usage = dict(getattr(message, "usage_metadata", None) or {})
        entry = {
            "time": round(started, 3),
            "seconds": round(time.time() - started, 3),
            **info,
            "ok": ok,
            "error": error,
            "input_tokens": usage.get("input_tokens", 0),
            "output_tokens": usage.get("output_tokens", 0),
        }
        if cached := (usage.get("input_token_details") or {}).get("cache_read"):
            entry["cached_tokens"] = cached  # input tokens a kept KV cache served: not prefilled again
        self._append(entry)

    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()


def _entries(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _calls(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("kind", "call") == "call"]


def _structured(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("kind") == "structured"]


def read_call_log(path: Path) -> list[dict[str, Any]]:
    """The run's model calls."""
    return _calls(_entries(path))


def read_structured(path: Path) -> list[dict[str, Any]]:
    """The run's structured calls (for :func:`dsr.models.structured.tally`)."""
    return _structured(_entries(path))


def read_run_log(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(model calls, structured calls)`` of the run, the file read once (a report needs both)."""
    entries = _entries(path)
    return _calls(entries), _structured(entries)
