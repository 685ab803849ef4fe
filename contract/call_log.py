"""``RUN_DIR/calls.jsonl``: every model call as it happens (scene, node, role, step, tokens, seconds).

The one place model calls and tokens are counted: a langchain callback on the run, reading scene and
role from the metadata ``dsr.nodes.runtime.call_role`` puts in the run config. report.json and the
evaluation's rows are built from it. Append-only and independent of graph state, it records calls made
by nodes that were later interrupted or killed too, which is how a resumed run can be shown to repeat
no finished node's calls. Holds no prompt text and no keys.

Each structured call (:func:`dsr.models.structured.record`: mechanism, attempts, validity, truncations) is a
line of its own with ``"kind": "structured"``, so report.json's structured figures are this run's, every
process of a resumed run included. So is each model-calling node's outcome (:func:`log_outcome`, a
:class:`dsr.contract.records.CallRecord` with ``"kind": "outcome"``: whether the node got an answer it could use,
and the requests behind it), which graph state does not keep. :func:`read_call_log` gives the model calls,
:func:`read_structured` the structured calls, :func:`read_outcomes` the outcomes, :func:`read_run_log` all
three. Every line has the ``step`` of the graph it was made in.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple, cast
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables.config import ensure_config, get_callback_manager_for_config

from dsr.contract.records import CallRecord
from dsr.models.structured import STRUCTURED_EVENT

CALL_LOG = "calls.jsonl"
OUTCOME_EVENT = "dsr_outcome"


def log_outcome(*records: CallRecord) -> None:
    """Report model-calling nodes' outcomes to the run they belong to: a langchain custom event on the
    node's run, which the run's :class:`CallLog` writes to calls.jsonl (nothing outside a run with one)."""
    manager = get_callback_manager_for_config(ensure_config())
    if manager.parent_run_id is None or not manager.handlers:
        return
    for record in records:
        manager.on_custom_event(OUTCOME_EVENT, dict(record), run_id=manager.parent_run_id)


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
        meta = metadata or {}
        if name == STRUCTURED_EVENT:
            entry = {
                "kind": "structured",
                "time": round(time.time(), 3),
                "scene": meta.get("dsr_scene"),
                "step": meta.get("langgraph_step"),
                **data,
            }
            self._append(
                entry | {"role": meta.get("dsr_role") or data["role"]}
            )  # the run's name for the role
        elif name == OUTCOME_EVENT:
            self._append(
                {"kind": "outcome", "time": round(time.time(), 3), "step": meta.get("langgraph_step"), **data}
            )

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


def _outcomes(entries: list[dict[str, Any]]) -> list[CallRecord]:
    return [cast(CallRecord, e) for e in entries if e.get("kind") == "outcome"]


def read_outcomes(path: Path) -> list[CallRecord]:
    """The run's node outcomes (:func:`log_outcome`), each with its ``kind``, ``time`` and ``step`` too."""
    return _outcomes(_entries(path))


class RunLog(NamedTuple):
    calls: list[dict[str, Any]]
    structured: list[dict[str, Any]]
    outcomes: list[CallRecord]


def read_run_log(path: Path) -> RunLog:
    """The run's model calls, structured calls and node outcomes, the file read once (a report needs all)."""
    entries = _entries(path)
    return RunLog(_calls(entries), _structured(entries), _outcomes(entries))
