"""Layers that hold: every first-party import points to the same package or a lower layer (docs/design.md).

Read from the source with ``ast`` (imports inside functions count too), so an arrow that runs back up fails here
before it becomes a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Lowest first. A package may import its own modules and anything in a lower layer, nothing beside or above it.
LAYERS: list[set[str]] = [
    {"common"},  # small utilities: files, errors, bounded YAML
    {"prompts"},  # templates, no code that imports the project
    {"screenplay", "memory", "models"},  # the document model and formats; story memory; chat-model providers
    {"story"},  # the domain library: X, directives, findings, the critic's checks
    {"judging"},  # the rubric and continuity judges, shared by the critic and evaluation
    {"contract"},  # the run's contract: state, context, records, call log, report
    {"nodes"},  # node functions
    {"graph"},  # builds the scene and episode graphs from the nodes
    {"run"},  # drives runs: checkpoints, seasons, forks, history, run lock
    {"synthesis", "training"},
    {"evaluation", "room"},
    {"cli"},
    {"dsr"},  # the namespace package itself (python -m dsr)
]
LAYER_OF = {package: i for i, layer in enumerate(LAYERS) for package in layer}


def first_party_imports(path: Path) -> set[str]:
    """The dsr packages ``path`` imports (``dsr.X...`` -> X, ``from dsr import X`` -> X)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "dsr" else [f"dsr.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name.split(".")[1] for name in names if name.startswith("dsr.")}
    return found


@pytest.mark.parametrize("package", sorted(LAYER_OF))
def test_imports_point_down(package: str) -> None:
    folder = ROOT / package
    upward = {
        f"{path.relative_to(ROOT)} -> {imported}"
        for path in sorted(folder.rglob("*.py"))
        for imported in first_party_imports(path) - {package}
        if LAYER_OF.get(imported, len(LAYERS)) >= LAYER_OF[package]
    }
    assert not upward, f"imports at the same layer or above: {sorted(upward)}"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from dsr.graph.builder import compile_scene_graph\ndef f():\n    from dsr import cli\n")
    assert first_party_imports(bad) == {"graph", "cli"}
