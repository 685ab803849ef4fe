"""Test sets: reverse synthesis over the real corpus (rule-based teacher), and sets from a synthesis split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dsr.evaluation import records
from dsr.evaluation.items import build_from_corpus, build_from_synthesis
from dsr.screenplay.fountain_reader import parse_fountain
from dsr.story.schemas import TaskInput
from dsr.synthesis.pipeline import synthesize
from dsr.synthesis.teacher import Teacher
from tests.test_synthesis_scripted import ScriptedTeacher


def scripted(cache):  # type: ignore[no-untyped-def]
    return Teacher(ScriptedTeacher(), {"llm_type": "scripted"}, cache, concurrency=2, seed=0, max_repairs=1)


def test_build_set_from_corpus_keeps_the_original_scene_as_reference(tmp_path, corpus_dir):
    manifest = build_from_corpus(corpus_dir, tmp_path / "set", scripted, limit=3)
    items = records.read_items(tmp_path / "set")
    assert manifest["counts"]["items"] == len(items) == 3
    assert manifest["counts"]["scenes_processed"] == 3 and manifest["counts"]["reverse_failed"] == 0
    assert manifest["rejections"] and all(
        r["reason"] for r in manifest["rejections"]
    )  # corpus filters, with reasons
    for item in items:
        x = TaskInput.model_validate(item["x"])
        assert x.outline.synopsis and x.characters
        (scene,) = parse_fountain(item["reference"]).scenes  # the original scene, exactly one
        assert scene.heading.text == item["heading"]
        assert item["licence"] and item["series"] == x.meta.series
    # A rerun answers every teacher call from the cache.
    again = build_from_corpus(corpus_dir, tmp_path / "set", scripted, limit=3)
    assert again["teacher_usage"]["calls"] == 0 and again["teacher_usage"]["cache_hits"] > 0
    assert records.read_items(tmp_path / "set") == items


# Scripts of five sources: splits hold out whole sources, so the test split gets rows of its own (the first
# scenes of the whole corpus come from only two sources and leave it empty, which would prove nothing).
FIVE_SOURCES = (
    "afterwriting__test.fountain",
    "earthbound19__ASCENT_TO_GURU_PEAK.fountain",
    "earthbound19__Cyber_Bob_ep00001.fountain",
    "nrb__complete_and_utter_nonsense.fountain",
    "rubenxyz__retired_assassin.fountain",
    "screenplay-tools__TestFDX-FD.fdx",
    "MANIFEST.md",
    "LICENSES.md",
)


def test_build_set_from_a_synthesis_split_never_overlaps_training(tmp_path, corpus_dir):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in FIVE_SOURCES:
        shutil.copy(corpus_dir / name, corpus / name)
    data = tmp_path / "data"
    synthesize(corpus, data, scripted)
    manifest = build_from_synthesis(data, tmp_path / "set", split="test")
    ids = {i["id"] for i in records.read_items(tmp_path / "set")}

    def split_ids(split: str) -> set[str]:
        path = data / "stage1" / f"{split}.jsonl"
        return {json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line}

    assert ids and ids == split_ids("test") and manifest["counts"]["items"] == len(ids)
    assert not ids & split_ids("train")
    scripts = {i["script"] for i in records.read_items(tmp_path / "set")}
    train = {
        json.loads(line)["script"] for line in (data / "stage1" / "train.jsonl").read_text().splitlines()
    }
    assert scripts and not scripts & train  # no screenplay of the test set is trained on
    for item in records.read_items(tmp_path / "set"):
        assert item["reference"].strip() and TaskInput.model_validate(item["x"])
    assert manifest["source"] == {"kind": "synthesis", "data_dir": str(data), "split": "test", "limit": None}


def test_set_paths_are_the_contracts(tmp_path: Path):
    assert records.items_path(tmp_path).name == "items.jsonl"
    assert records.set_manifest_path(tmp_path).name == "set.json"
