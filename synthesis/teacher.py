"""The teacher model as synthesis uses it: async, bounded concurrency, cached, counted, JSON-repairing.

Every call goes through :meth:`Teacher.text`: cache lookup by content hash, then ``model.ainvoke`` under
a semaphore (the bound on requests in flight against an endpoint), then the answer is stored before
anyone uses it. Structured calls reuse the shared JSON instructions, lenient extraction and repair
turns of :mod:`dsr.models.structured`, but asynchronously, and each repair turn is its own cached call.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, get_origin

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ValidationError

from dsr import prompts
from dsr.models.messages import message_text
from dsr.models.openai_provider import fall_back
from dsr.models.settings import RoleConfig, Settings, load_settings
from dsr.models.structured import (
    NoJSONFound,
    cut_off,
    describe_problem,
    extract_json,
    instructions,
    mechanism,
    record,
    rejects_format,
    request_kwargs,
    role_of,
)
from dsr.synthesis.cache import CachedCall, CallCache, call_key

T = TypeVar("T", bound=BaseModel)


class TeacherError(RuntimeError):
    """A teacher answer that cannot be used; ``reason`` is a stable code for the datasheet."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class Usage:
    """Totals for the run summary; ``model_seconds`` is the union of time with any call in flight."""

    calls: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cached_output_tokens: int = 0
    model_seconds: float = 0.0
    failures: int = 0
    by_purpose: dict[str, int] = field(default_factory=dict)


@dataclass
class Structured(Generic[T]):
    value: T
    coercions: list[str]


def model_identity(model: BaseChatModel, cfg: RoleConfig) -> dict[str, Any]:
    """What identifies the teacher's outputs in the cache key."""
    ident = cfg.output_shaping()
    ident["llm_type"] = getattr(model, "_llm_type", type(model).__name__)
    return ident


def coerce(data: Any, schema: type[BaseModel]) -> tuple[Any, list[str]]:
    """Fix the shapes weak teachers get wrong (an object wrapped in one key, a string for a list).

    Only shape is changed, never content; each change is reported as ``"kind: detail"`` so the datasheet
    can count kinds.
    """
    notes: list[str] = []
    fields = schema.model_fields
    if isinstance(data, dict) and len(data) == 1 and not set(data) & set(fields):
        ((key, inner),) = data.items()
        if isinstance(inner, dict):
            data, notes = inner, [f"unwrapped object from a wrapper key: {key}"]
    if isinstance(data, list) and len(fields) == 1:
        data, notes = {next(iter(fields)): data}, ["wrapped a bare list into an object"]
    if not isinstance(data, dict):
        return data, notes
    data = dict(data)
    lowered = {k.lower(): k for k in data}
    for name, info in fields.items():
        if name not in data and name in lowered and lowered[name] != name:
            data[name] = data.pop(lowered[name])
            notes.append(f"renamed key to the schema's spelling: {lowered[name]} -> {name}")
        if get_origin(info.annotation) is list and isinstance(data.get(name), str):
            data[name] = [data[name]] if data[name].strip() else []
            notes.append(f"turned a string into a list: {name}")
    return data, notes


class Teacher:
    def __init__(
        self,
        model: BaseChatModel,
        identity: dict[str, Any],
        cache: CallCache,
        *,
        concurrency: int,
        seed: int,
        max_repairs: int,
        name: str = "",
    ):
        self.model = model
        # What records and the datasheet call this teacher: the role and its model.
        self.name = name or f"{identity.get('llm_type', 'model')} {identity.get('model') or ''}".strip()
        self.identity = identity
        self.cache = cache
        self.seed = seed
        self.concurrency = concurrency
        self.max_repairs = max_repairs
        self.usage = Usage()
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight = 0
        self._busy_since = 0.0

    def _enter(self) -> None:
        if self._in_flight == 0:
            self._busy_since = time.perf_counter()
        self._in_flight += 1

    def _leave(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self.usage.model_seconds += time.perf_counter() - self._busy_since

    async def text(
        self, messages: list[dict[str, str]], purpose: str, schema: type[BaseModel] | None = None
    ) -> CachedCall:
        """One completion, from the cache when this exact call finished before; with ``schema``, held to it
        by the model's structured-output mechanism (which is part of the cache key)."""
        mech = mechanism(self.model) if schema is not None else None
        key = call_key(messages, {**self.identity, "mechanism": mech} if mech else self.identity, self.seed)
        self.usage.by_purpose[purpose] = self.usage.by_purpose.get(purpose, 0) + 1
        hit = self.cache.get(key)
        if hit is not None:
            self.usage.cache_hits += 1
            self.usage.cached_input_tokens += hit.input_tokens
            self.usage.cached_output_tokens += hit.output_tokens
            return hit
        extra = request_kwargs(mech, schema) if mech and schema else {}
        async with self._slots:
            self._enter()
            started = time.perf_counter()
            try:
                reply = await self.model.ainvoke([(m["role"], m["content"]) for m in messages], **extra)
                output, usage = message_text(reply), getattr(reply, "usage_metadata", None) or {}
                tokens = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
                failure = None
            except Exception as exc:  # any provider error: the scene is skipped with the reason
                failure, cut = exc, cut_off(exc)
                if cut is not None:
                    failure, output, tokens = None, cut.text, (cut.input_tokens, cut.output_tokens)
            finally:
                self._leave()
        if failure is not None:
            if mech and rejects_format(failure) and fall_back(self.model, mech):
                return await self.text(
                    messages, purpose, schema
                )  # the endpoint refused the format: weaker one
            self.usage.failures += 1
            raise TeacherError(
                "teacher-call-failed", f"{type(failure).__name__}: {failure}"[:300]
            ) from failure
        call = CachedCall(output, *tokens, round(time.perf_counter() - started, 4))
        self.cache.put(key, purpose, call)
        self.usage.calls += 1
        self.usage.input_tokens += call.input_tokens
        self.usage.output_tokens += call.output_tokens
        return call

    async def structured(
        self, messages: list[dict[str, str]], schema: type[T], purpose: str
    ) -> Structured[T]:
        """A ``schema`` object, leniently extracted, with up to ``max_repairs`` repair turns (one under a
        grammar, where only semantic validators can fail). An answer that used the whole token budget and
        does not parse is ``truncated`` (decided from the stored token count, so a rerun says the same)."""
        convo = [*messages, {"role": "user", "content": instructions(schema)}]
        problem, truncations, attempt = "", 0, 0
        mech = mechanism(self.model)
        attempts = min(self.max_repairs + 1, 2) if mech == "grammar" else self.max_repairs + 1
        while attempt < attempts:
            attempt += 1
            call = await self.text(convo, purpose, schema)
            truncated = call.output_tokens >= self.identity.get("max_new_tokens", float("inf"))
            try:
                data, notes = coerce(extract_json(call.output), schema)
                value = schema.model_validate(data)
            except (NoJSONFound, ValidationError) as exc:
                problem = describe_problem(exc)
                truncations += truncated
                convo = [
                    *convo,
                    {"role": "assistant", "content": call.output},
                    {
                        "role": "user",
                        "content": prompts.render("structured_repair", problem=problem, truncated=truncated),
                    },
                ]
                continue
            record(role_of(self.model), mech, attempt, valid=True, truncations=truncations)
            return Structured(value, notes)
        record(role_of(self.model), mech, attempt, valid=False, truncations=truncations)
        reason = "truncated" if truncated else "invalid-json"
        raise TeacherError(reason, f"{purpose}: {problem}"[:300])


def build_teacher(
    role: str,
    cache: CallCache,
    *,
    concurrency: int,
    seed: int,
    max_repairs: int,
    settings: Settings | None = None,
) -> Teacher:
    """The chat model configured for ``role``, seeded (unless the role fixes its own seed) and cached."""
    from dsr.models.factory import get_chat_model

    settings = settings or load_settings()
    cfg = settings.role(role)
    if cfg.seed is None:
        cfg.seed = seed
    model = get_chat_model(role, settings)
    return Teacher(
        model,
        model_identity(model, cfg),
        cache,
        concurrency=concurrency,
        seed=seed,
        max_repairs=max_repairs,
        name=f"{role} ({cfg.provider}: {cfg.model or 'default model'})",
    )
