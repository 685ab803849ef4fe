"""Small helpers shared by the checks: building findings and quoting evidence."""

from __future__ import annotations

from dsr.screenplay.lint_rules.core import text_of
from dsr.screenplay.model import Action, Screenplay
from dsr.story.findings import Finding, Severity, Stage


def _f(
    check: str,
    stage: Stage,
    message: str,
    *,
    severity: Severity = "error",
    evidence: str = "",
    fix_hint: str = "",
) -> Finding:
    return Finding(
        check=check, stage=stage, severity=severity, message=message, evidence=evidence, fix_hint=fix_hint
    )


def _around(text: str, start: int, end: int, width: int = 60) -> str:
    return " ".join(text[max(0, start - width) : end + width].split())


def _first_action(doc: Screenplay) -> str:
    return next((text_of(e)[:160] for e in doc.all_elements() if isinstance(e, Action)), "")
