"""The shapes of JSON Schema a client may ask ``dsr serve`` to decode under (``response_format``, tools).

xgrammar is handed only schemas it can compile in bounded time and memory: nested at most
:data:`MAX_DEPTH` deep (a 450-deep schema overflowed the Python stack: a 500), at most :data:`MAX_NODES`
objects and lists, keyword values of the types JSON Schema gives them (``minLength: "5"`` beside a
``pattern`` was a TypeError: a 500), every ``$ref`` local and resolvable, and no schema that refers to
itself (``{"$ref": "#"}`` or a loop of refs compiled to a grammar that allows no token: a 500 at the first
step). :func:`problem` says what is wrong, or None; the server answers it as a 400 naming the parameter.
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 32  # the project's own schemas nest 7 deep
MAX_NODES = 2000  # objects and lists; the project's largest schema (CreativeDirectives) has about 120
MAX_COUNT = 100_000  # a length or item bound above this is not a bound a grammar can keep cheaply

_COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_NUMBERS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_STRINGS = ("pattern", "format", "$ref", "title", "description", "$schema", "$id", "$comment")
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SCHEMAS: tuple[str, ...] = (
    "items",
    "additionalProperties",
    "additionalItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
)
_SCHEMAS += ("propertyNames", "unevaluatedProperties", "unevaluatedItems")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


class SchemaProblem(ValueError):
    """What makes a schema unusable, in a line."""


def problem(schema: Any) -> str | None:
    """None when ``schema`` is within the bounds above; else the first thing wrong with it."""
    try:
        _shape(schema, "#", 0, [0])
        _refs(schema)
    except SchemaProblem as exc:
        return str(exc)
    return None


def _is_schema(value: Any) -> bool:
    return isinstance(value, dict | bool)


def _shape(node: Any, where: str, depth: int, nodes: list[int], schema: bool = True) -> None:
    """Depth, size and (where ``node`` is a schema, not a property map or a value) keyword types, walked with
    a bounded depth (never a RecursionError)."""
    if depth > MAX_DEPTH:
        raise SchemaProblem(f"it is nested more than {MAX_DEPTH} deep (at {where[:120]}...)")
    if not isinstance(node, dict | list):
        return
    nodes[0] += 1
    if nodes[0] > MAX_NODES:
        raise SchemaProblem(f"it has more than {MAX_NODES} objects and lists")
    if isinstance(node, list):
        for i, value in enumerate(node):
            _shape(value, f"{where}/{i}", depth + 1, nodes, schema=False)
        return
    if schema:
        _keywords(node, where)
    for key, value in node.items():
        path = f"{where}/{key}"
        if not schema:
            _shape(value, path, depth + 1, nodes, schema=False)
        elif key in _SCHEMA_MAPS:
            nodes[0] += 1
            for name, child in value.items():
                _shape(child, f"{path}/{name}", depth + 2, nodes)
        elif key in _SCHEMAS:
            _shape(value, path, depth + 1, nodes)
        elif key in _SCHEMA_LISTS:
            nodes[0] += 1
            for i, child in enumerate(value):
                _shape(child, f"{path}/{i}", depth + 2, nodes)
        else:  # enum, const, default, examples, keywords this server does not read: values, not schemas
            _shape(value, path, depth + 1, nodes, schema=False)


def _keywords(node: dict[str, Any], where: str) -> None:
    def wrong(key: str, what: str) -> SchemaProblem:
        return SchemaProblem(f"'{key}' at {where} must be {what}")

    for key, value in node.items():
        if key in _COUNTS:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
                raise wrong(key, f"an integer from 0 to {MAX_COUNT}")
        elif key in _NUMBERS:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise wrong(key, "a finite number")
        elif key in _STRINGS:
            if not isinstance(value, str):
                raise wrong(key, "a string")
        elif key == "type":
            types = value if isinstance(value, list) else [value]
            if not types or not all(isinstance(t, str) for t in types):
                raise wrong(key, "a type name or a non-empty list of them")
        elif key == "required":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise wrong(key, "a list of property names")
        elif key == "enum":
            if not isinstance(value, list) or not value:
                raise wrong(key, "a non-empty list")
        elif key in _SCHEMA_MAPS:
            if not isinstance(value, dict) or not all(_is_schema(v) for v in value.values()):
                raise wrong(key, "an object of schemas")
        elif key in _SCHEMAS:
            if not _is_schema(value):
                raise wrong(key, "a schema (an object or a boolean)")
        elif key in _SCHEMA_LISTS:
            if not isinstance(value, list) or not value or not all(_is_schema(v) for v in value):
                raise wrong(key, "a non-empty list of schemas")
        elif key == "uniqueItems" and not isinstance(value, bool):
            raise wrong(key, "true or false")
    if "minLength" in node and "maxLength" in node and node["minLength"] > node["maxLength"]:
        raise SchemaProblem(f"'minLength' at {where} is above its 'maxLength'")


def _pointer(root: Any, ref: str) -> Any:
    """The part of ``root`` a local ``$ref`` names; SchemaProblem for any other reference."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        raise SchemaProblem(f"'$ref' {ref[:80]!r} is not a reference inside the schema ('#/$defs/...')")
    node = root
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise SchemaProblem(f"'$ref' {ref[:80]!r} names nothing in the schema")
    if not _is_schema(node):
        raise SchemaProblem(f"'$ref' {ref[:80]!r} names something that is not a schema")
    return node


def _refs_in(node: Any) -> list[str]:
    """The ``$ref`` values inside ``node`` (bounded by :func:`_shape`'s depth check, done first)."""
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$ref"), str):
                found.append(item["$ref"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _refs(root: Any) -> None:
    """Every ``$ref`` resolves, and none leads back to itself: a recursive schema (a ref to ``#`` or a ref
    loop) is refused; a depth-first walk of the ref graph, iterative, each target read once."""
    edges: dict[str, list[str]] = {}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[tuple[str, list[str]]] = [("", _refs_in(root))]
    while path:
        ref, pending = path[-1]
        if not pending:
            path.pop()
            state[ref] = 2
            continue
        nxt = pending.pop()
        if state.get(nxt) == 2:
            continue
        if state.get(nxt) == 1:
            raise SchemaProblem(
                f"it refers to itself ('$ref' {nxt[:80]!r}); recursive schemas are not supported by this server"
            )
        if nxt not in edges:
            edges[nxt] = _refs_in(_pointer(root, nxt))
        state[nxt] = 1
        path.append((nxt, list(edges[nxt])))
