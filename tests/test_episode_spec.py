"""Episode files: validation with the file position of the problem, X built per scene."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsr.common.errors import BadInput
from dsr.story.episode_spec import MAX_LIST, MAX_LONG, MAX_SCENES, load_episode

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "harbor-lights.yaml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "title: T\nseries: s\ncharacters:\n  - name: MARA\n    profile: keeper\n  - name: TOM\nscenes:\n  - outline: x\n",
            ":6: 'characters.1.profile': Field required",
        ),
        (
            "title: T\nseries: s\nscenes:\n  - outline: x\n    colour: red\n",
            ":5: 'scenes.0.colour': Extra inputs",
        ),
        ("title: T\nseries: s\nscenes: []\n", ":3: 'scenes': List should have at least 1 item"),
        (
            "title: T\nseries: s\nscenes:\n  - outline: ''\n",
            ":4: 'scenes.0.outline': is empty or only whitespace",
        ),
        ("title: T\nscenes:\n  - outline: x\n", ":1: 'series': Field required"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        (
            'title: T\nseries: s\nscenes:\n  - outline: " \\t "\n',
            ":4: 'scenes.0.outline': is empty or only whitespace",
        ),
        ("title: '  '\nseries: s\nscenes:\n  - outline: x\n", ":1: 'title': is empty or only whitespace"),
        (
            "title: T\nseries: s\nscenes:\n  - outline: x\n    beats: [a, ' ']\n",
            ":5: 'scenes.0.beats.1': is empty",
        ),
        (
            "title: T\nseries: s\ncharacters:\n  - {name: MARA, profile: keeper, aliases: [MA]}\nscenes:\n"
            "  - {outline: x, characters: [ma]}\n  - {outline: y, characters: [Mara, Zed]}\n",
            ":6: 'scenes': scene 2 names 'Zed', who is not in the episode's characters (cast: MARA)",
        ),
        (
            "title: T\nseries: s\nscenes:\n  - {outline: x, characters: [MARA]}\n",
            "names 'MARA', who is not in",
        ),
        (
            "title: T\nseries: s\nepisode: 1000000000000000000000000000000\nscenes:\n  - outline: x\n",
            ":3: 'episode': Input should be less than or equal to 99999",
        ),
        (
            "title: T\nseries: s\nepisode: 0\nscenes:\n  - outline: x\n",
            "'episode': Input should be greater than",
        ),
        (
            "title: T\nseries: s\nepisode: true\nscenes:\n  - outline: x\n",
            "'episode': Input should be a valid integer",
        ),
        (
            "title: T\nseries: s\nlanguage: fr\nscenes:\n  - outline: x\n",
            "'language': Input should be 'en' or 'zh'",
        ),
        (
            "title: T\nseries: s\nscenes:\n" + "  - outline: x\n" * (MAX_SCENES + 1),
            "'scenes': List should have at most 300",
        ),
        (f"title: T\nseries: s\nscenes:\n  - outline: {'x' * (MAX_LONG + 1)}\n", "at most 8000 characters"),
        (
            "title: T\nseries: s\nscenes:\n  - outline: x\n    beats: [" + "b, " * (MAX_LIST + 1) + "]\n",
            "at most 50 items",
        ),
        (
            "title: T\nseries: s\nmetadata: {genre: [a, b]}\nscenes:\n  - outline: x\n",
            "'genre' must be a text of 1 to 200",
        ),
        (
            f"title: T\nseries: s\nmetadata: {{notes: {'n' * 20_000}}}\nscenes:\n  - outline: x\n",
            "'metadata': is 20013 characters as JSON, more than the limit of 16384",
        ),
    ],
    ids=[
        "character-without-profile",
        "unknown-key",
        "empty-scenes",
        "empty-outline",
        "missing-series",
        "not-mapping",
        "blank-outline",
        "blank-title",
        "blank-beat",
        "scene-names-unknown-character",
        "scene-names-character-no-cast",
        "episode-too-large",
        "episode-zero",
        "episode-bool",
        "language",
        "too-many-scenes",
        "long-outline",
        "too-many-beats",
        "metadata-genre-not-text",
        "metadata-too-large",
    ],
)
def test_bad_episode_files_name_the_position(tmp_path, text, expected):
    path = tmp_path / "ep.yaml"
    path.write_text(text)
    with pytest.raises(BadInput) as info:
        load_episode(path)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_example_builds_x_per_scene():
    spec = load_episode(EXAMPLE)
    x = spec.task_input(1)
    assert x.meta.scene_no == 2 and x.meta.series == "harbor-lights"
    assert x.outline.characters == ["MARA", "HARBOUR MASTER", "TOM"]
    assert [c.name for c in x.characters] == ["MARA", "TOM", "HARBOUR MASTER"]
    assert x.characters[2].aliases == ["BRENNAN"]
    assert x.meta.guidelines == ["Keep the dialogue spare; let silences carry the tension."]


def test_characters_inferred_from_the_outline(tmp_path):
    path = tmp_path / "ep.yaml"
    path.write_text(
        "title: T\nseries: s\ncharacters:\n  - name: MARA\n    profile: keeper\n  - name: HARBOUR MASTER\n"
        "    profile: official\n    aliases: [Brennan]\nscenes:\n  - outline: Brennan questions Mara at dawn.\n"
    )
    assert load_episode(path).task_input(0).outline.characters == ["MARA", "HARBOUR MASTER"]


def test_scene_characters_by_alias_resolve_to_the_canonical_name(tmp_path):
    path = tmp_path / "ep.yaml"
    path.write_text(
        "title: T\nseries: s\ncharacters:\n  - {name: HARBOUR MASTER, profile: official, aliases: [Brennan]}\n"
        "  - {name: Mara, profile: keeper, personality: '  '}\nscenes:\n  - {outline: x, characters: [brennan, mara]}\n"
    )
    spec = load_episode(path)
    x = spec.task_input(0)
    assert x.outline.characters == ["HARBOUR MASTER", "MARA"]
    assert [c.personality for c in x.characters] == ["", ""]  # a blank optional text reads as absent
    assert (
        load_episode(path).model_validate(spec.model_dump(mode="json")) == spec
    )  # the run re-reads its dump


def test_limits_fit_a_long_real_episode(tmp_path):
    """A 150-scene feature with long outlines, beats, guidelines and a big cast stays inside every limit."""
    cast = "".join(f"  - {{name: C{i}, profile: {'p' * 2000}, aliases: [A{i}]}}\n" for i in range(60))
    scene = "  - outline: {o}\n    characters: [C1, A2]\n    beats: [{b}]\n    guidelines: [keep it short]\n"
    scenes = "".join(scene.format(o="o" * 1200, b=", ".join(["b" * 150] * 6)) for _ in range(150))
    path = tmp_path / "feature.yaml"
    path.write_text(
        f"title: T\nseries: s\nepisode: 1234\npremise: {'p' * 3000}\ncharacters:\n{cast}scenes:\n{scenes}"
    )
    spec = load_episode(path)
    assert len(spec.scenes) == 150 and spec.task_input(149).outline.characters == ["C1", "C2"]
