"""Episode files: validation with the file position of the problem, X built per scene."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import BadInput
from graph.episode_spec import load_episode

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "harbor-lights.yaml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("title: T\nseries: s\ncharacters:\n  - name: MARA\n    profile: keeper\n  - name: TOM\nscenes:\n  - outline: x\n",
         ":6: 'characters.1.profile': Field required"),
        ("title: T\nseries: s\nscenes:\n  - outline: x\n    colour: red\n", ":5: 'scenes.0.colour': Extra inputs"),
        ("title: T\nseries: s\nscenes: []\n", ":3: 'scenes': List should have at least 1 item"),
        ("title: T\nseries: s\nscenes:\n  - outline: ''\n", ":4: 'scenes.0.outline': String should have at least 1"),
        ("title: T\nscenes:\n  - outline: x\n", ":1: 'series': Field required"),
        ("- just\n- a list\n", "must be a YAML mapping"),
    ],
    ids=["character-without-profile", "unknown-key", "empty-scenes", "empty-outline", "missing-series", "not-mapping"],
)  # fmt: skip
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
