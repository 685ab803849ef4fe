"""Calling a role's model with a prompt file, and recording what the call cost."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel

from dsr import prompts
from dsr.contract.records import CallRecord
from dsr.models.messages import message_text


@dataclass
class StageOutput:
    """Text a stage produced, the prompt behind it and how long the call took (tokens: calls.jsonl)."""

    text: str
    prompt: str
    prompt_version: str
    seconds: float


def call_prompt(
    model: BaseChatModel, prompt_name: str, invoke_kwargs: dict[str, Any] | None = None, **variables: object
) -> StageOutput:
    """Invoke ``model`` once on a rendered prompt file (``invoke_kwargs``: e.g. a grammar for the answer)."""
    messages = prompts.prompt_messages(prompt_name, **variables)
    started = time.perf_counter()
    reply = model.invoke(messages, **(invoke_kwargs or {}))
    return StageOutput(
        text=message_text(reply).strip(),
        prompt=prompt_name,
        prompt_version=prompts.version(prompt_name),
        seconds=round(time.perf_counter() - started, 3),
    )


def stage_record(scene: int, role: str, out: StageOutput) -> CallRecord:
    """The report's record of one stage call (node name = role for the three writing stages)."""
    return CallRecord(
        scene=scene,
        node=role,
        role=role,
        requests=1,
        seconds=out.seconds,
        ok=bool(out.text),
        note=f"{out.prompt}@{out.prompt_version}",
    )
