"""Every rejection reason the README names for synthesis, each triggered on purpose.

Teacher-side reasons (outline, directives, fidelity) come from the rule-based teacher of
tests/test_synthesis_scripted.py with one answer sabotaged; the same run with the honest teacher keeps the
scene, so each rejection is caused by that answer. Corpus-side reasons (non-story scene, too many speakers,
broken format) come from scenes written to fail exactly one filter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dsr.models.settings import load_settings
from dsr.synthesis.cache import CallCache
from dsr.synthesis.pipeline import synthesize
from dsr.synthesis.teacher import Teacher, model_identity
from tests.test_synthesis_scripted import ScriptedTeacher

# One scene per corpus filter, each long enough and with speakers, so only the named filter can fail it.
FILTERS = """Title: Filter cases

INT. HARBOUR OFFICE - NIGHT

Mara sets a lantern on the desk and waits for the harbour master to look up from his ledger. Rain runs off her coat
onto his papers. He does not look up.

MARA
You know why I'm here.

BRENNAN
The boat. Always the boat.

.MONTAGE - MARA'S LONG WEEK

Mara scrubs the lamp. Mara climbs the stairs. Mara counts the ships that pass the point at dusk.

MARA
Seven. Eight. Nine.

Mara writes the number in the log and closes it with a snap that echoes up the tower.

INT. TOWN HALL - DAY

The whole town crowds in to hear the verdict on the lighthouse.

ANNA
Keep it lit.

BEN
Sell it.

CARL
Burn it.

DORA
Wait for spring.

EMIL
Ask Mara.

FINN
Mara is not here.

GRETA
She never is.

HANS
Then vote.

IDA
Fine. Vote.

INT. LAMP ROOM - NIGHT

Mara had climbed the stairs for the last time that winter, and she remembered every one of them as she went, the worn ones and the cracked ones and the one that always creaked under her weight, the way her father had remembered them before her when the light was his and the town still needed it.

She had known, long before the letter came, that the town would sell the light, and she had said nothing to anyone, not even to the stranger who slept below, because saying it would have made it true, and she had wanted one more winter of nights that were hers alone.

MARA
So that's that.

Mara had turned the lamp down slowly, watching the beam shrink across the water until the harbour was dark and the ships were only sounds, and then she had sat in the dark for a long time, listening to the sea below, thinking of nothing at all.
"""


class SabotagedTeacher(ScriptedTeacher):
    """The honest scripted teacher, except that it answers ``target`` (a draft schema name) with ``reply``."""

    target: str = ""
    reply: str = ""

    def _answer(self, schema: str, user: str) -> str:
        return self.reply if schema == self.target else super()._answer(schema, user)


def factory(model: ScriptedTeacher) -> Callable[[CallCache], Teacher]:
    variant = f"{model.target}:{model.reply}" if isinstance(model, SabotagedTeacher) else "honest"
    ident = model_identity(model, load_settings().teacher) | {"variant": variant}
    return lambda cache: Teacher(model, ident, cache, concurrency=2, seed=0, max_repairs=0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The filter cases; the first scene is the one good scene, which the teacher works on (limit 1)."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "a_filters.fountain").write_text(FILTERS, encoding="utf-8")
    return root


def rejections(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "rejections.jsonl").read_text(encoding="utf-8").splitlines()]


def test_corpus_filters_reject_each_bad_scene_for_its_reason(corpus, tmp_path):
    sheet = synthesize(corpus, tmp_path / "out", factory(ScriptedTeacher()), limit=1)
    by_item = {r["item"]: (r["step"], r["reason"]) for r in rejections(tmp_path / "out")}
    assert "a_filters.fountain-001" not in by_item  # the control scene passes every filter
    assert by_item["a_filters.fountain-002"] == ("filter", "non-story-scene")
    assert by_item["a_filters.fountain-003"] == ("filter", "too-many-speakers")
    assert by_item["a_filters.fountain-004"] == ("filter", "broken-format")
    filtered = sheet["rejections"]["filter"]
    assert (
        filtered["non-story-scene"] >= 1
        and filtered["too-many-speakers"] >= 1
        and filtered["broken-format"] >= 1
    )
    # The honest teacher turns the first kept scene (the control) into an example.
    assert sheet["counts"]["after_forward_synthesis"] == 1


UNTRACEABLE = json.dumps(
    {"synopsis": "A dragon burns Lisbon.", "beats": ["Dragons circle the cathedral of Lisbon"]}
)
STRANGERS = json.dumps(
    {
        "characters": [
            {"name": "NOBODY", "scene_goal": "x", "emotion_arc": ["calm"], "key_actions": [], "tells": []}
        ]
    }
)
UNFAITHFUL = json.dumps(
    {"missing_or_changed": ["the ending is changed"], "added": [], "carries_events": False}
)


@pytest.mark.parametrize(
    ("target", "reply", "step", "reason"),
    [
        ("OutlineDraft", UNTRACEABLE, "reverse", "outline-untraceable"),
        ("CharacterPlans", STRANGERS, "directives", "directives-unknown-characters"),
        ("FidelityVerdict", UNFAITHFUL, "forward", "prose-unfaithful"),
    ],
    ids=["outline", "directives", "fidelity"],
)
def test_teacher_answers_that_contradict_the_scene_are_rejected(
    corpus, tmp_path, target, reply, step, reason
):
    sheet = synthesize(
        corpus, tmp_path / "out", factory(SabotagedTeacher(target=target, reply=reply)), limit=1
    )
    teacher_side = [r for r in rejections(tmp_path / "out") if r["step"] != "filter"]
    assert [(r["step"], r["reason"]) for r in teacher_side] == [(step, reason)]
    assert teacher_side[0]["item"] == "a_filters.fountain-001"  # the control scene
    assert sheet["rejections"][step] == {reason: 1}
    assert sheet["counts"]["after_forward_synthesis"] == 0
    if reason == "prose-unfaithful":
        assert "the ending is changed" in teacher_side[0]["detail"]
