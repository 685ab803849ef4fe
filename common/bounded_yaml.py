"""One YAML reader for every file the project takes from a user, with bounded alias expansion.

``yaml.safe_load`` shares the object an alias points to, so a few hundred bytes of anchors and aliases
("billion laughs") load cheaply, and then explode when anything walks the result (validation, JSON,
rendering a prompt). PyYAML has no limit of its own, so this SafeLoader counts, while composing, the
size each node would have with every alias written out, and refuses a document past the limits
before anything is constructed. It also refuses recursive aliases and nesting deeper than a limit
(PyYAML's composer recurses and would end in a RecursionError).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dsr.common.errors import BadInput

MAX_CHARS = 1_048_576
"""Characters of text, in the file and after expanding aliases (our YAML files are a few KB)."""
MAX_NODES = 100_000
"""Values (scalars, lists, mappings) after expanding aliases; a 500-scene episode has about 30,000."""
MAX_DEPTH = 64
"""Nesting of lists and mappings; our formats need fewer than 10 levels."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that sizes each composed node with its aliases expanded and refuses past the limits."""

    def __init__(self, text: str, source: str, max_nodes: int, max_chars: int) -> None:
        super().__init__(text)
        self.source, self.max_nodes, self.max_chars = source, max_nodes, max_chars
        self.depth = 0
        self.sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, characters) once expanded

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        alias = self.check_event(yaml.AliasEvent)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise BadInput(
                f"{self.source}: YAML nested deeper than {MAX_DEPTH} levels (limit {MAX_DEPTH}); flatten it"
            )
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if alias:
            if id(node) not in self.sizes:  # the anchor is still being composed: it contains itself
                raise BadInput(
                    f"{self.source}: a YAML alias refers to its own anchor (recursive data); write the value out"
                )
            return node
        nodes, chars = 1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0
        children = node.value if isinstance(node, yaml.SequenceNode) else []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        for child in children:
            child_nodes, child_chars = self.sizes[id(child)]
            nodes, chars = nodes + child_nodes, chars + child_chars
        if nodes > self.max_nodes:
            raise BadInput(
                f"{self.source}: YAML expands to more than {self.max_nodes} values with its aliases written out "
                f"(limit {self.max_nodes}); use fewer anchors and aliases"
            )
        if chars > self.max_chars:
            raise BadInput(
                f"{self.source}: YAML expands to more than {self.max_chars} characters with its aliases written out "
                f"(limit {self.max_chars}); use fewer anchors and aliases"
            )
        self.sizes[id(node)] = (nodes, chars)
        return node


def load_yaml(text: str, source: str, *, max_nodes: int = MAX_NODES, max_chars: int = MAX_CHARS) -> Any:
    """Like ``yaml.safe_load``; malformed YAML raises ``yaml.YAMLError`` (callers word it for their file),
    a document past a limit raises :class:`BadInput` naming ``source`` and the limit."""
    if len(text) > max_chars:
        raise BadInput(
            f"{source}: {len(text)} characters is more than the limit of {max_chars} for a YAML file"
        )
    loader = _BoundedLoader(text, source, max_nodes, max_chars)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml_mapping(
    path: Path, *, what: str, shape: str, limit: int, advice: str = ""
) -> tuple[str, dict[str, Any]]:
    """``(text, mapping)`` of the YAML file a user gave as ``what`` ("an episode file"): a missing file, one
    over ``limit`` bytes, text that is not UTF-8 or not YAML (with its line), and a document that is not a
    mapping (it must hold ``shape``) are each one :class:`BadInput` line."""
    if not path.is_file():
        raise BadInput(f"{what.split(' ', 1)[1]} {path} does not exist")
    if (size := path.stat().st_size) > limit:
        raise BadInput(f"{path} is {size} bytes, more than the limit of {limit} bytes for {what}{advice}")
    try:
        text = path.read_text(encoding="utf-8")
        data = load_yaml(text, str(path), max_chars=limit)
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise BadInput(f"{path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path} must be a YAML mapping with {shape}")
    return text, data
