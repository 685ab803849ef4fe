"""The critic's verdict as one number: what a draft's findings are worth, shared by the critic and training.

The critic (nodes/critic.py) weighs its findings one way: an **error** sends the draft back (it blocks),
a **warning** is recorded and never blocks, and the rubric only runs on a draft with no error, its mean
score below the pass mark becoming one more error (``H-rubric``, :func:`dsr.judging.rubric.rubric_findings`).
:func:`draft_reward` turns exactly that into a scalar for preference tuning (``dsr train --method
dpo|grpo``): a draft the critic would pass earns :data:`PASS_REWARD`, every error costs
``SEVERITY_WEIGHT["error"]`` and every warning a fifth of that, and a judged rubric score adds score / 12.
Only the findings that blame the stages being trained count (a Stage 2 draft is not charged for its
prose), which is how the critic routes them too.

:func:`blocking` is the critic's own test of "does this verdict send the draft back"; the critic node
calls it, and the tests check that the node's verdict and this reward agree on the same drafts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dsr.story.findings import Finding, Severity, Stage

SEVERITY_WEIGHT: dict[Severity, float] = {"error": 1.0, "warning": 0.2}
PASS_REWARD = 1.0
RUBRIC_MAX = 12.0


def blocking(findings: Iterable[Finding]) -> bool:
    """True when a finding sends the draft back (an error); warnings never do."""
    return any(f.severity == "error" for f in findings)


def blamed_on(findings: Iterable[Finding], stages: Sequence[Stage]) -> list[Finding]:
    """The findings that blame one of ``stages`` (the critic routes each finding to the stage it blames)."""
    return [f for f in findings if f.stage in stages]


def draft_reward(
    findings: Sequence[Finding], stages: Sequence[Stage], rubric_score: float | None = None
) -> float:
    """The reward of a draft whose critic verdict holds ``findings`` (rubric's ``H-rubric`` included when
    judged) and, where a judge scored it, ``rubric_score`` (1-12)."""
    mine = blamed_on(findings, stages)
    reward = (0.0 if blocking(mine) else PASS_REWARD) - sum(SEVERITY_WEIGHT[f.severity] for f in mine)
    if rubric_score is not None:
        reward += rubric_score / RUBRIC_MAX
    return round(reward, 4)
