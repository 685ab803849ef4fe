"""Calling a role's model with a prompt file, and recording what the call cost."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel

from dsr import prompts
from dsr.contract.records import CallRecord
from dsr.models.local_chat import min_length_kwargs
from dsr.models.messages import message_text
from dsr.story.checks.prose import MIN_PROSE_WORDS

# The novelist's answer is held open this long (local models): the critic fails prose under MIN_PROSE_WORDS
# (N3-length), and the embedded tokenizer spends 1.3-2.1 tokens a word on the corpus's prose (1.56 on average).
MIN_PROSE_TOKENS = 2 * MIN_PROSE_WORDS


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


def min_prose_kwargs(model: BaseChatModel) -> dict[str, Any]:
    """What keeps a local novelist writing past the critic's minimum length (its end and stop held back)."""
    return min_length_kwargs(model, MIN_PROSE_TOKENS)


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
