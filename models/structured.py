"""Structured output that works on every provider, tool calling or not.

pydantic schema -> JSON instructions (schema + example) -> model, held to the schema by the strongest
mechanism the provider has (:func:`mechanism`) -> extract the JSON object (fences, chatter and small
syntax slips tolerated via ``json-repair``) -> validate -> on failure, a bounded number of repair turns
that show the model its own answer and the exact problem -> a clear :class:`StructuredOutputError`.

Mechanisms: ``grammar`` (embedded, ``hf``, llama.cpp: decoding constrained by the schema, so the object
parses by construction), ``json_schema`` / ``json_object`` (an OpenAI-compatible ``response_format``;
``auto`` roles fall back when the endpoint rejects it) and ``prompt`` (instructions only). Under a
grammar only semantic validators can fail, and they get one repair turn. An answer the token budget cut
off is reason ``truncated``. Every call is reported to its run (:func:`record`: the run's calls.jsonl,
or a :func:`counting` block) and counted per role by :func:`tally` for report.json and the evaluation
metrics. Planner, critic, judges and the synthesis teacher all come through here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, Literal, TypeVar

from json_repair import repair_json
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables.config import ensure_config, get_callback_manager_for_config
from pydantic import BaseModel, ValidationError

from dsr import prompts
from dsr.models.constrained import Grammar, endpoint_schema
from dsr.models.messages import message_text

T = TypeVar("T", bound=BaseModel)


Mechanism = Literal["grammar", "json_schema", "json_object", "prompt"]
Reason = Literal["truncated", "invalid"]


class StructuredOutputError(RuntimeError):
    """The model gave no valid object within the repair budget; ``reason`` is ``truncated`` when the last
    answer was cut off by the token budget, else ``invalid``."""

    def __init__(
        self,
        message: str,
        raw_outputs: list[str],
        *,
        reason: Reason = "invalid",
        mechanism: Mechanism = "prompt",
    ):
        super().__init__(message)
        self.raw_outputs = raw_outputs
        self.reason = reason
        self.mechanism = mechanism


class NoJSONFound(ValueError):
    pass


@dataclass
class StructuredResult(Generic[T]):
    value: T
    attempts: int
    raw_outputs: list[str] = field(default_factory=list)
    mechanism: Mechanism = "prompt"
    truncations: int = 0


def extract_json(text: str) -> Any:
    """The first JSON object in ``text``, tolerating fences, surrounding prose and small syntax errors."""
    start = text.find("{")
    if start == -1:
        raise NoJSONFound("the answer contains no JSON object (no '{' found)")
    end = text.rfind("}")
    candidate = text[start : end + 1] if end > start else text[start:]
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        pass
    repaired = repair_json(candidate, return_objects=True)
    if not isinstance(repaired, dict) or not repaired:
        raise NoJSONFound("the answer's JSON object could not be parsed or repaired")
    return repaired


def describe_problem(exc: Exception, limit: int = 5) -> str:
    """One short line a model (and a person) can act on."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:limit]:
            where = ".".join(str(p) for p in err["loc"]) or "(root)"
            parts.append(f"{where}: {err['msg']}")
        more = f" (+{exc.error_count() - limit} more)" if exc.error_count() > limit else ""
        return "; ".join(parts) + more
    return str(exc)


def schema_example(schema: type[BaseModel]) -> dict[str, Any]:
    """An example object: the schema's own ``examples`` when it declares one, else a typed skeleton."""
    js = schema.model_json_schema()
    if js.get("examples"):
        return js["examples"][0]
    return _skeleton(js, js.get("$defs", {}))


def _skeleton(node: dict[str, Any], defs: dict[str, Any]) -> Any:
    # Hand-written: pydantic has no "example from schema" generator, and the shape is all we need here.
    if "$ref" in node:
        return _skeleton(defs[node["$ref"].split("/")[-1]], defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            options = [o for o in node[key] if o.get("type") != "null"] or node[key]
            return _skeleton(options[0], defs)
    if "enum" in node:
        return node["enum"][0]
    if "const" in node:
        return node["const"]
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return {name: _skeleton(sub, defs) for name, sub in node.get("properties", {}).items()}
    if kind == "array":
        return [_skeleton(node.get("items", {}), defs)]
    if kind == "integer":
        return node.get("minimum", 1)
    if kind == "number":
        return node.get("minimum", 1.0)
    if kind == "boolean":
        return False
    return "..."


@cache
def instructions(schema: type[BaseModel]) -> str:
    return prompts.render(
        "structured_output",
        schema=json.dumps(schema.model_json_schema(), ensure_ascii=False),
        example=json.dumps(schema_example(schema), ensure_ascii=False, indent=1),
    )


def parse_structured(text: str, schema: type[T]) -> T:
    """Extract and validate without calling a model (for outputs produced elsewhere)."""
    return schema.model_validate(extract_json(text))


STRUCTURED_EVENT = "dsr_structured"
_SINKS: ContextVar[tuple[Callable[[dict[str, Any]], None], ...]] = ContextVar(
    "dsr_structured_sinks", default=()
)


def record(role: str, mechanism: Mechanism, attempts: int, *, valid: bool, truncations: int) -> None:
    """Report one structured call (all its attempts) to the run it belongs to.

    Inside a graph run it is a langchain custom event on the node's run, which the run's
    :class:`dsr.contract.call_log.CallLog` writes to calls.jsonl beside the model calls (role and scene from the
    run metadata); a :func:`counting` block (an evaluation or synthesis run) collects it too. Nothing is
    kept per process, so two runs in one process never share figures.
    """
    event = {
        "role": role,
        "mechanism": mechanism,
        "attempts": attempts,
        "valid": valid,
        "truncations": truncations,
    }
    for sink in _SINKS.get():
        sink(event)
    manager = get_callback_manager_for_config(ensure_config())
    if manager.parent_run_id is not None and manager.handlers:
        manager.on_custom_event(STRUCTURED_EVENT, event, run_id=manager.parent_run_id)


@contextmanager
def counting() -> Iterator[list[dict[str, Any]]]:
    """Collect the block's structured calls (:func:`record` events); :func:`tally` counts them.

    Carried by context: threads must start in a copy of it (``ContextThreadPoolExecutor``,
    ``asyncio.to_thread``, :func:`dsr.synthesis.loop.run_async`), as a run's own workers do.
    """
    events: list[dict[str, Any]] = []
    token = _SINKS.set((*_SINKS.get(), events.append))
    try:
        yield events
    finally:
        _SINKS.reset(token)


def tally(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per role: mechanisms used, calls, first-try validity, repair turns, truncations, failures.

    The one place structured calls are counted: report.json (from calls.jsonl), the judges' and the
    calibration's evaluation records and synthesis's run.json all come from it."""
    roles: dict[str, dict[str, Any]] = {}
    for event in events:
        t = roles.setdefault(
            event["role"],
            {
                "mechanisms": {},
                "calls": 0,
                "first_try_valid": 0,
                "repair_turns": 0,
                "truncations": 0,
                "failures": 0,
            },
        )
        t["mechanisms"][event["mechanism"]] = t["mechanisms"].get(event["mechanism"], 0) + 1
        t["calls"] += 1
        t["first_try_valid"] += event["valid"] and event["attempts"] == 1
        t["repair_turns"] += event["attempts"] - 1
        t["truncations"] += event["truncations"]
        t["failures"] += not event["valid"]
    return dict(sorted(roles.items()))


def role_of(model: BaseChatModel) -> str:
    """The role the factory named the model after (tests' fakes have none)."""
    return model.name or type(model).__name__


def mechanism(model: BaseChatModel) -> Mechanism:
    """The strongest way ``model`` can be held to a schema now (its role's ``structured`` setting decides
    between them; ``prompt`` turns constraints off)."""
    from dsr.models import constrained
    from dsr.models.llamacpp import LlamaCppChatModel
    from dsr.models.local_chat import LocalChatModel

    if isinstance(model, LocalChatModel | LlamaCppChatModel):
        local = isinstance(model, LlamaCppChatModel) or constrained.available()
        return "grammar" if local and model.config.structured != "prompt" else "prompt"
    if hasattr(model, "structured") and hasattr(model, "openai_api_base"):
        from dsr.models.openai_provider import structured_mode

        mode = structured_mode(model)
        return "prompt" if mode == "auto" else mode
    return "prompt"


@cache
def request_kwargs(
    mech: Mechanism, schema: type[BaseModel], grammar: Grammar | None = None
) -> dict[str, Any]:
    """What the model call carries for ``mech``: a grammar for local models (``grammar``, narrower than
    ``schema``'s, where the caller has one for this request), a ``response_format`` for OpenAI-compatible
    endpoints (strict: every key required, no extra keys, as OpenAI demands)."""
    if mech == "grammar":
        return {"grammar": grammar or Grammar.json_schema(schema)}
    if mech == "json_schema":
        from openai.lib._pydantic import to_strict_json_schema

        strict = endpoint_schema(to_strict_json_schema(schema))
        spec = {"name": schema.__name__, "schema": strict, "strict": True}
        return {"response_format": {"type": "json_schema", "json_schema": spec}}
    if mech == "json_object":
        return {"response_format": {"type": "json_object"}}
    return {}


def rejects_format(exc: Exception) -> bool:
    """The endpoint refused the ``response_format`` field (400/422 naming it), not the request as a whole."""
    status = getattr(exc, "status_code", None)
    text = str(exc).lower()
    return status in (400, 422) and any(w in text for w in ("response_format", "json_schema", "json_object"))


@dataclass
class Reply:
    text: str
    input_tokens: int
    output_tokens: int
    truncated: bool


def _reply(message: BaseMessage) -> Reply:
    usage = getattr(message, "usage_metadata", None) or {}
    meta = getattr(message, "response_metadata", None) or {}
    return Reply(
        message_text(message),
        usage.get("input_tokens", 0),
        usage.get("output_tokens", 0),
        meta.get("finish_reason") == "length",
    )


def cut_off(exc: Exception) -> Reply | None:
    """The openai client raises on a cut-off answer when ``response_format`` is set; keep it as a reply."""
    completion = getattr(exc, "completion", None)
    if type(exc).__name__ != "LengthFinishReasonError" or completion is None:
        return None
    usage = completion.usage
    return Reply(
        completion.choices[0].message.content or "",
        usage.prompt_tokens if usage else 0,
        usage.completion_tokens if usage else 0,
        True,
    )


def _call(
    model: BaseChatModel,
    convo: list[BaseMessage],
    schema: type[BaseModel],
    grammar: Grammar | None,
    kwargs: dict[str, Any],
) -> tuple[Reply, Mechanism]:
    """One model call with the current mechanism; an ``auto`` endpoint that refuses it is asked again with
    the next weaker one (remembered for the process)."""
    from dsr.models.openai_provider import fall_back

    while True:
        mech = mechanism(model)
        try:
            request = request_kwargs(mech, schema, grammar)
            return _reply(model.invoke(convo, **request, **kwargs)), mech
        except Exception as exc:
            if (reply := cut_off(exc)) is not None:
                return reply, mech
            if mech in ("json_schema", "json_object") and rejects_format(exc) and fall_back(model, mech):
                continue
            raise


def invoke_structured(
    model: BaseChatModel,
    messages: list[BaseMessage],
    schema: type[T],
    *,
    max_repairs: int = 2,
    grammar: Grammar | None = None,
    **invoke_kwargs: Any,
) -> StructuredResult[T]:
    """Ask ``model`` for a ``schema`` object; repair up to ``max_repairs`` times (once under a grammar,
    where only semantic validators can fail), then raise. ``grammar`` narrows the schema's grammar for this
    request (e.g. ``story/plan_schema.py``'s); the answer is still validated as ``schema``."""
    convo: list[BaseMessage] = [*messages, HumanMessage(content=instructions(schema))]
    raw: list[str] = []
    truncations = 0
    problem, mech = "", mechanism(model)
    reason: Reason = "invalid"
    attempts = max_repairs + 1
    attempt = 0
    while attempt < attempts:
        attempt += 1
        reply, mech = _call(model, convo, schema, grammar, invoke_kwargs)
        if mech == "grammar":
            attempts = min(attempts, 2)
        raw.append(reply.text)
        truncations += reply.truncated
        try:
            value = parse_structured(reply.text, schema)
        except (NoJSONFound, ValidationError) as exc:
            problem = describe_problem(exc)
            reason = "truncated" if reply.truncated else "invalid"
            repair = prompts.render("structured_repair", problem=problem, truncated=reply.truncated)
            convo += [AIMessage(content=reply.text), HumanMessage(content=repair)]
            continue
        record(role_of(model), mech, attempt, valid=True, truncations=truncations)
        return StructuredResult(value, attempt, raw, mech, truncations)
    record(role_of(model), mech, attempt, valid=False, truncations=truncations)
    raise StructuredOutputError(
        f"{schema.__name__}: no valid JSON object after {attempt} attempts ({reason}); last problem: {problem}",
        raw,
        reason=reason,
        mechanism=mech,
    )
