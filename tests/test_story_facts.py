"""Typed continuity facts without a model or a store (issue 17): supersession by story position, character
state with provenance, grounding of extracted facts, citing and blaming continuity findings, the memory role,
and the continuity test set's own consistency. Store, CLI and graph runs: tests/test_memory_facts.py."""

from __future__ import annotations

import pytest

from dsr.contract.context import role_changes, roles_for
from dsr.evaluation.continuity_set import load_continuity_set
from dsr.judging.continuity import ContinuityVerdict, cite, labelled
from dsr.memory.records import Fact
from dsr.memory.state import character_states, in_priority, resolve
from dsr.story.extraction import SceneFacts, ground, quoted
from dsr.story.schemas import CharacterProfile, TaskInput, render_x

S = "harbor"


def fact(ep: int, sc: int, text: str, kind: str, subject: str, about: str = "", **kw) -> Fact:
    return Fact(series=S, episode=ep, scene_no=sc, text=text, kind=kind, subject=subject, about=about, **kw)


KEY_TO_MARA = fact(1, 2, "Mara pockets the brass key.", "holder", "the brass key", "MARA")
KEY_TO_TOM = fact(1, 5, "Mara gives Tom the brass key.", "holder", "the brass key", "TOM")
MARA_ASHORE = fact(1, 3, "Mara rows back to the mainland.", "location", "MARA")
FOUND = fact(1, 1, "Mara finds Tom on the rocks.", "event", "MARA")
HISTORY = [KEY_TO_MARA, KEY_TO_TOM, MARA_ASHORE, FOUND]


def before(position: tuple[int, int], facts: list[Fact] = HISTORY) -> list[Fact]:
    limit = position[0] * 10_000 + position[1]
    return [f for f in facts if f.order < limit]


def test_a_later_fact_of_the_same_slot_supersedes_and_the_story_reads_as_it_stood():
    assert KEY_TO_MARA.slot == KEY_TO_TOM.slot == "holder:the brass key"
    assert FOUND.slot is None and MARA_ASHORE.slot == "location:mara"
    current, superseded = resolve(before((2, 1)))
    assert KEY_TO_TOM in current and KEY_TO_MARA not in current and FOUND in current
    assert superseded == {KEY_TO_MARA.id: KEY_TO_TOM.id}
    # A flashback to before scene 5 (or a run resumed there) sees the key still in Mara's pocket.
    then, gone = resolve(before((1, 4)))
    assert KEY_TO_MARA in then and KEY_TO_TOM not in then and gone == {}


def test_a_writer_fact_wins_at_its_position_and_events_stay_true():
    extracted = fact(1, 3, "Mara rows back to the mainland.", "location", "MARA")
    writer = fact(1, 3, "Mara stays on the island.", "location", "mara", source="writer", by="ed")
    later = fact(1, 6, "Mara sails to the mainland at last.", "location", "MARA")
    assert resolve([writer, extracted])[0] == [writer]  # same position: the writer's word, whatever the order
    assert resolve([extracted, writer, later])[0] == [later]  # the story moves on from the correction
    forgotten = fact(1, 4, "Mara is in the lamp room.", "location", "MARA", status="forgotten", by="ed")
    assert resolve([writer, forgotten])[0] == [writer]  # a forgotten fact supersedes nothing
    events = [fact(1, n, f"Event {n}.", "event", "MARA") for n in (1, 2)]
    assert resolve(events)[0] == events
    assert (
        fact(1, 1, "Tom knows.", "knowledge", "TOM", "the key").slot
        != fact(1, 1, "x", "knowledge", "TOM", "the boat").slot
    )
    assert fact(1, 1, "x", "injury", "TOM").slot == "state:tom"  # older kind names map onto the typed kinds


def test_character_state_carries_provenance_and_follows_objects_into_other_hands():
    injured = fact(1, 4, "Tom cuts his palm on the rocks.", "state", "TOM")
    knows = fact(1, 4, "Tom learns Mara hid the logbook.", "knowledge", "TOM", "the logbook")
    cast = {"MARA": {"mara"}, "TOM": {"tom", "thomas"}}
    states = character_states([*HISTORY, injured, knows], cast)
    assert states["MARA"].lines() == ["where: Mara rows back to the mainland. (E1 S3)"]  # the key moved on
    assert states["TOM"].lines() == [
        "condition: Tom cuts his palm on the rocks. (E1 S4)",
        "holds: Mara gives Tom the brass key. (E1 S5)",
        "knows: Tom learns Mara hid the logbook. (E1 S4)",
    ]
    assert [f.kind for f in in_priority([knows, KEY_TO_TOM, MARA_ASHORE, FOUND])] == [
        "location",
        "holder",
        "knowledge",
        "event",
    ]


X = TaskInput.model_validate(
    {
        "outline": {"synopsis": "Mara hides Tom.", "characters": ["MARA", "TOM"]},
        "characters": [{"name": "MARA", "aliases": ["Mara Quill"]}, {"name": "TOM"}],
        "meta": {"series": S, "episode": 2, "scene_no": 3},
    }
)
SCENE = (
    "INT. LAMP ROOM - NIGHT\n\nMara hands Tom the brass key.\n\nMARA\nLock it behind me.\n\n"
    "Tom limps to the window, his palm bleeding.\n"
)


def answer(*facts: dict) -> SceneFacts:
    return SceneFacts.model_validate({"facts": [{"about": "", **f} for f in facts]})


def test_grounding_keeps_facts_the_scene_shows_and_drops_what_it_does_not():
    got, dropped = ground(
        answer(
            {
                "kind": "holder",
                "subject": "the brass key",
                "about": "tom",
                "fact": "Tom has the brass key.",
                "quote": "mara hands Tom the brass key",
            },
            {
                "kind": "state",
                "subject": "Mara Quill",
                "fact": "Mara is unhurt.",
                "quote": "the moon was full",
            },
            {
                "kind": "location",
                "subject": "The lighthouse",
                "fact": "It stands.",
                "quote": "Lock it behind me.",
            },
            {"kind": "location", "subject": "TOM", "fact": "Tom is in the lamp room.", "quote": "LAMP ROOM"},
            {
                "kind": "location",
                "subject": "TOM",
                "fact": "Tom is at the window.",
                "quote": "Tom limps to the window",
            },
            {
                "kind": "relationship",
                "subject": "MARA",
                "about": "Mara",
                "fact": "x",
                "quote": "Lock it behind me.",
            },
        ),
        X,
        SCENE,
    )
    assert [(f.kind, f.subject, f.about, f.text) for f in got] == [
        ("holder", "the brass key", "TOM", "Tom has the brass key."),
        ("location", "TOM", "", "Tom is at the window."),  # the scene's last word on where Tom is
    ]
    key = got[0]
    assert (key.series, key.episode, key.scene_no, key.source, key.quote) == (
        S,
        2,
        3,
        "extracted",
        "mara hands Tom the brass key",
    )
    assert key.characters == ["MARA", "TOM"] and key.id.startswith("harbor:0002:0003:")
    reasons = [d["reason"] for d in dropped]
    assert reasons == [
        "the quote is not in the scene",
        "the subject 'The lighthouse' is not a character",
        "a later fact of the scene says the same slot",
        "the relationship is with 'Mara', not another character",
    ]
    assert quoted("hands  Tom the BRASS key!", SCENE) and not quoted("key", "the keyring")


DRAFT = "INT. LAMP ROOM - NIGHT\n\nMara unlocks the door with the brass key.\n\nMARA\nStill here?\n"
PROSE = 'Mara unlocked the door with the brass key and looked in. "Still here?" she asked.'


def verdict(*items: dict) -> ContinuityVerdict:
    return ContinuityVerdict.model_validate(
        {"contradictions": [{"explanation": "Tom has the key.", **i} for i in items]}
    )


def test_a_contradiction_cites_a_shown_fact_and_a_draft_line_and_blames_the_stage_that_wrote_it():
    labels = dict(labelled([KEY_TO_TOM, MARA_ASHORE]))
    assert list(labels) == ["F1", "F2"]
    found, dropped = cite(
        verdict({"fact": "f1 ", "quote": "Mara unlocks the door with the brass key."}), labels, DRAFT
    )
    (finding,) = found
    assert (
        finding.check == "N5-continuity" and finding.stage == "screenwriter" and finding.severity == "error"
    )
    assert KEY_TO_TOM.id in finding.message and "(E1 S5, holder)" in finding.message
    assert finding.evidence == f"{KEY_TO_TOM.id} line 3: Mara unlocks the door with the brass key."
    assert finding.fix_hint == "Tom has the key." and dropped == []
    # The prose already had it: the novelist introduced it; directives that plan it: the planner.
    assert (
        cite(
            verdict({"fact": "F1", "quote": "Mara unlocks the door with the brass key."}),
            labels,
            DRAFT,
            prose=PROSE,
        )[0][0].stage
        == "novelist"
    )
    plan = '{"characters": [{"name": "MARA", "key_actions": ["unlocks the door with the brass key"]}]}'
    assert (
        cite(
            verdict({"fact": "F1", "quote": "Mara unlocks the door with the brass key."}),
            labels,
            DRAFT,
            prose=PROSE,
            directives=plan,
        )[0][0].stage
        == "planner"
    )
    found, dropped = cite(
        verdict({"fact": "F7", "quote": "Still here?"}, {"fact": "F2", "quote": "Tom sails away."}),
        labels,
        DRAFT,
    )
    assert found == [] and [d["reason"] for d in dropped] == [
        "no such fact was shown",
        "the quote is not in the draft",
    ]


def test_story_state_is_shown_in_the_inputs_but_never_stored_with_the_profile():
    profile = CharacterProfile(
        name="TOM", state="Soaked.", story_state=["holds: Mara gives Tom the brass key. (E1 S5)"]
    )
    x = X.model_copy(update={"characters": [profile]})
    assert "Now: Soaked. Established: holds: Mara gives Tom the brass key. (E1 S5)." in render_x(x)
    assert "story_state" not in profile.stored() and profile.stored()["state"] == "Soaked."
    assert "Established:" not in render_x(X)  # nothing from memory: the same text as before


def test_runs_with_memory_record_the_memory_role_and_older_runs_still_resume():
    assert roles_for("dsr", use_rubric=True) == ["planner", "novelist", "screenwriter", "critic", "memory"]
    assert roles_for("e2e", use_rubric=False, memory=False) == ["screenwriter"]
    stored = {"novelist": {"model": None}}  # a run recorded before the memory role existed
    assert role_changes(stored, {"novelist": {"model": None}, "memory": {"model": None}}) == []
    assert role_changes(stored, {"novelist": {"model": "x"}}) == ["novelist.model: None -> 'x'"]


def test_the_continuity_set_is_well_formed():
    items = load_continuity_set()
    planted = [i for i in items if i.expect]
    assert len(items) >= 12 and len(planted) >= 6 and len(items) - len(planted) >= 6
    assert {i.planted for i in planted} >= {"location", "holder", "knowledge"}
    for item in items:
        shown = {f.id for f in item.in_force()}
        for label in item.expect:
            assert item.lines[label] in item.screenplay, item.id
            assert item.facts[label].id in shown, (
                f"{item.id}: {label} is superseded, the critic never sees it"
            )
        assert item.blame in (None, "novelist", "screenwriter")
        assert item.task_input().meta.episode == 2


@pytest.mark.parametrize("schema", [SceneFacts, ContinuityVerdict])
def test_answers_are_bounded_for_a_grammar(schema):
    from dsr.models import constrained
    from dsr.models.constrained import Grammar

    constrained.check(Grammar.json_schema(schema))  # compiles: every string bounded, the label a pattern
