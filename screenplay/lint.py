"""The screenplay format linter: rule ids, severities, source lines, JSON-ready findings.

``lint(doc)`` runs every registered rule (see :mod:`dsr.screenplay.lint_rules`) over a parsed document;
``lint_text`` parses Fountain first and turns a parse failure into a finding. Severities are tuned on
the human screenplays of the shared corpus: real scripts get warnings and info (they bend the rules:
ventilated action, informal sluglines, stated emotions), while the shapes a broken model draft takes
(a cue followed by a blank line, 'NAME: line', a scene with dialogue but no heading, a markdown
heading, chatter) are errors. The critic reads ``Finding.rule`` to route F1/F2/N4.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dsr.screenplay.errors import ScreenplayError
from dsr.screenplay.lexicon import detect_language
from dsr.screenplay.lint_rules import (
    CHECKS,
    RULES,
    SEVERITY_ORDER,
    Cast,
    CastMember,
    Context,
    Finding,
    Rule,
    cast_from,
    cast_from_episode,
    normalise_name,
)
from dsr.screenplay.lint_rules.core import rule, text_of
from dsr.screenplay.model import Character, Screenplay

__all__ = [
    "RULES",
    "Cast",
    "CastMember",
    "Finding",
    "LintSummary",
    "Rule",
    "cast_from",
    "cast_from_episode",
    "lint",
    "lint_text",
    "summarize",
]

rule("SP000", "parse-error", "error", "the text cannot be parsed as a screenplay")

Profiles = Iterable[str | Mapping[str, Any] | CastMember] | Cast


def lint(
    doc: Screenplay,
    *,
    profiles: Profiles | None = None,
    source: str | None = None,
    language: str | None = None,
) -> list[Finding]:
    """Every finding for ``doc``, sorted by line.

    ``profiles``: the episode's characters (names, ``{name, aliases}`` mappings or a :class:`Cast`);
    when given, cues naming anyone else are errors. ``source``: the text ``doc`` was parsed from, used
    to place findings when elements carry no line numbers (FDX). ``language``: lexicon for the prose
    rules, detected from the text when omitted.
    """
    cast = profiles if isinstance(profiles, Cast) or profiles is None else cast_from(profiles)
    cues = {normalise_name(e.name) for e in doc.all_elements() if isinstance(e, Character)}
    known = frozenset(cues | (cast.names() if cast else frozenset()))
    if language is None:
        language = detect_language(" ".join(text_of(e) for e in doc.all_elements()[:200]))
    ctx = Context(
        doc=doc,
        cast=cast,
        language=language,
        source_lines=source.splitlines() if source is not None else None,
        known_names=known,
    )
    for check in CHECKS:
        check(ctx)
    return sorted(
        ctx.findings,
        key=lambda f: (f.line if f.line is not None else 0, SEVERITY_ORDER[f.severity], f.rule),
    )


def lint_text(text: str, *, profiles: Profiles | None = None, language: str | None = None) -> list[Finding]:
    """Parse Fountain and lint it; a text that does not parse gives one SP000 finding."""
    from dsr.screenplay.fountain_reader import parse_fountain  # written alongside; imported when first needed

    try:
        doc = parse_fountain(text)
    except ScreenplayError as exc:
        spec = RULES["SP000"]
        return [Finding(rule=spec.id, name=spec.name, severity="error", message=str(exc))]
    return lint(doc, profiles=profiles, source=text, language=language)


class LintSummary(BaseModel):
    """Counts for a report line and the critic: how many of each severity, and errors per scene."""

    model_config = ConfigDict(extra="forbid")

    errors: int
    warnings: int
    info: int
    scenes: int = Field(description="scene headings in the document")
    errors_per_scene: float = Field(description="errors / max(scenes, 1)")
    errors_by_scene: list[int] = Field(description="errors in each scene, aligned with Screenplay.scenes")
    errors_outside_scenes: int = Field(
        description="errors before the first heading or about the whole document"
    )
    by_rule: dict[str, int] = Field(default_factory=dict, description="findings per rule id")


def summarize(findings: list[Finding], doc: Screenplay | None = None) -> LintSummary:
    """Tally ``findings``; pass ``doc`` to count its scenes (otherwise scenes come from the findings)."""
    severities = Counter(f.severity for f in findings)
    scenes = (
        len(doc.scenes)
        if doc is not None
        else 1 + max((f.scene for f in findings if f.scene is not None), default=-1)
    )
    by_scene = [0] * scenes
    outside = 0
    for finding in findings:
        if finding.severity != "error":
            continue
        if finding.scene is not None and finding.scene < scenes:
            by_scene[finding.scene] += 1
        else:
            outside += 1
    errors = severities["error"]
    return LintSummary(
        errors=errors,
        warnings=severities["warning"],
        info=severities["info"],
        scenes=scenes,
        errors_per_scene=round(errors / max(scenes, 1), 3),
        errors_by_scene=by_scene,
        errors_outside_scenes=outside,
        by_rule=dict(sorted(Counter(f.rule for f in findings).items())),
    )
