"""The continuity test set (``tests/data/continuity/items.yaml``) and how the continuity critic is scored on it.

Each item is a draft of one scene with the facts memory holds before it and a key: the facts the draft
contradicts (planted: someone who left is on deck, a key in the wrong hands, a secret known before it was
told, an injury forgotten, the dead walking, a relationship carried on) or none (clean controls). An item
becomes what the critic node would see: X, the facts in force (superseded ones resolved away, as
retrieve_context does) and the draft.

Scoring is per finding and per item: a finding is a true positive when it cites a fact the key lists for
its item; precision = true findings / findings, recall = key facts cited / key facts, and the share of
clean controls with any finding (false alarms). A check that gave no usable answer counts as finding
nothing, and is counted separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsr.common.bounded_yaml import load_yaml
from dsr.memory.records import Fact
from dsr.memory.state import in_priority, resolve
from dsr.story.schemas import TaskInput

DEFAULT_SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "continuity" / "items.yaml"


@dataclass
class ContinuityItem:
    id: str
    planted: str
    series: str
    position: tuple[int, int]
    cast: list[dict[str, Any]]
    facts: dict[str, Fact]  # key label (f1, f2, ...) -> the fact as memory stores it
    outline: str
    screenplay: str
    prose: str | None
    expect: list[str]
    lines: dict[str, str]
    blame: str | None

    def task_input(self) -> TaskInput:
        names = [c["name"] for c in self.cast]
        return TaskInput.model_validate(
            {
                "outline": {"synopsis": self.outline, "characters": names},
                "characters": [{"name": c["name"], "aliases": c.get("aliases", [])} for c in self.cast],
                "meta": {"series": self.series, "episode": self.position[0], "scene_no": self.position[1]},
            }
        )

    def in_force(self) -> list[Fact]:
        """The facts the critic is given: superseded ones resolved away, most important first."""
        current, _ = resolve(self.facts.values())
        return in_priority(current)

    def label_of(self, fact_id: str) -> str | None:
        """The key label (f1, ...) of a memory fact id."""
        return next((label for label, f in self.facts.items() if f.id == fact_id), None)


def load_continuity_set(path: Path = DEFAULT_SET) -> list[ContinuityItem]:
    data = load_yaml(path.read_text(encoding="utf-8"), str(path))
    series, position = data["series"], tuple(data["position"])
    items = []
    for raw in data["items"]:
        facts = {
            f["id"]: Fact(
                series=series,
                episode=f["at"][0],
                scene_no=f["at"][1],
                text=f["text"],
                kind=f["kind"],
                subject=f["subject"],
                about=f.get("about") or "",
                source="extracted",
                characters=[c["name"] for c in raw["cast"] if c["name"] in (f["subject"], f.get("about"))],
            )
            for f in raw["facts"]
        }
        items.append(
            ContinuityItem(
                id=raw["id"],
                planted=raw["planted"],
                series=series,
                position=position,
                cast=raw["cast"],
                facts=facts,
                outline=raw["outline"],
                screenplay=raw["screenplay"].strip() + "\n",
                prose=(raw.get("prose") or "").strip() or None,
                expect=list(raw.get("expect") or []),
                lines=dict(raw.get("lines") or {}),
                blame=raw.get("blame"),
            )
        )
    return items


@dataclass
class ItemResult:
    """What the critic found on one item: the key labels its findings cite (None: a fact not in the item)
    with the stage each blames, or that the check gave no usable answer."""

    item: ContinuityItem
    cited: list[tuple[str | None, str]]  # (key label, blamed stage) per finding
    unchecked: bool = False
    seconds: float = 0.0


def score(results: list[ItemResult]) -> dict[str, Any]:
    """Precision and recall over findings and key facts, false alarms on clean controls, blame accuracy."""
    findings = sum(len(r.cited) for r in results)
    true = sum(1 for r in results for label, _ in r.cited if label in r.item.expect)
    expected = sum(len(r.item.expect) for r in results)
    found = sum(len({label for label, _ in r.cited} & set(r.item.expect)) for r in results)
    clean = [r for r in results if not r.item.expect]
    blamed = [(r.item.blame, stage) for r in results for label, stage in r.cited if label in r.item.expect]
    return {
        "items": len(results),
        "planted": sum(1 for r in results if r.item.expect),
        "clean": len(clean),
        "findings": findings,
        "true_findings": true,
        "precision": true / findings if findings else None,
        "recall": found / expected if expected else None,
        "false_alarms": sum(1 for r in clean if r.cited),
        "unchecked": sum(r.unchecked for r in results),
        "blame_right": sum(want == got for want, got in blamed),
        "blamed": len(blamed),
    }
