"""Structured output that works on every provider, tool calling or not.

pydantic schema -> JSON instructions (schema + example) -> model -> extract the JSON object
(fences, chatter and small syntax slips tolerated via ``json-repair``) -> validate -> on failure,
a bounded number of repair turns that show the model its own answer and the exact problem ->
a clear :class:`StructuredOutputError`. Small local models break JSON often; this is the one
place that deals with it (planner, critic, judge and the synthesis teacher all use it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from json_repair import repair_json
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ValidationError

import prompts
from models.messages import message_text

T = TypeVar("T", bound=BaseModel)


class StructuredOutputError(RuntimeError):
    """The model gave no valid object within the repair budget."""

    def __init__(self, message: str, raw_outputs: list[str], input_tokens: int = 0, output_tokens: int = 0):
        super().__init__(message)
        self.raw_outputs = raw_outputs
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


class NoJSONFound(ValueError):
    pass


@dataclass
class StructuredResult(Generic[T]):
    value: T
    attempts: int
    raw_outputs: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0


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


def instructions(schema: type[BaseModel]) -> str:
    return prompts.render(
        "structured_output",
        schema=json.dumps(schema.model_json_schema(), ensure_ascii=False),
        example=json.dumps(schema_example(schema), ensure_ascii=False, indent=1),
    )


def parse_structured(text: str, schema: type[T]) -> T:
    """Extract and validate without calling a model (for outputs produced elsewhere)."""
    return schema.model_validate(extract_json(text))


def invoke_structured(
    model: BaseChatModel,
    messages: list[BaseMessage],
    schema: type[T],
    *,
    max_repairs: int = 2,
    **invoke_kwargs: Any,
) -> StructuredResult[T]:
    """Ask ``model`` for a ``schema`` object; repair up to ``max_repairs`` times, then raise."""
    convo: list[BaseMessage] = [*messages, HumanMessage(content=instructions(schema))]
    raw: list[str] = []
    tokens_in = tokens_out = 0
    problem = ""
    for attempt in range(1, max_repairs + 2):
        reply = model.invoke(convo, **invoke_kwargs)
        usage = getattr(reply, "usage_metadata", None) or {}
        tokens_in += usage.get("input_tokens", 0)
        tokens_out += usage.get("output_tokens", 0)
        text = message_text(reply)
        raw.append(text)
        try:
            value = parse_structured(text, schema)
        except (NoJSONFound, ValidationError) as exc:
            problem = describe_problem(exc)
            convo += [AIMessage(content=text), HumanMessage(content=prompts.render("structured_repair", problem=problem))]
            continue
        return StructuredResult(value, attempt, raw, tokens_in, tokens_out)
    raise StructuredOutputError(
        f"{schema.__name__}: no valid JSON object after {max_repairs + 1} attempts; last problem: {problem}",
        raw,
        tokens_in,
        tokens_out,
    )
