"""The linter's vocabulary: findings, the rule registry, and the context every check reads.

Each rule is declared once with :func:`rule` (id, slug, default severity, summary), so ``dsr lint
--rules`` lists exactly what can fire; a check is a function ``check(ctx)`` added with :func:`register`
that reports through ``ctx.add(rule_id, ...)``, overriding the severity where the evidence is weaker
or stronger than usual.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dsr.screenplay.inline import plain
from dsr.screenplay.lint_rules.cast import Cast
from dsr.screenplay.model import Boneyard, Element, Note, Scene, SceneHeading, Screenplay, Section, Synopsis

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


class Finding(BaseModel):
    """One problem: which rule, how bad, where (source line, scene index), and what to do."""

    model_config = ConfigDict(extra="forbid")

    rule: str = Field(description="stable id, e.g. 'SP021'")
    name: str = Field(description="the rule's slug, e.g. 'cue-without-dialogue'")
    severity: Severity
    line: int | None = Field(default=None, description="1-based source line, when the document has them")
    scene: int | None = Field(
        default=None, description="0-based index into Screenplay.scenes; None = before any"
    )
    message: str = Field(description="one line")
    excerpt: str = Field(default="", description="the offending text, shortened")


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: Severity
    summary: str


RULES: dict[str, Rule] = {}
CHECKS: list[Callable[[Context], None]] = []


def rule(id: str, name: str, severity: Severity, summary: str) -> Rule:
    """Declare a rule once; ids and names are unique and never reused."""
    if id in RULES or any(r.name == name for r in RULES.values()):
        raise ValueError(f"duplicate lint rule {id} {name}")
    RULES[id] = Rule(id, name, severity, summary)
    return RULES[id]


def register(check: Callable[[Context], None]) -> Callable[[Context], None]:
    CHECKS.append(check)
    return check


# Elements that carry no screenplay content of their own (they never break a dialogue block).
INVISIBLE = (Note, Boneyard, Section, Synopsis)


@dataclass
class Block:
    """The body of one scene (or of the preamble, ``scene=None``) in reading order."""

    scene: int | None
    heading: SceneHeading | None
    elements: list[Element]

    def visible(self) -> list[Element]:
        return [e for e in self.elements if not isinstance(e, INVISIBLE)]


@dataclass
class Context:
    doc: Screenplay
    cast: Cast | None
    language: str
    source_lines: list[str] | None
    known_names: frozenset[str]
    findings: list[Finding] = field(default_factory=list)

    def blocks(self) -> Iterator[Block]:
        yield Block(None, None, list(self.doc.preamble))
        for index, scene in enumerate(self.doc.scenes):
            yield Block(index, scene.heading, list(scene.elements))

    def scenes(self) -> Iterator[tuple[int, Scene]]:
        yield from enumerate(self.doc.scenes)

    def add(
        self,
        rule_id: str,
        message: str,
        *,
        line: int | None,
        scene: int | None,
        excerpt: str = "",
        severity: Severity | None = None,
    ) -> None:
        spec = RULES[rule_id]
        self.findings.append(
            Finding(
                rule=spec.id,
                name=spec.name,
                severity=severity or spec.severity,
                line=line,
                scene=scene,
                message=message,
                excerpt=shorten(excerpt),
            )
        )

    def __post_init__(self) -> None:
        self._found: dict[int, int] = {}
        if self.source_lines:
            self._index_source()

    def _index_source(self) -> None:
        """Place line-less elements (FDX, hand-built documents) by searching the source in reading order."""
        lines = self.source_lines or []
        cursor = 0
        items: list[Element | SceneHeading] = list(self.doc.preamble)
        for scene in self.doc.scenes:
            items.append(scene.heading)
            items.extend(scene.elements)
        for item in items:
            if item.line is not None:
                cursor = max(cursor, item.line)
                continue
            raw = getattr(item, "text", None) or getattr(item, "name", None) or ""
            needle = next((part.strip() for part in raw.splitlines() if part.strip()), "")[:40]
            if not needle:
                continue
            for number in range(cursor, len(lines)):
                if needle in lines[number]:
                    self._found[id(item)] = number + 1
                    cursor = number + 1
                    break

    def line_of(self, item: Element | SceneHeading, offset: int = 0) -> int | None:
        """The element's source line plus ``offset``, or where its text was found in the source."""
        line = item.line if item.line is not None else self._found.get(id(item))
        return None if line is None else line + offset

    def source_line_of(self, needle: str) -> int | None:
        """The first source line containing ``needle`` (None without source text)."""
        if not self.source_lines or not needle.strip():
            return None
        for number, source in enumerate(self.source_lines, start=1):
            if needle.strip() in source:
                return number
        return None


def text_of(element: Element) -> str:
    """Printable text of an element with Fountain markup and inline notes removed."""
    raw = getattr(element, "text", None)
    if raw is None:
        raw = getattr(element, "name", "")
    return plain(raw)


def shorten(text: str, width: int = 72) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


_MARKDOWN_WRAP = re.compile(r"^[\s>#*_`~]+|[\s*_`~]+$")


def strip_markdown(text: str) -> str:
    """Drop the decoration a chat model wraps around a line (``**X**``, ``## X``, backticks)."""
    return _MARKDOWN_WRAP.sub("", text).strip()
