"""P1: rule checks on the planner's creative directives."""

from __future__ import annotations

from dsr.screenplay.lint import Cast
from dsr.screenplay.lint_rules.cast import normalise_name
from dsr.story.checks.helpers import _f
from dsr.story.checks.text import _name_words, beat_coverage
from dsr.story.findings import Finding
from dsr.story.schemas import CreativeDirectives, TaskInput


def _planner_checks(
    x: TaskInput, directives: CreativeDirectives, cast: Cast, beats: list[str], language: str
) -> list[Finding]:
    findings = []
    if not directives.pacing.beats:
        findings.append(
            _f(
                "P1-no-beats",
                "planner",
                "the directives plan no beats",
                fix_hint="plan the scene's beats in order",
            )
        )
    planned = {cast.resolve(p.name) or normalise_name(p.name) for p in directives.characters}
    for name in x.outline.characters:
        if (cast.resolve(name) or normalise_name(name)) not in planned:
            findings.append(
                _f(
                    "P1-missing-character",
                    "planner",
                    f"{name} is in the outline but has no character plan",
                    evidence=name,
                    fix_hint=f"add a plan (goal, emotion arc, key actions, tells) for {name}",
                )
            )
    for plan in directives.characters:
        if cast.resolve(plan.name) is None:
            findings.append(
                _f(
                    "P1-unknown-character",
                    "planner",
                    f"the plan names {plan.name}, who is not in the inputs",
                    severity="warning",
                    evidence=plan.name,
                    fix_hint="plan only the characters given",
                )
            )
    if directives.pacing.beats:
        plan_text = "\n\n".join(
            [f"{b.label}. {b.purpose}." for b in directives.pacing.beats]
            + [f"{t}." for t in directives.exposition.turning_points]
            + [f"{r.info}." for r in directives.exposition.reveals]
            + [f"{a}." for p in directives.characters for a in p.key_actions]
        )
        for miss in (c for c in beat_coverage(beats, plan_text, language, _name_words(x)) if not c.covered):
            findings.append(
                _f(
                    "P1-coverage",
                    "planner",
                    "an outline beat is not reflected in the plan",
                    severity="warning",
                    evidence=miss.beat,
                    fix_hint="plan a beat for every outline event",
                )
            )
    return findings
