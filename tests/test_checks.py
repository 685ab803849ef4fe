"""The critic's deterministic checks on realistic drafts: which check fires, and which stage it blames."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dsr.screenplay.fountain_reader import parse_fountain
from dsr.story.checks import (
    beat_coverage,
    content_words,
    deterministic_checks,
    person_like_names,
    prose_only_reason,
    stem,
)
from dsr.story.findings import Finding
from dsr.story.schemas import CharacterPlan, CreativeDirectives, NarrativePacing, TaskInput

DATA = Path(__file__).parent / "data" / "critic"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def x() -> TaskInput:
    return TaskInput.model_validate(json.loads(read("scene.json")))


@pytest.fixture(scope="module")
def prose() -> str:
    return read("good_prose.md")


@pytest.fixture(scope="module")
def scene() -> str:
    return read("good_scene.fountain")


def by_check(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for finding in findings:
        out.setdefault(finding.check, []).append(finding)
    return out


def errors(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.check, f.stage) for f in findings if f.severity == "error"}


def test_good_prose_and_scene_pass_every_check(x, prose, scene):
    assert deterministic_checks(x, prose, scene) == []


def test_good_scene_passes_without_prose_as_in_e2e_mode(x, scene):
    assert deterministic_checks(x, None, scene) == []


def test_checks_are_fast(x, prose, scene):
    deterministic_checks(x, prose, scene)  # compile patterns, warm caches
    runs = 20
    started = time.perf_counter()
    for _ in range(runs):
        deterministic_checks(x, prose, scene)
    per_scene = (time.perf_counter() - started) / runs
    assert per_scene < 0.05, f"{per_scene * 1000:.1f} ms per scene"


# --- F: the screenplay --------------------------------------------------------------------------------


def test_prose_only_screenplay_from_a_small_model_is_blamed_on_the_screenwriter(x, prose):
    draft = read("prose_only.fountain")
    found = deterministic_checks(x, prose, draft)
    assert ("F1-prose-only", "screenwriter") in errors(found)
    assert all(f.stage == "screenwriter" for f in found)
    assert "prose" in by_check(found)["F1-prose-only"][0].message


def test_unknown_and_unfaithful_speakers(x, prose):
    found = by_check(deterministic_checks(x, prose, read("unknown_speaker.fountain")))
    cast = found["F1-cast"]
    assert [f.stage for f in cast] == ["screenwriter"] and "JONAH" in cast[0].message
    # The harbour master is in C (alias BRENNAN) but never appears in N: the screenwriter added him.
    speakers = found["F3-unknown-speaker"]
    assert [f.evidence for f in speakers] == ["HARBOUR MASTER"]
    assert "F1-prose-only" not in found


def test_alias_cue_is_a_known_character(x, prose, scene):
    draft = scene.replace("MARA\nThere's nobody", "BRENNAN\nThere's nobody")
    found = by_check(deterministic_checks(x, prose, draft))
    assert "F1-cast" not in found
    assert [f.evidence for f in found["F3-unknown-speaker"]] == ["BRENNAN"]


def test_group_cue_is_not_an_unknown_speaker(x, prose, scene):
    draft = scene.replace("MARA\nCan you stand?", "MARA AND TOM\nCan you stand?")
    assert deterministic_checks(x, prose, draft) == []


def test_missing_and_extra_headings(x, prose, scene):
    headless = scene.split("\n", 2)[2]
    found = by_check(deterministic_checks(x, prose, headless))
    assert found["F1-heading"][0].message == "the screenplay has no scene heading"
    doubled = scene + "\nINT. LIGHTHOUSE KITCHEN - NIGHT\n\nMara drops Tom into a chair.\n"
    found = by_check(deterministic_checks(x, prose, doubled))
    assert "2 scene headings" in found["F1-heading"][0].message


def test_empty_dialogue_and_lint_errors_map_to_screenwriter(x, prose, scene):
    draft = scene.replace("MARA\nCan you stand?", "MARA\n  \n\nMARA\n\nCan you stand?")
    found = deterministic_checks(x, prose, draft)
    checks = by_check(found)
    assert "F1-format" in checks and all(f.stage == "screenwriter" for f in checks["F1-format"])
    assert any("SP021" in f.message for f in checks["F1-format"])  # a cue followed by a blank line


def test_missing_or_blank_screenplay(x, prose):
    for draft in (None, "", "   \n"):
        assert errors(deterministic_checks(x, prose, draft)) == {("F1-empty", "screenwriter")}


def test_inner_state_in_action_lines(x, prose, scene):
    draft = scene.replace(
        "Mara looks at the sky, then at him.",
        "Mara looks at the sky and realizes she has no choice. She is afraid.",
    )
    found = by_check(deterministic_checks(x, prose, draft))
    inner = found["F2-inner-state"]
    assert {f.stage for f in inner} == {"screenwriter"} and {f.severity for f in inner} == {"error"}
    assert {f.message.split()[0] for f in inner} == {"SP042", "SP043"}


def test_screenplay_that_drops_most_of_the_prose(x, prose):
    draft = (
        "EXT. LIGHTHOUSE BASE - NIGHT\n\nMara's lantern finds Tom on the rocks.\n\nTOM\nDon't call anyone.\n"
    )
    found = by_check(deterministic_checks(x, prose, draft))
    assert found["F3-too-short"][0].stage == "screenwriter"
    # Beat 3 is in the prose but not in this screenplay: the conversion lost it.
    assert [f.evidence for f in found["F3-coverage"]] == [x.outline.beats[2]]


def test_new_named_character_in_action_is_a_warning(x, prose, scene):
    draft = scene.replace("Tom tries.", "Old Jonah watches from the path. Jonah nodded once. Tom tries.")
    found = by_check(deterministic_checks(x, prose, draft))
    assert [(f.evidence, f.severity, f.stage) for f in found["F3-new-name"]] == [
        ("Jonah", "warning", "screenwriter")
    ]


# --- N: the prose -------------------------------------------------------------------------------------


def test_inner_monologue_in_prose_is_blamed_on_the_novelist(x, scene):
    found = by_check(deterministic_checks(x, read("inner_monologue_prose.md"), scene))
    inner = found["N4-inner-state"][0]
    assert (inner.stage, inner.severity) == ("novelist", "error")
    assert inner.message.startswith("11 inner-state or stated-emotion phrases")
    assert "'thought', 'felt', 'Deep down', 'knew'" in inner.message
    assert "F2-inner-state" not in found  # the screenplay itself is clean


def test_quoted_speech_is_not_inner_monologue(x, scene, prose):
    spoken = prose.replace(
        '"Can you stand?"', '"I know what you are. I realized it on the rocks. Can you stand?"'
    )
    assert "N4-inner-state" not in by_check(deterministic_checks(x, spoken, scene))


def test_missing_beats_in_prose(x, scene):
    found = deterministic_checks(x, read("missing_beats_prose.md"), scene)
    coverage = by_check(found)["N1-coverage"]
    assert [f.evidence for f in coverage] == x.outline.beats[1:]
    assert {f.stage for f in coverage} == {"novelist"}
    # The screenwriter is not blamed for beats the prose never had.
    assert "F3-coverage" not in by_check(found)


def test_screenplay_formatting_in_prose(x, scene):
    found = by_check(deterministic_checks(x, read("screenplay_prose.md"), scene))
    leak = found["N4-format-leak"][0]
    assert (leak.stage, leak.severity) == ("novelist", "error")
    assert "slugline" in leak.message and "cue" in leak.message and "transition" in leak.message
    assert leak.evidence == "EXT. LIGHTHOUSE BASE - NIGHT"


def test_prose_from_the_embedded_model_is_sent_back_to_the_novelist(x, scene):
    """What the embedded 135M model really wrote as Stage 1 for this outline: a chat answer, no beats."""
    found = deterministic_checks(x, read("smollm2_prose.md"), scene)
    checks = by_check(found)
    assert len(checks["N1-coverage"]) >= 2
    assert "chat answer" in checks["N4-not-third-person"][0].message
    assert checks["N4-inner-state"][0].severity == "warning"  # 3 hits in 421 words: under the rate
    # Paired with a faithful scene of the outline, the scene's speakers are (rightly) not in this prose.
    assert errors(found) == {
        ("N1-coverage", "novelist"),
        ("N4-not-third-person", "novelist"),
        ("F3-unknown-speaker", "screenwriter"),
    }


def test_first_person_dialogue_is_not_chatter(x, scene, prose):
    assert "N4-not-third-person" not in by_check(deterministic_checks(x, prose, scene))


@pytest.mark.parametrize(
    ("draft", "target", "expected"),
    [
        ("", None, "the prose is empty"),
        ("Mara finds Tom on the rocks and hauls him inside as the rain starts.", None, "under the 60-word"),
        (None, 300, "over 4x the target"),
    ],
    ids=["empty", "too-short", "too-long"],
)
def test_prose_length_bounds(x, scene, prose, draft, target, expected):
    task = x.model_copy(update={"meta": x.meta.model_copy(update={"target_len_chars": target})})
    found = by_check(deterministic_checks(task, prose if draft is None else draft, scene))
    assert expected in found["N3-length"][0].message and found["N3-length"][0].stage == "novelist"


def test_invented_names_in_prose_are_warnings(x, scene, prose):
    extra = prose + '\n\nFar up the path, Jonah lowered his binoculars. "Found one," said Elsie.\n'
    found = by_check(deterministic_checks(x, extra, scene))
    assert sorted((f.evidence, f.severity) for f in found["N4-unknown-name"]) == [
        ("Elsie", "warning"),
        ("Jonah", "warning"),
    ]


# --- P1 and N5 ----------------------------------------------------------------------------------------


def test_directives_without_beats_or_a_character_plan(x, prose, scene):
    plan = CreativeDirectives(characters=[CharacterPlan(name="Mara", scene_goal="save the stranger")])
    found = by_check(deterministic_checks(x, prose, scene, directives=plan))
    assert found["P1-no-beats"][0].stage == "planner"
    assert [f.evidence for f in found["P1-missing-character"]] == ["TOM"]
    assert "P1-coverage" not in found  # nothing to compare without beats


def test_directives_for_an_outsider_and_unplanned_beats(x, prose, scene):
    plan = CreativeDirectives.model_validate(
        {
            "pacing": {"beats": [{"label": "Mara spots a shape on the rocks", "purpose": "discovery"}]},
            "characters": [{"name": "MARA"}, {"name": "TOM"}, {"name": "Jonah"}],
        }
    )
    found = by_check(deterministic_checks(x, prose, scene, directives=plan))
    assert [(f.evidence, f.severity) for f in found["P1-unknown-character"]] == [("Jonah", "warning")]
    assert [f.evidence for f in found["P1-coverage"]] == x.outline.beats[1:]
    assert errors(deterministic_checks(x, prose, scene, directives=plan)) == set()


def short_label(beat: str, limit: int = 40) -> str:
    """The longest run of leading words of ``beat`` that fits a pacing label."""
    words, label = beat.rstrip(".").split(), ""
    for word in words:
        if len(f"{label} {word}".strip()) > limit:
            break
        label = f"{label} {word}".strip()
    return label


def test_complete_directives_pass(x, prose, scene):
    plan = CreativeDirectives(
        pacing=NarrativePacing.model_validate(
            # Beat labels are short (at most 40 characters): the first words of each outline beat.
            {
                "beats": [{"label": short_label(b)} for b in x.outline.beats],
                "climax_beat": 1,
                "ending": "button",
            }
        ),
        characters=[CharacterPlan(name="MARA"), CharacterPlan(name="TOM")],
    )
    assert deterministic_checks(x, prose, scene, directives=plan) == []


def test_dead_character_acting_contradicts_memory(x, prose, scene):
    facts = ["Brennan drowned when his boat went down off the point.", "Mara hides her failing eyesight."]
    walking = prose.replace("At the top she", "Brennan stood at the top of the steps. She")
    found = by_check(deterministic_checks(x, walking, scene, known_facts=facts))
    dead = found["N5-dead-character"][0]
    assert (dead.stage, dead.evidence) == ("novelist", facts[0])
    # Mentioning him is fine; only acting or speaking contradicts the fact.
    mention = prose + "\n\nOn the shelf stood a photograph of Brennan.\n"
    assert "N5-dead-character" not in by_check(deterministic_checks(x, mention, scene, known_facts=facts))


def test_dead_character_speaking_only_in_the_screenplay_blames_the_screenwriter(x, prose, scene):
    facts = ["Years ago the harbour master Brennan was killed in a storm."]
    draft = scene.replace("MARA\nCan you stand?", "BRENNAN\nCan you stand?")
    found = by_check(deterministic_checks(x, prose, draft, known_facts=facts))
    assert found["N5-dead-character"][0].stage == "screenwriter"


# --- the helpers the evaluation metrics reuse ---------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "stemmed"),
    [
        (["hauls", "hauled", "hauling", "haul"], "haul"),
        (["begs", "begged", "begging"], "beg"),
        (["steps", "step"], "step"),
        (["starts", "started", "starting"], "start"),
    ],
)
def test_stem_groups_inflections(words, stemmed):
    assert {stem(w) for w in words} == {stemmed}


def test_coverage_threshold_accepts_paraphrase_and_rejects_unrelated_text():
    beat = "She hauls him up the steps as the rain starts."
    paraphrase = "Rain began to fall. She dragged him up the stone steps to the door."
    unrelated = "The kettle boiled. She poured tea and wrote in the logbook."
    [good], [bad] = beat_coverage([beat], paraphrase), beat_coverage([beat], unrelated)
    assert good.covered and good.overlap >= 0.5
    assert not bad.covered and bad.overlap == 0.0 and "haul" in bad.missing


def test_character_names_do_not_count_as_coverage():
    [cov] = beat_coverage(
        ["Tom begs Mara not to call anyone."], "Tom and Mara sat in silence.", names=["TOM", "MARA"]
    )
    assert not cov.covered


def test_chinese_beats_use_character_bigrams():
    assert "灯塔" in content_words("玛拉在灯塔下发现了汤姆", "zh")
    [cov] = beat_coverage(
        ["玛拉在礁石上发现一个人影"], "夜里，玛拉提着灯走下台阶，在礁石上发现一个人影。", "zh"
    )
    assert cov.covered


def test_person_like_names_skip_common_capitalised_words():
    text = 'Suddenly the door opened. Then Jonah walked in. "Hi," said Elsie. Mr Pike waits. The Lighthouse was dark.'
    assert person_like_names(text, "en") == {"Jonah", "Elsie", "Pike", "Lighthouse"}
    assert person_like_names("玛拉走了进来。", "zh") == set()


def test_prose_only_reason_on_a_real_scene_is_empty(scene):
    assert prose_only_reason(parse_fountain(scene)) == ""
