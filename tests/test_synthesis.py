"""Synthesis without a model: cleaning, splitting, filters, validation, cache, splits, review, datasheet.

The pipeline-level tests use the scripted teacher (tests/test_synthesis_scripted.py) in process, so
every step and output runs for real in well under a second.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter

import pytest

from dsr.models.settings import load_settings
from dsr.screenplay.io import read_document
from dsr.story.schemas import CharacterProfile
from dsr.synthesis.assemble import assign_splits, split_groups
from dsr.synthesis.cache import CachedCall, CallCache, call_key
from dsr.synthesis.corpus import load_corpus, scene_problem, scene_text, series_and_episode
from dsr.synthesis.dedupe import near_duplicates
from dsr.synthesis.drafts import OutlineDraft
from dsr.synthesis.licences import read_licences
from dsr.synthesis.pipeline import rebuild, synthesize
from dsr.synthesis.review import ReviewDecision, record
from dsr.synthesis.teacher import Teacher, TeacherError, coerce, model_identity
from dsr.synthesis.validate import Invalid, copied_dialogue, dialogue_lines, match_profiles, traceable_beats
from tests.test_synthesis_scripted import ScriptedTeacher


def scripted_factory(max_repairs: int = 1, concurrency: int = 4):
    model = ScriptedTeacher()
    ident = model_identity(model, load_settings().teacher)
    return lambda cache: Teacher(
        model, ident, cache, concurrency=concurrency, seed=0, max_repairs=max_repairs
    )


@pytest.fixture
def scripted_run(synthesis_data):
    """The session's synthesis run (tests/conftest.py); tests copy it before changing anything."""
    return synthesis_data


# --- cleaning and splitting on real corpus files ---------------------------------------------------------


def test_corpus_split_and_filter_reasons(corpus_dir):
    corpus = load_corpus(corpus_dir)
    reasons = {(r.item, r.reason) for r in corpus.rejections}
    assert ("nrb__nemesis.fountain", "no-scenes") in reasons  # stage play without sluglines
    assert ("earthbound19__ASCENT_TO_GURU_PEAK.fountain-002", "too-short") in reasons
    assert ("nrb__complete_and_utter_nonsense.fountain-001", "dialogue-only") in reasons
    # the FDX and Fountain twins of one script: only the first copy survives the near-duplicate filter
    dupes = {r.item for r in corpus.rejections if r.reason == "near-duplicate"}
    assert "screenplay-tools__TestFDX-FD.fountain-001" in dupes
    assert not any(r.item in {"LICENSES.md", "MANIFEST.md"} for r in corpus.rejections)
    kept = {s.id: s for s in corpus.scenes}
    assert "screenplay-tools__TestFDX-FD.fdx-001" in kept
    guru = kept["earthbound19__ASCENT_TO_GURU_PEAK.fountain-006"]
    assert guru.speakers == ["YORBLEF", "GURU"] and guru.series == "ascent_to_guru_peak"
    assert guru.previous_text and "EXT. MOUNT GURU" in guru.previous_text  # preceding scenes travel with it
    assert guru.licence.startswith("CC BY 4.0")
    bob = kept["earthbound19__Cyber_Bob_ep00001.fountain-001"]
    assert (bob.series, bob.episode) == ("cyber_bob", 1) and bob.previous_text == ""
    rift = kept["earthbound19__Cyber_Bob_epLocalTransDimensionalRift.fountain-001"]
    assert rift.series == "cyber_bob"  # a named episode of the same show
    assert kept["barrier15__episode_01_the_phoenix_child.fountain-002"].series == "barrier15"
    # 169 headings in the 15 scripts with scenes; 88 scenes pass the filters (65 of them Barrier_15's)
    assert corpus.scenes_split == 169 and len(corpus.scenes) == 88
    per_script = Counter(s.script for s in corpus.scenes)
    assert per_script["barrier15__episode_01_the_phoenix_child.fountain"] == 65
    assert per_script["rubenxyz__retired_assassin.fountain"] == 8


def test_scene_filters_on_real_scenes(corpus_dir):
    doc = read_document(corpus_dir / "earthbound19__ASCENT_TO_GURU_PEAK.fountain")
    assert scene_problem(doc.scenes[5], scene_text(doc.scenes[5])) is None
    assert scene_problem(doc.scenes[1], scene_text(doc.scenes[1]))[0] == "too-short"
    test_page = read_document(corpus_dir / "afterwriting__test.fountain")
    assert scene_problem(test_page.scenes[1], scene_text(test_page.scenes[1]))[0] == "no-speakers"


def test_series_key_groups_episodes():
    assert series_and_episode("earthbound19__Cyber_Bob_ep00003") == ("cyber_bob", 3)
    assert series_and_episode("earthbound19__Cyber_Bob_epLocalTransDimensionalRift") == ("cyber_bob", 1)
    assert series_and_episode("earthbound19__Cyber_Bob_epSithSuperInformalLanguage") == ("cyber_bob", 1)
    # named only by its episode: the source's series, not the episode's title
    assert series_and_episode("barrier15__episode_01_the_phoenix_child") == ("barrier15", 1)
    assert series_and_episode("x__Show_S01E03_Pilot") == ("show_s01", 3)
    assert series_and_episode("nrb__nemesis") == ("nemesis", 1)
    assert series_and_episode("nrb__epic_tale") == ("epic_tale", 1)  # 'ep' starting a word is no episode
    assert series_and_episode("nrb__the_12_rooms") == ("the_12_rooms", 1)


def test_split_groups_join_sources_and_series():
    groups = split_groups(
        [
            ("earthbound19__Cyber_Bob_ep00001.fountain", "cyber_bob"),
            ("earthbound19__ASCENT_TO_GURU_PEAK.fountain", "ascent_to_guru_peak"),
            ("fan__Cyber_Bob_ep00009.fountain", "cyber_bob"),  # another source, same show
            ("nrb__nemesis.fountain", "nemesis"),
            ("show_ep1.fountain", "show"),  # no source prefix: its series alone
            ("show_ep2.fdx", "show"),
            ("other.fountain", "other"),
        ]
    )
    one = groups[("earthbound19__Cyber_Bob_ep00001.fountain", "cyber_bob")]
    assert one == "series:ascent_to_guru_peak + series:cyber_bob + source:earthbound19 + source:fan"
    assert groups[("fan__Cyber_Bob_ep00009.fountain", "cyber_bob")] == one
    assert groups[("earthbound19__ASCENT_TO_GURU_PEAK.fountain", "ascent_to_guru_peak")] == one
    assert groups[("nrb__nemesis.fountain", "nemesis")] == "series:nemesis + source:nrb"
    assert groups[("show_ep1.fountain", "show")] == groups[("show_ep2.fdx", "show")] == "series:show"
    assert groups[("other.fountain", "other")] == "series:other"
    # largest group first: a dominant series lands in train, the rest balance validation and test
    assert assign_splits({"big": 58, "a": 8, "b": 6, "c": 2}, seed=0) == {
        "big": "train",
        "a": "validation",
        "b": "test",
        "c": "test",
    }


def test_licences_from_manifest_and_licenses(corpus_dir):
    licences = read_licences(corpus_dir)
    assert licences["nrb__nemesis.fountain"] == "CC BY-SA 3.0 Unported"
    assert licences["screenplain__notes.fountain"] == "MIT"


def test_near_duplicates_keep_first():
    a = "Mara climbs the lighthouse stairs and lights the lamp while the storm breaks over the harbour " * 3
    assert near_duplicates([("a", a), ("b", a + " again"), ("c", "something else entirely here")]) == {
        "b": "a"
    }


# --- validation of teacher output ------------------------------------------------------------------------


def test_validation_against_the_scene(corpus_dir):
    doc = read_document(corpus_dir / "earthbound19__ASCENT_TO_GURU_PEAK.fountain")
    scene = doc.scenes[5]
    text = scene_text(scene)
    lines = dialogue_lines(scene)
    assert copied_dialogue(f"He says {lines[0]}", lines)
    assert copied_dialogue("Yorblef reaches the summit and meets the guru.", lines) is None
    kept, dropped = traceable_beats(["A dragon burns the village of Lisbon"], text, ["YORBLEF", "GURU"])
    assert dropped and not kept
    profiles, notes = match_profiles(
        [CharacterProfile(name="Yorblef"), CharacterProfile(name="GURU"), CharacterProfile(name="Narrator")],
        ["YORBLEF", "GURU"],
    )
    assert [p.name for p in profiles] == ["YORBLEF", "GURU"] and len(notes) == 2
    with pytest.raises(Invalid, match="GURU"):
        match_profiles([CharacterProfile(name="YORBLEF")], ["YORBLEF", "GURU"])


def test_lenient_coercions_are_recorded():
    data, notes = coerce({"outline": {"Synopsis": "x", "beats": "one beat"}}, OutlineDraft)
    assert data == {"synopsis": "x", "beats": ["one beat"]} and len(notes) == 3


def test_invalid_json_is_a_reason_not_a_crash(tmp_path):
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    model = GenericFakeChatModel(
        messages=iter([AIMessage(content="Sure! Here is the outline"), AIMessage(content="{")])
    )
    teacher = Teacher(
        model, {"m": "fake"}, CallCache(tmp_path / "c.sqlite"), concurrency=1, seed=0, max_repairs=1
    )
    with pytest.raises(TeacherError) as caught:
        asyncio.run(
            teacher.structured([{"role": "user", "content": "outline"}], OutlineDraft, "reverse_outline")
        )
    assert caught.value.reason == "invalid-json" and teacher.usage.calls == 2


def test_cache_counts_hits(tmp_path):
    cache = CallCache(tmp_path / "c.sqlite")
    key = call_key([{"role": "user", "content": "hi"}], {"model": "m"}, 0)
    assert key != call_key([{"role": "user", "content": "hi"}], {"model": "m"}, 1)
    assert cache.get(key) is None
    cache.put(key, "p", CachedCall("out", 3, 1, 0.1))
    assert cache.get(key) == CachedCall("out", 3, 1, 0.1)


# --- the pipeline with the scripted teacher --------------------------------------------------------------


def test_pipeline_outputs_and_datasheet(scripted_run):
    out, sheet = scripted_run
    counts = sheet["counts"]
    assert counts["scenes_after_filters"] == 88 and counts["after_forward_synthesis"] >= 60
    assert counts["after_forward_synthesis"] == sum(sheet["splits"].values())
    assert sheet["rejections"]["select"]["no-scenes"] == 7
    assert any(reason.startswith("prose-") for reason in sheet["rejections"].get("forward", {}))
    assert (
        sheet["licences"]["by_script"]["nrb__complete_and_utter_nonsense.fountain"] == "CC BY-SA 3.0 Unported"
    )
    assert sheet["teacher_usage"]["calls"] > 0 and sheet["teacher_usage"]["input_tokens"] > 0
    assert sheet["lengths"]["N"]["words"]["n"] == counts["after_forward_synthesis"]
    markdown = (out / "datasheet.md").read_text()
    assert "## Rejections" in markdown and "near-duplicate" in markdown and "CC BY-SA" in markdown
    rejections = [json.loads(line) for line in (out / "rejections.jsonl").read_text().splitlines()]
    assert all(r["reason"] and r["step"] for r in rejections)


def test_stage1_and_stage2_rows(scripted_run):
    out, _ = scripted_run
    row = json.loads((out / "stage1" / "train.jsonl").read_text().splitlines()[0])
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["system", "user", "assistant"]
    assert row["messages"][1]["content"].startswith("## Outline")
    target = row["messages"][2]["content"]
    assert (
        target.startswith("<directives>{")
        and "</directives>\n<novel>" in target
        and target.endswith("</novel>")
    )
    stage2 = json.loads((out / "stage2" / "train.jsonl").read_text().splitlines()[0])
    assert stage2["id"] == row["id"] and "## Prose" in stage2["messages"][1]["content"]
    assert stage2["messages"][2]["content"].lstrip().startswith(("INT", "EXT", "."))


def test_no_script_series_or_source_leaks_across_splits(scripted_run):
    out, sheet = scripted_run
    seen: dict[str, str] = {}
    for stage in ("stage1", "stage2"):
        for split in ("train", "validation", "test"):
            for line in (out / stage / f"{split}.jsonl").read_text().splitlines():
                row = json.loads(line)
                source = "source:" + row["script"].split("__", 1)[0]
                for key in ("script:" + row["script"], "series:" + row["series"], source):
                    assert seen.setdefault(key, split) == split, f"{key} in {seen[key]} and {split}"
    # every Cyber Bob episode (numbered or named) is one series, and the real corpus fills every split
    assert {k for k in seen if k.startswith("series:cyber_bob")} == {"series:cyber_bob"}
    assert all(sheet["splits"].values()) and max(sheet["splits"], key=sheet["splits"].get) == "train"
    by_split = sheet["sources_by_split"]
    assert sum(len(v) for v in by_split.values()) == len(set().union(*by_split.values()))
    assigned = assign_splits({f"show{i}": 10 for i in range(10)}, seed=3)
    assert sorted(assigned.values()).count("train") == 8 and set(assigned.values()) == {
        "train",
        "validation",
        "test",
    }


def test_splits_load_with_datasets(scripted_run):
    import datasets

    out, sheet = scripted_run
    files = {s: str(out / "stage1" / f"{s}.jsonl") for s, n in sheet["splits"].items() if n}
    loaded = datasets.load_dataset("json", data_files=files)
    assert {s: loaded[s].num_rows for s in files} == {s: sheet["splits"][s] for s in files}
    assert loaded["train"][0]["messages"][2]["role"] == "assistant"


def test_rerun_replays_from_cache_and_is_identical(scripted_run, corpus_dir, tmp_path):
    out, first = scripted_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    again = synthesize(corpus_dir, copy, scripted_factory(concurrency=16))
    assert again["teacher_usage"]["calls"] == 0
    assert (
        again["teacher_usage"]["cache_hits"]
        == first["teacher_usage"]["calls"] + first["teacher_usage"]["cache_hits"]
    )
    for name in ("examples.jsonl", "stage1/train.jsonl", "stage2/validation.jsonl", "rejections.jsonl"):
        assert (copy / name).read_text() == (out / name).read_text()


def test_review_decisions_are_honoured(scripted_run, tmp_path):
    out, first = scripted_run
    data = tmp_path / "reviewed"
    shutil.copytree(out, data)
    ids = [json.loads(line)["id"] for line in (data / "examples.jsonl").read_text().splitlines()]
    record(data, ReviewDecision(id=ids[0], decision="reject", note="outline too thin"))
    record(data, ReviewDecision(id=ids[1], decision="edit", edits={"prose": "Mara walked in. She sat."}))
    plan = json.loads((data / "examples.jsonl").read_text().splitlines()[1])["directives"]
    plan["pacing"]["ending"] = "cliffhanger"
    record(data, ReviewDecision(id=ids[1], decision="edit", edits={"directives": plan}))  # edits accumulate
    record(data, ReviewDecision(id=ids[2], decision="accept"))
    sheet = rebuild(data)
    assert sheet["review"] == {"accepted": 1, "edited": 1, "unreviewed": len(ids) - 3, "rejected": 1}
    rows = [
        json.loads(line)
        for s in ("train", "validation", "test")
        for line in (data / "stage1" / f"{s}.jsonl").read_text().splitlines()
    ]
    by_id = {r["id"]: r for r in rows}
    assert ids[0] not in by_id
    target = by_id[ids[1]]["messages"][2]["content"]
    assert target.endswith("<novel>Mara walked in. She sat.</novel>") and '"ending":"cliffhanger"' in target
    assert by_id[ids[2]]["review"] == "accepted"
    assert sum(sheet["splits"].values()) == len(ids) - 1 == sheet["counts"]["in_datasets_after_review"]


def test_bad_inputs_are_skipped_with_reasons(tmp_path, corpus_dir):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.docx").write_bytes(b"PK\x03\x04 not a screenplay")
    (corpus / "binary.fountain").write_bytes(b"\x00\x01\x02 INT. NOWHERE")
    (corpus / "empty.fountain").write_text("   \n")
    (corpus / "broken.fdx").write_text("<FinalDraft><Content><Paragraph")
    shutil.copy(corpus_dir / "earthbound19__ASCENT_TO_GURU_PEAK.fountain", corpus / "guru.fountain")
    sheet = synthesize(corpus, tmp_path / "out", scripted_factory())
    reasons = {
        (r["item"], r["reason"])
        for r in map(json.loads, (tmp_path / "out" / "rejections.jsonl").read_text().splitlines())
    }
    assert {
        ("notes.docx", "not-a-screenplay"),
        ("binary.fountain", "unreadable"),
        ("empty.fountain", "unreadable"),
        ("broken.fdx", "unreadable"),
    } <= reasons
    assert sheet["counts"]["scripts_read"] == 1 and sheet["licences"]["by_script"][
        "guru.fountain"
    ].startswith("Creative Commons")
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert synthesize(empty, tmp_path / "out2", scripted_factory())["counts"]["files"] == 0
