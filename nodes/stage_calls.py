"""Calling a role's model with a prompt file, and recording what the call cost."""

from __future__ import annotations

import time
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

import prompts
from models.messages import message_text


@dataclass
class StageOutput:
    """Text a stage produced plus its accounting (goes into per-scene artefacts and report.json)."""

    text: str
    prompt: str
    prompt_version: str
    input_tokens: int
    output_tokens: int
    seconds: float


def call_prompt(model: BaseChatModel, prompt_name: str, **variables: object) -> StageOutput:
    """Render ``prompts/<prompt_name>.md`` as system + user turns and invoke ``model`` once."""
    turns = prompts.messages(prompt_name, **variables)
    messages = [SystemMessage(text) if role == "system" else HumanMessage(text) for role, text in turns]
    started = time.perf_counter()
    reply = model.invoke(messages)
    usage = reply.usage_metadata or {}
    return StageOutput(
        text=message_text(reply).strip(),
        prompt=prompt_name,
        prompt_version=prompts.version(prompt_name),
        input_tokens=usage.get("input_tokens", 0),
        output_tokens=usage.get("output_tokens", 0),
        seconds=round(time.perf_counter() - started, 3),
    )
