"""Records nodes add to the graph state: what each model-calling node did and how long nodes took.

Tokens and model calls are counted once, by :class:`dsr.contract.call_log.CallLog` (``calls.jsonl``)."""

from __future__ import annotations

from typing import TypedDict


class CallRecord(TypedDict):
    """One node's model work: its outcome (``ok``: a usable answer) and the requests behind it."""

    scene: int
    node: str
    role: str
    requests: int  # model requests behind this record (structured output may need repair turns)
    seconds: float
    ok: bool
    note: str


class NodeTiming(TypedDict):
    scene: int
    node: str
    seconds: float
