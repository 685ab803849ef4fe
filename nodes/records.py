"""Accounting records nodes add to the graph state (the report is built from them)."""

from __future__ import annotations

from typing import TypedDict


class CallRecord(TypedDict):
    """One model call: what the report counts per role and scene."""

    scene: int
    node: str
    role: str
    requests: int  # model requests behind this record (structured output may need repair turns)
    input_tokens: int
    output_tokens: int
    seconds: float
    ok: bool
    note: str


class NodeTiming(TypedDict):
    scene: int
    node: str
    seconds: float
