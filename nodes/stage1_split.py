"""Split decoding (DSR-SPEC 1): one Stage 1 answer ``<directives>…</directives><novel>…</novel>`` decoded in
two calls when planner and novelist are the same ``dsr train`` model.

It applies when the novelist has ``prompt = "stage1"`` and the planner resolves to the same weights
(provider, model, adapter, endpoint, device; sampling settings may differ) in ``dsr`` mode. Then:

1. the planner node sends the SFT prompt (``prompts/stage1.md`` with X) with the assistant prefix
   ``<directives>`` and decodes only the directives JSON, held to the CreativeDirectives schema where the
   provider can (a grammar on embedded/``hf``, ``response_format`` json_schema on an endpoint; always the stop
   sequence ``</directives>``), and parses it; the critic's planner checks and the directives review act on it;
2. the novelist node continues the same assistant turn from the (possibly edited) directives with
   ``\\n<novel>`` and writes the prose up to ``</novel>``. The embedded and ``hf`` providers keep the KV cache of
   the planner's call, so the prompt X is prefilled once per answer; vLLM does the same with prefix caching.

Critique reaches the model as a ``<note>`` inside its own answer, just before the half that is rewritten
(the SFT prompt has no slot for it): a planner-blamed finding (or a rejected plan) reruns the planner with
``<note>…</note>`` before ``<directives>`` and then the novelist; a novelist-blamed finding (or rejected
prose) keeps the directives and continues from ``…</directives>\\n<note>…</note>\\n<novel>``. The prompt
itself stays exactly the SFT prompt, so the cached prefix holds.

State: ``stage1`` keeps the planner's half (answer id, its note, the JSON as decoded and the directives
parsed from it) so the novelist continues the exact tokens the model wrote unless a person edited them.
calls.jsonl marks the halves with ``split`` ("directives" / "novel") and the same ``answer`` id.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from dsr import prompts
from dsr.contract.context import RunContext
from dsr.contract.dumps import CreativeDirectivesDump, dump
from dsr.contract.records import Stage1Half
from dsr.models.constrained import Grammar
from dsr.models.continuation import continuation_kwargs, rejects_continuation, unsupported
from dsr.models.messages import message_text
from dsr.models.structured import (
    NoJSONFound,
    Reason,
    Reply,
    StructuredOutputError,
    StructuredResult,
    cut_off,
    describe_problem,
    mechanism,
    parse_structured,
    record,
    rejects_format,
    request_kwargs,
    role_of,
)
from dsr.nodes.stage_calls import StageOutput, min_prose_kwargs
from dsr.story.plan_schema import directives_grammar
from dsr.story.schemas import CreativeDirectives, TaskInput, render_x
from dsr.story.stage1 import (
    DIRECTIVES_CLOSE,
    DIRECTIVES_OPEN,
    NOVEL_CLOSE,
    directives_prefix,
    note_block,
    novel_prefix,
)

# What "the same Stage 1 model" means: the same weights behind the same door.
_IDENTITY = ("provider", "model", "adapter", "base_url", "device")
#: Samples of the directives half before the planner gives up (an SFT model gets no repair turn: it resamples).
DIRECTIVES_ATTEMPTS = 2


def split_decoding(context: RunContext) -> bool:
    """Whether planner and novelist are one Stage 1 model in this run (then they decode one answer in halves)."""
    if context.mode != "dsr":
        return False
    novelist = context.role_config("novelist")
    if novelist.prompt != "stage1":
        return False
    planner = context.role_config("planner")
    return all(getattr(planner, key) == getattr(novelist, key) for key in _IDENTITY)


def _messages(x: TaskInput, prefix: str) -> list[BaseMessage]:
    return [*prompts.prompt_messages("stage1", x_text=render_x(x)), AIMessage(content=prefix)]


def _invoke(model: BaseChatModel, role: str, messages: list[BaseMessage], **kwargs: Any) -> BaseMessage:
    try:
        return model.invoke(messages, **continuation_kwargs(model, role), **kwargs)
    except Exception as exc:
        if rejects_continuation(exc):
            raise unsupported(model, role, exc) from None
        raise


@dataclass
class DirectivesHalf:
    """The planner's half of a split answer, as kept in state (``stage1``) and artefacts."""

    result: StructuredResult[CreativeDirectives]
    json_text: str
    note: str | None
    answer: str

    def state(self) -> Stage1Half:
        return {
            "answer": self.answer,
            "note": self.note,
            "json": self.json_text,
            "directives": dump(self.result.value),
        }


def new_answer_id(scene: int) -> str:
    return f"s{scene:02d}-{uuid.uuid4().hex[:8]}"


def plan_directives(model: BaseChatModel, x: TaskInput, note: str | None, answer: str) -> DirectivesHalf:
    """Decode ``<directives>{json}`` and stop at ``</directives>``; resample once on an unusable object."""
    role = role_of(model)
    prefix = note_block(note) + DIRECTIVES_OPEN
    messages, scene_schema = _messages(x, prefix), directives_grammar(x)
    raw: list[str] = []
    truncations, problem, mech = 0, "", mechanism(model)
    for attempt in range(1, DIRECTIVES_ATTEMPTS + 1):
        reply, mech = _directives_call(model, role, messages, scene_schema)
        text = reply.text.split(DIRECTIVES_CLOSE, 1)[0].strip()
        text = text.removeprefix(
            DIRECTIVES_OPEN
        ).strip()  # an endpoint that opened a new turn repeats the tag
        raw.append(text)
        truncations += reply.truncated
        try:
            value = parse_structured(text, CreativeDirectives)
        except (NoJSONFound, ValueError) as exc:
            problem = describe_problem(exc)
            continue
        record(role, mech, attempt, valid=True, truncations=truncations)
        # The JSON exactly as decoded when it is one object (the novelist continues the model's own tokens).
        json_text = text if text.startswith("{") and text.endswith("}") else value.model_dump_json()
        return DirectivesHalf(
            StructuredResult(value, attempt, raw, mech, truncations), json_text, note, answer
        )
    record(role, mech, DIRECTIVES_ATTEMPTS, valid=False, truncations=truncations)
    reason: Reason = "truncated" if truncations else "invalid"
    raise StructuredOutputError(
        f"CreativeDirectives (split Stage 1): no valid object after {DIRECTIVES_ATTEMPTS} samples ({reason}); "
        f"last problem: {problem}",
        raw,
        reason=reason,
        mechanism=mech,
    )


def _directives_call(
    model: BaseChatModel, role: str, messages: list[BaseMessage], grammar: Grammar
) -> tuple[Reply, Any]:
    """One sample of the directives half under the strongest schema constraint the model has now (under a
    grammar, the scene's own schema); an ``auto`` endpoint that refuses ``response_format`` is asked again with
    the next weaker one."""
    from dsr.models.openai_provider import fall_back

    while True:
        mech = mechanism(model)
        kwargs = request_kwargs(mech, CreativeDirectives, grammar) | {"stop": [DIRECTIVES_CLOSE]}
        try:
            message = _invoke(model, role, messages, **kwargs)
        except Exception as exc:
            if (cut := cut_off(exc)) is not None:
                return cut, mech
            if mech in ("json_schema", "json_object") and rejects_format(exc) and fall_back(model, mech):
                continue
            raise
        usage = getattr(message, "usage_metadata", None) or {}
        truncated = (getattr(message, "response_metadata", None) or {}).get("finish_reason") == "length"
        reply = Reply(
            message_text(message), usage.get("input_tokens", 0), usage.get("output_tokens", 0), truncated
        )
        return reply, mech


def planner_half(stage1: Stage1Half | None, directives: CreativeDirectivesDump | None) -> str | None:
    """The directives part the novelist continues: the model's own tokens, or a person's edit of them
    (serialized as the SFT targets are); None when there is no planner half (the planner failed)."""
    if directives is None:
        return None
    if stage1 and stage1.get("directives") == directives:
        return directives_prefix(stage1["json"], stage1.get("note"))
    edited = CreativeDirectives.model_validate(directives).model_dump_json()
    return directives_prefix(edited, stage1["note"] if stage1 else None)


def continue_novel(
    model: BaseChatModel, x: TaskInput, directives_part: str | None, note: str | None
) -> tuple[StageOutput, str]:
    """The novelist's half: continue from the directives part (+ this rerun's note) up to ``</novel>``.

    Without a planner half (the planner gave no usable directives) the model writes the whole answer
    from ``<directives>`` on, and the prose is taken from its ``<novel>``. Returns the prose output and
    the whole assistant turn (prefix + continuation).
    """
    from dsr.story.stage1 import split_stage1

    role = role_of(model)
    prefix = novel_prefix(directives_part, note) if directives_part else note_block(note) + DIRECTIVES_OPEN
    started = time.perf_counter()
    reply = _invoke(model, role, _messages(x, prefix), stop=[NOVEL_CLOSE], **min_prose_kwargs(model))
    text = message_text(reply)
    answer = prefix + text
    prose = text.split(NOVEL_CLOSE, 1)[0] if directives_part else split_stage1(answer)[1]
    out = StageOutput(
        text=prose.strip(),
        prompt="stage1",
        prompt_version=prompts.version("stage1"),
        seconds=round(time.perf_counter() - started, 3),
    )
    return out, answer + ("" if NOVEL_CLOSE in text else NOVEL_CLOSE)
