"""Tests that kill surviving mutants of the critic's checks (story/checks/), found with mutmut.

Each pins behaviour a revising stage depends on: the exact critique line it is told, alias resolution in
the planner's character plans, beat coverage across the plan's entries, and a dead character acting
only in a later action paragraph of the screenplay.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsr.screenplay.model import Action, Character, Dialogue, Scene, SceneHeading, Screenplay
from dsr.story.checks import deterministic_checks
from dsr.story.checks.format import prose_like_paragraph, prose_only_reason
from dsr.story.checks.prose import _inner_state
from dsr.story.findings import Finding
from dsr.story.schemas import CharacterPlan, CreativeDirectives, NarrativePacing, TaskInput

DATA = Path(__file__).parent / "data" / "critic"


@pytest.fixture(scope="module")
def x() -> TaskInput:
    return TaskInput.model_validate(json.loads((DATA / "scene.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def prose() -> str:
    return (DATA / "good_prose.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def scene() -> str:
    return (DATA / "good_scene.fountain").read_text(encoding="utf-8")


def plan(labels: list[str], names: list[str]) -> CreativeDirectives:
    pacing = NarrativePacing.model_validate(
        {"beats": [{"label": label} for label in labels], "ending": "button"}
    )
    return CreativeDirectives(pacing=pacing, characters=[CharacterPlan(name=n) for n in names])


def planner_findings(x: TaskInput, prose: str, scene: str, directives: CreativeDirectives) -> list[Finding]:
    return [f for f in deterministic_checks(x, prose, scene, directives=directives) if f.stage == "planner"]


def test_planner_critique_lines_are_exact(x, prose, scene):
    """What a rerun planner reads: check, message, evidence and fix, word for word."""
    empty = CreativeDirectives.model_construct(
        exposition=plan(["x"], []).exposition,
        pacing=NarrativePacing.model_construct(beats=[], climax_beat=None, ending="button"),
        characters=[CharacterPlan(name="MARA"), CharacterPlan(name="JONAH")],
    )
    lines = {f.check: f.as_critique() for f in planner_findings(x, prose, scene, empty)}
    assert (
        lines["P1-no-beats"]
        == "- [P1-no-beats] the directives plan no beats. Fix: plan the scene's beats in order"
    )
    assert lines["P1-missing-character"] == (
        '- [P1-missing-character] TOM is in the outline but has no character plan (e.g. "TOM"). '
        "Fix: add a plan (goal, emotion arc, key actions, tells) for TOM"
    )
    assert lines["P1-unknown-character"] == (
        '- [P1-unknown-character] the plan names JONAH, who is not in the inputs (e.g. "JONAH"). '
        "Fix: plan only the characters given"
    )


def test_a_character_planned_under_an_alias_counts_as_planned(x, prose, scene):
    """BRENNAN is the harbour master's alias: a plan under either name covers him."""
    outline = x.outline.model_copy(update={"characters": ["MARA", "HARBOUR MASTER"]})
    with_alias = x.model_copy(update={"outline": outline})
    found = planner_findings(with_alias, prose, scene, plan(["Mara spots a shape"], ["Mara", "Brennan"]))
    assert not [f for f in found if f.check == "P1-missing-character"]
    found = planner_findings(with_alias, prose, scene, plan(["Mara spots a shape"], ["MARA"]))
    assert [f.evidence for f in found if f.check == "P1-missing-character"] == ["HARBOUR MASTER"]


def test_beat_coverage_reads_every_plan_entry_whole(x, prose, scene):
    """Each outline beat is covered by its own label, at the coverage threshold: two of the four content
    words of a beat, so losing a label's first word to its neighbour loses the beat."""
    labels = ["shape rocks lantern", "alive begs", "hauls steps"]
    found = planner_findings(x, prose, scene, plan(labels, ["MARA", "TOM"]))
    assert [f for f in found if f.check == "P1-coverage"] == []
    found = planner_findings(x, prose, scene, plan(labels[:2], ["MARA", "TOM"]))
    assert [f.evidence for f in found if f.check == "P1-coverage"] == [x.outline.beats[2]]


def test_character_names_do_not_count_towards_beat_coverage(x, prose, scene):
    """'Tom sleeps soundly' asks for two words, not three: the name is not an event the plan must repeat,
    so one of the two (half, over the 0.34 threshold) covers it, where one of three would not."""
    outline = x.outline.model_copy(update={"beats": ["Tom sleeps soundly."]})
    quiet = x.model_copy(update={"outline": outline})
    found = planner_findings(quiet, prose, scene, plan(["sleeps"], ["MARA", "TOM"]))
    assert [f for f in found if f.check == "P1-coverage"] == []
    found = planner_findings(quiet, prose, scene, plan(["Tom"], ["MARA", "TOM"]))
    assert [f.evidence for f in found if f.check == "P1-coverage"] == ["Tom sleeps soundly."]


def test_dead_character_acting_in_a_later_action_line_blames_the_screenwriter(x, prose, scene):
    facts = ["Brennan drowned when his boat went down off the point."]
    lines = scene.splitlines()
    first_action = next(i for i, line in enumerate(lines) if line.strip() and i > 0 and not line.isupper())
    draft = "\n".join(
        [*lines[: first_action + 1], "", "Brennan walks in from the rain.", *lines[first_action + 1 :]]
    )
    found = [
        f for f in deterministic_checks(x, prose, draft, known_facts=facts) if f.check == "N5-dead-character"
    ]
    assert [(f.stage, f.evidence) for f in found] == [("screenwriter", facts[0])]


def test_quoted_speech_between_a_name_and_its_verb_is_still_acting(x, prose, scene):
    facts = ["Brennan drowned when his boat went down off the point."]
    walking = prose + '\n\nBrennan "Evening, Mara" turned from the window.\n'
    found = [
        f
        for f in deterministic_checks(x, walking, scene, known_facts=facts)
        if f.check == "N5-dead-character"
    ]
    assert [(f.stage, f.evidence) for f in found] == [("novelist", facts[0])]


def test_prose_only_evidence_quotes_the_first_action_line(x):
    block = " ".join(["Mara walked slowly along the wet rocks and remembered the long winters."] * 6)
    found = [
        f
        for f in deterministic_checks(x, None, f"EXT. ROCKS - NIGHT\n\n{block}\n")
        if f.check == "F1-prose-only"
    ]
    assert len(found) == 1 and found[0].evidence == block[:160]
    assert (
        found[0].fix_hint
        == "short present-tense action lines; every spoken line under an ALL-CAPS character cue"
    )


def test_han_text_is_read_as_overlapping_character_bigrams():
    """Chinese has no spaces: coverage compares every pair of neighbouring Han characters, and a run of
    one character is kept whole (a single-character name or object)."""
    from dsr.story.checks import content_words

    assert content_words("灯塔亮了", "zh") == {"灯塔", "塔亮", "亮了"}
    assert content_words("灯塔", "zh") == {"灯塔"}
    assert content_words("船", "zh") == {"船"}
    assert content_words("玛拉点灯", "zh", exclude=["玛拉"]) == {"拉点", "点灯"}


def test_coverage_and_heading_critique_lines_are_exact(x, prose, scene):
    found = planner_findings(x, prose, scene, plan(["shape rocks lantern", "alive begs"], ["MARA", "TOM"]))
    assert [f.as_critique() for f in found if f.check == "P1-coverage"] == [
        f'- [P1-coverage] an outline beat is not reflected in the plan (e.g. "{x.outline.beats[2]}"). '
        "Fix: plan a beat for every outline event"
    ]
    two = scene + "\nINT. LAMP ROOM - NIGHT\n\nMara lights the lamp.\n"
    heading = [f for f in deterministic_checks(x, prose, two) if f.check == "F1-heading"]
    assert [f.as_critique() for f in heading] == [
        "- [F1-heading] the screenplay has 2 scene headings; one scene is expected "
        '(e.g. "EXT. LIGHTHOUSE BASE - NIGHT | INT. LAMP ROOM - NIGHT"). '
        "Fix: start with one heading such as 'INT. LIGHTHOUSE - NIGHT' and write only this scene"
    ]


def test_inner_state_evidence_quotes_the_words_around_the_first_hit(x, scene):
    opening = "Mara felt afraid of the dark water below the rocks"
    text = opening + ", and she thought about the storm. " + " ".join(["She climbs the wet steps."] * 30)
    found = [f for f in deterministic_checks(x, text, scene) if f.check == "N4-inner-state"]
    assert len(found) == 1
    evidence = found[0].evidence
    # From the start of the text (the hit, 'felt' at 5-9, is within 60 characters of it) to 60 past the hit.
    assert evidence == (opening + ", and she thought about")[:69]


def test_lint_errors_are_one_line_per_rule_with_count_and_line(x, prose, scene):
    """The screenwriter is told each linter rule once: how often it fired and where it fired first."""
    once = scene + "\nJONAH\nWho goes there?\n"
    twice = once + "\nJONAH\nAnswer me.\n"
    line = len(scene.splitlines()) + 2  # the first JONAH cue
    for draft, count in ((once, ""), (twice, " [2x]")):
        found = [f for f in deterministic_checks(x, prose, draft) if f.check == "F1-cast"]
        assert [(f.severity, f.message, f.evidence) for f in found] == [
            (
                "error",
                f"SP030 unknown-character{count}: JONAH is not among the episode's characters (line {line})",
                "JONAH",
            )
        ]


# --- prose-only screenplays at the thresholds (story/checks/format.py) -------------------------------------


def words(n: int) -> str:
    """``n`` words of present-tense, quote-free action (never prose-like by tense or speech)."""
    return " ".join(["waves"] * n)


def doc_of(*elements: Action | Dialogue | Character) -> Screenplay:
    return Screenplay(
        scenes=[Scene(heading=SceneHeading(text="EXT. ROCKS - NIGHT"), elements=list(elements))]
    )


def test_a_paragraph_reads_like_prose_from_exactly_each_threshold():
    assert prose_like_paragraph(words(45)) and not prose_like_paragraph(words(44))
    assert prose_like_paragraph('Waves. "Get inside now."') and not prose_like_paragraph(
        'Waves. "Inside now."'
    )
    assert prose_like_paragraph("She walked. He waited.") and not prose_like_paragraph("She walked. Waves.")
    assert not prose_like_paragraph("She walked. Waves.", "zh")  # Chinese marks no tense


def test_a_silent_scene_is_prose_with_fewer_than_three_paragraphs_one_of_them_long():
    assert prose_only_reason(doc_of()) == ""
    assert prose_only_reason(doc_of(Action(text=words(45)), Action(text="Waves."))) == (
        "no dialogue, only 2 action paragraph(s) of up to 45 words"
    )
    assert prose_only_reason(doc_of(Action(text=words(44)), Action(text="Waves."))) == ""
    three = [Action(text=words(45)), Action(text="Waves."), Action(text="Gulls.")]
    assert prose_only_reason(doc_of(*three)) == ""
    speech = [Character(name="MARA"), Dialogue(text="Inside.")]
    assert prose_only_reason(doc_of(Action(text=words(45)), *speech)) == ""
    # An empty speech is no dialogue.
    assert prose_only_reason(doc_of(Action(text=words(45)), Character(name="MARA"), Dialogue(text=" "))) != ""


def test_a_scene_with_dialogue_is_prose_when_two_prose_paragraphs_hold_half_its_action():
    speech = [Character(name="MARA"), Dialogue(text="Inside.")]
    past = "She walked. He waited."  # 4 words, prose-like by tense
    half = [Action(text=past), Action(text=past), Action(text=words(8))]  # 8 of 16 action words
    assert (
        prose_only_reason(doc_of(*half, *speech))
        == "2 of 3 action paragraphs read like prose (50% of action words)"
    )
    under = [Action(text=past), Action(text=past), Action(text=words(9))]
    assert prose_only_reason(doc_of(*under, *speech)) == ""
    one = [
        Action(text=past + " " + words(20)),
        Action(text="Waves."),
    ]  # one prose paragraph, most of the words
    assert prose_only_reason(doc_of(*one, *speech)) == ""
    three = [Action(text=past)] * 3 + [Action(text=words(12))]  # 3 prose paragraphs, exactly half
    assert prose_only_reason(doc_of(*three, *speech)).startswith("3 of 4 action paragraphs")


def test_inner_state_is_an_error_from_two_hits_at_three_quarters_per_hundred_words():
    one, two = "She thought about it.", "She thought about it. She was angry."
    assert [f.severity for f in _inner_state(one, 4, "en")] == ["warning"]
    assert [f.severity for f in _inner_state(two, 8, "en")] == ["error"]
    three = "She thought about it. She was angry. He thought again."  # 3 hits: 0.75 per 100 words at 400
    assert [f.severity for f in _inner_state(three, 400, "en")] == ["error"]
    assert [f.severity for f in _inner_state(three, 401, "en")] == ["warning"]
    five = "Waves. She thought. He thought. She was angry. He was angry. They thought."
    (finding,) = _inner_state(five, 100, "en")
    assert finding.message == (
        "5 inner-state or stated-emotion phrases (5.0 per 100 words): 'thought', 'thought', 'thought', 'was angry'"
    )
    assert finding.evidence == five  # the first hit with 60 characters either side covers it all
