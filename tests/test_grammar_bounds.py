"""A string with both a ``pattern`` and length bounds keeps both under the grammar.

xgrammar 0.2.8 drops ``minLength`` / ``maxLength`` when a string also has a ``pattern`` (a warning, then
an answer as long as the token budget); :func:`dsr.models.constrained.bounded_pattern` writes the bounds
into the pattern. Checked on the compiled grammar itself and on the embedded model's greedy answer.
"""

from __future__ import annotations

import json
import re

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from dsr.judging.verdict import free_text
from dsr.models.constrained import Grammar, bounded_pattern
from dsr.models.structured import invoke_structured

xgr = pytest.importorskip("xgrammar")


def accepts(schema: dict, value: str) -> bool:
    grammar = xgr.Grammar.from_json_schema(
        Grammar.json_schema(schema).source, any_whitespace=False, strict_mode=True, separators=(",", ":")
    )
    return xgr.testing._is_grammar_accept_string(grammar, json.dumps({"a": value}, separators=(",", ":")))


def string_schema(**bounds: object) -> dict:
    return {"type": "object", "properties": {"a": {"type": "string", **bounds}}, "required": ["a"]}


@pytest.mark.parametrize(
    ("pattern", "low", "high", "inside", "outside"),
    [
        (r"^[a-z]+$", 0, 5, ["a", "abcde"], ["", "abcdef", "ABC"]),
        (r"^[a-z]*$", 3, 6, ["abc", "abcdef"], ["ab", "abcdefg"]),
        (r"^(ab)+$", 0, 5, ["ab", "abab"], ["aba", "ababab"]),
        (r"^a.b?c{2,}$", 0, 7, ["axcc", "axbcccc"], ["axbccccc", "axc"]),
        (free_text(240)["pattern"], 1, 12, ["A short note", "x"], ["A short note.", "<placeholder"]),
    ],
)
def test_grammar_keeps_pattern_and_length_bounds(pattern, low, high, inside, outside):
    schema = string_schema(pattern=pattern, minLength=low, maxLength=high)
    assert "Length" not in Grammar.json_schema(schema).source  # xgrammar would ignore them next to a pattern
    for value in inside:
        assert accepts(schema, value), value
    for value in outside:
        assert not accepts(schema, value), value


def test_pattern_already_inside_the_bounds_is_kept_verbatim():
    judge = free_text(240)["pattern"]
    assert bounded_pattern(judge, 1, 240) == judge == bounded_pattern(judge, 1)


@pytest.mark.parametrize(
    ("pattern", "low", "high"),
    [(r"^abcdef$", 0, 3), (r"^ab?$", 4, None), (r"^(?i:[a-z]+)$", 0, 4), (r"^(a)\1+$", 0, 4)],
)
def test_bounds_that_cannot_be_kept_are_refused_not_dropped(pattern, low, high):
    with pytest.raises(ValueError, match="pattern"):
        Grammar.json_schema(string_schema(pattern=pattern, minLength=low, maxLength=high))


def test_dsr_serve_refuses_a_schema_whose_bounds_it_cannot_keep():
    from dsr.models.server import RequestError, _response_format

    spec = {"name": "s", "schema": string_schema(pattern=r"^abcdef$", maxLength=3)}
    with pytest.raises(RequestError, match="schema is not usable: pattern") as info:
        _response_format({"type": "json_schema", "json_schema": spec})
    assert info.value.status == 400
    kept = _response_format(
        {
            "type": "json_schema",
            "json_schema": {"name": "s", "schema": string_schema(pattern="^[a-z]+$", maxLength=3)},
        }
    )
    assert "{1,3}" in kept.source


class Story(BaseModel):
    story: str = Field(max_length=12, pattern=r"^[A-Za-z][A-Za-z ,.']*$")


@pytest.mark.slow
def test_embedded_model_cannot_exceed_max_length_of_a_patterned_field(embedded_model):
    # Greedy, with a prompt for a long text: under the grammar that dropped maxLength beside a pattern
    # this answer was "The Lost One by Theo LaRue" (26 characters); now the string closes at 12.
    messages = [
        SystemMessage("You write long, detailed, flowing texts."),
        HumanMessage(
            "Tell a long story about a lighthouse keeper who finds a stranger on the rocks, with many details."
        ),
    ]
    result = invoke_structured(
        embedded_model, messages, Story, max_repairs=0, max_new_tokens=120, temperature=0
    )
    raw = json.loads(result.raw_outputs[0])["story"]
    assert result.mechanism == "grammar" and result.truncations == 0
    assert 1 <= len(raw) <= 12 and re.fullmatch(r"[A-Za-z][A-Za-z ,.']*", raw), raw
    assert result.value.story == raw
