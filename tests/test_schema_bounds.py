"""The schemas `dsr serve` accepts (models/schema_bounds.py) and how long a request waits for its compile
(models/server.py GrammarCompiles), without a model: every bad shape is named, the project's own schemas
pass, a compile past its deadline is a 400, one waiting behind another's a 503, an abandoned one never runs.
The same refusals over HTTP against a real `dsr serve`: tests/test_serve_hardening.py."""

from __future__ import annotations

import threading
import time

import anyio
import pytest
from openai.lib._pydantic import to_strict_json_schema

from dsr.judging.continuity import ContinuityVerdict
from dsr.judging.pairwise import PairVerdict
from dsr.judging.rubric import RubricVerdict
from dsr.models.constrained import Grammar, endpoint_schema
from dsr.models.schema_bounds import MAX_DEPTH, problem
from dsr.models.server import GrammarCompiles, RequestError
from dsr.nodes.planner import CreativeDirectives
from dsr.story.extraction import SceneFacts


def _nested(depth: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        (_nested(450), f"nested more than {MAX_DEPTH} deep"),
        ({"$ref": "#"}, "refers to itself"),
        (
            {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
            "refers to",
        ),
        ({"type": "object", "properties": {"next": {"$ref": "#"}}}, "refers to itself"),
        ({"$defs": {"a": {"items": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"}, "refers to itself"),
        ({"$ref": "#/$defs/nope"}, "names nothing"),
        ({"$ref": "other.json"}, "not a reference inside"),
        ({"type": "string", "pattern": "^a+$", "minLength": "5"}, "'minLength' at # must be an integer"),
        ({"type": "string", "maxLength": True}, "'maxLength' at # must be an integer"),
        ({"type": "string", "minLength": 5, "maxLength": 2}, "above its 'maxLength'"),
        ({"type": "integer", "minimum": float("inf")}, "finite number"),
        ({"type": "object", "properties": {"x": {"pattern": 5}}}, "'pattern' at #/properties/x must be"),
        ({"type": ["string", 3]}, "'type' at # must be"),
        ({"anyOf": []}, "non-empty list of schemas"),
        ({"type": "object", "required": "a"}, "list of property names"),
        ({"type": "array", "items": [1]}, "a schema"),
        ({"enum": [[[[1]]]] * 3000}, "more than 2000"),
    ],
)
def test_each_unusable_shape_is_named(schema, says):
    found = problem(schema)
    assert found is not None and says in found, found


def test_the_projects_schemas_and_plain_ones_pass():
    for cls in (PairVerdict, RubricVerdict, ContinuityVerdict, CreativeDirectives, SceneFacts):
        assert problem(cls.model_json_schema()) is None
        assert problem(endpoint_schema(to_strict_json_schema(cls))) is None
    # Property names and values that look like keywords are not keywords.
    odd = {
        "type": "object",
        "properties": {
            "format": {"type": "string"},
            "$ref": {"type": "string"},
            "minLength": {"enum": ["x"]},
        },
        "default": {"minLength": "not a keyword here"},
    }
    assert problem(odd) is None
    assert (
        problem({"$defs": {"s": {"type": "string"}}, "items": {"$ref": "#/$defs/s"}, "type": "array"}) is None
    )
    shared = {"$defs": {"s": {"type": "string"}}, "anyOf": [{"$ref": "#/$defs/s"}] * 50}
    assert problem(shared) is None  # one target many times: read once, not a loop


class _Compiling:
    """A model whose compiles take ``seconds``, counting those that ran."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.ran = seconds, []

    def prepare_grammar(self, grammar: Grammar) -> None:
        self.ran.append(grammar)
        time.sleep(self.seconds)


GRAMMAR = Grammar("json_schema", '{"type": "object"}')


def test_a_compile_past_its_deadline_is_a_400_and_one_waiting_behind_it_a_503():
    model = _Compiling(1.5)
    compiles = GrammarCompiles(wait_s=0.5)
    results: dict[str, RequestError] = {}

    async def first() -> None:
        try:
            await compiles.prepare(model, GRAMMAR, "response_format")  # type: ignore[arg-type]
        except RequestError as exc:
            results["first"] = exc

    async def second() -> None:
        await anyio.sleep(0.1)
        try:
            await compiles.prepare(model, GRAMMAR, "response_format")  # type: ignore[arg-type]
        except RequestError as exc:
            results["second"] = exc

    async def both() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(first)
            group.start_soon(second)

    started = time.monotonic()
    anyio.run(both)
    assert time.monotonic() - started < 1.2  # neither waited for the 1.5 s compile
    assert results["first"].status == 400 and results["first"].param == "response_format"
    assert "did not compile within" in results["first"].message
    assert results["second"].status == 503 and results["second"].code == "compiling"
    time.sleep(1.6)  # the first compile ends; the second was given up and never started
    assert len(model.ran) == 1


def test_models_without_a_compile_step_and_requests_without_a_grammar_pass_at_once():
    compiles = GrammarCompiles(wait_s=0.5)
    anyio.run(compiles.prepare, object(), GRAMMAR, "response_format")
    model = _Compiling(0.0)
    anyio.run(compiles.prepare, model, None, "response_format")
    anyio.run(compiles.prepare, model, GRAMMAR, "response_format")
    assert len(model.ran) == 1 and threading.active_count() < 50
