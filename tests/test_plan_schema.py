"""The scene's directives schema holds the planner's structural checks (P1-no-beats, P1-missing-character).

Checked on the compiled grammar (a plan that leaves out an outline character, or plans no beat, cannot be
decoded) and on the real embedded model: the bare base, whose plans missed outline characters in most
scenes of the held-out set (benchmarks/results/issue26-critic-pass.md), plans every one under it.
"""

from __future__ import annotations

import json

import pytest

from dsr.models.constrained import Grammar
from dsr.nodes.planner import plan
from dsr.story.checks import deterministic_checks
from dsr.story.plan_schema import directives_schema
from dsr.story.schemas import (
    CharacterProfile,
    CreativeDirectives,
    Metadata,
    PreviousContext,
    SceneOutline,
    TaskInput,
)

xgr = pytest.importorskip("xgrammar")

X = TaskInput(
    outline=SceneOutline(
        setting="EXT. HARBOR - NIGHT",
        characters=["MARA", "JONAH"],
        synopsis="Mara finds Jonah on the pier and takes the lantern from him.",
        beats=["Mara runs along the pier in the rain.", "Jonah hands over the lantern."],
    ),
    previous=PreviousContext(),
    characters=[CharacterProfile(name="MARA"), CharacterProfile(name="JONAH")],
    meta=Metadata(),
)


def accepts(schema: dict, answer: dict) -> bool:
    grammar = xgr.Grammar.from_json_schema(
        Grammar.json_schema(schema).source, any_whitespace=False, strict_mode=True, separators=(",", ":")
    )
    return xgr.testing._is_grammar_accept_string(grammar, json.dumps(answer, separators=(",", ":")))


def answer(names: list[str], beats: int) -> dict:
    value = CreativeDirectives.model_validate(
        {
            "pacing": {"beats": [{"label": f"beat {i}"} for i in range(beats)]},
            "characters": [{"name": n} for n in names],
        }
    )
    return value.model_dump(mode="json")


def test_every_outline_character_is_planned_first_and_every_beat_paced():
    schema = directives_schema(X)
    assert accepts(schema, answer(["MARA", "JONAH"], 2))
    assert accepts(schema, answer(["MARA", "JONAH", "HARBORMASTER"], 3))  # more may follow
    assert not accepts(schema, answer(["MARA"], 2))  # P1-missing-character
    assert not accepts(schema, answer(["JONAH", "MARA"], 2))  # in the outline's order
    assert not accepts(schema, answer(["MARA", "JONAH"], 1))  # fewer beats than the outline
    assert not accepts(schema, answer(["MARA", "JONAH"], 0))  # P1-no-beats


def test_the_class_schema_is_left_as_it_was():
    assert accepts(CreativeDirectives.model_json_schema(), answer(["SOMEONE"], 1))
    assert "prefixItems" not in json.dumps(CreativeDirectives.model_json_schema())


def test_an_outline_without_beats_or_characters_still_needs_one_beat():
    bare = X.model_copy(update={"outline": SceneOutline(setting="INT. ROOM - DAY", synopsis="Nothing.")})
    schema = directives_schema(bare)
    assert accepts(schema, answer(["ANYONE"], 1))
    assert not accepts(schema, answer(["ANYONE"], 0))


def test_real_model_plans_every_outline_character(embedded_model):
    result = plan(embedded_model, X)
    names = [p.name for p in result.value.characters]
    assert names[:2] == ["MARA", "JONAH"]
    findings = deterministic_checks(X, None, None, directives=result.value)
    assert not [f for f in findings if f.stage == "planner" and f.severity == "error"], findings
