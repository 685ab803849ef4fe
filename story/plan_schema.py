"""A per-scene JSON schema for the directives: the planner's structural checks, held by the grammar.

The critic's P1 errors are structural (``P1-no-beats``: no pacing beat; ``P1-missing-character``: an outline
character without a plan), so a grammar can keep them, as the per-scene Fountain grammar keeps the F1
checks (``story/fountain_grammar.py``): the plan list opens with one plan per outline character, its
name fixed (more plans may follow, within the schema's bound), and the pacing has as many beats as the
outline (at least one, at most the schema's five). What the plan says stays free.

Only a grammar takes it (embedded and ``hf`` providers): an endpoint's strict ``json_schema`` mode does not
accept ``prefixItems`` or ``const`` everywhere, so endpoints get the class's own schema.
"""

from __future__ import annotations

import copy
from typing import Any

from dsr.models.constrained import Grammar
from dsr.story.schemas import CreativeDirectives, TaskInput

MAX_BEATS = 5  # NarrativePacing.beats' bound
MAX_PLANS = 6  # CreativeDirectives.characters' bound


def _plan_for(name: str, plan: dict[str, Any]) -> dict[str, Any]:
    fixed = copy.deepcopy(plan)
    fixed["properties"]["name"] = {"const": name}
    fixed["required"] = ["name"]
    return fixed


def directives_schema(x: TaskInput) -> dict[str, Any]:
    """CreativeDirectives' schema narrowed to this scene: a plan per outline character, a beat per outline beat."""
    schema = CreativeDirectives.model_json_schema()
    defs = schema["$defs"]
    pacing = defs["NarrativePacing"]
    pacing["properties"]["beats"]["minItems"] = min(max(len(x.outline.beats), 1), MAX_BEATS)
    pacing["required"] = ["beats", *(k for k in pacing.get("required", []) if k != "beats")]
    names = list(dict.fromkeys(n.strip() for n in x.outline.characters if n.strip()))[:MAX_PLANS]
    characters = schema["properties"]["characters"]
    if names:
        characters["prefixItems"] = [_plan_for(name, defs["CharacterPlan"]) for name in names]
        characters["minItems"] = len(names)
    return schema


def directives_grammar(x: TaskInput) -> Grammar:
    """:func:`directives_schema` as the grammar the planner's request carries (planner node, split decoding)."""
    return Grammar.json_schema(directives_schema(x))
