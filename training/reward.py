"""The reward for preference tuning (``dsr train --method dpo|grpo``): the critic's own verdict on a sample.

A sampled answer is cleaned as the run cleans it (Stage 2: :func:`dsr.story.fountain_text.clean_fountain`;
Stage 1: split into directives and ``<novel>`` prose), checked by the critic's deterministic checks
(:func:`dsr.story.checks.deterministic_checks`, against the row's X and, for Stage 2, its prose N), and
scored with :func:`dsr.story.checks.verdict.draft_reward` on the findings that blame the trained stage.
With ``judge`` (a capable critic model, ``--judge-reward``), a Stage 2 draft with no error also gets the
rubric judge's score, and the critic's ``H-rubric`` finding when it is below the pass mark: the same
gate, call and finding the critic node uses. Nothing here is a copy of the critic's rules.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from dsr.story.checks import deterministic_checks
from dsr.story.checks.verdict import blamed_on, blocking, draft_reward
from dsr.story.findings import Finding, Stage
from dsr.story.fountain_text import clean_fountain
from dsr.story.schemas import CreativeDirectives, TaskInput
from dsr.story.stage1 import split_stage1

#: The stages whose findings a trained stage answers for (the critic's blame).
STAGE_BLAME: dict[int, tuple[Stage, ...]] = {1: ("planner", "novelist"), 2: ("screenwriter",)}
ROLE_OF_STAGE = {1: "novelist", 2: "screenwriter"}


@dataclass(frozen=True)
class Scored:
    """One sample's reward and the findings behind it (those that blame the trained stage)."""

    reward: float
    findings: list[Finding]
    rubric_score: float | None = None

    @property
    def checks(self) -> list[str]:
        return [f.check for f in self.findings]


def completion_text(completion: Any) -> str:
    """A TRL completion (text, or a conversational list of messages) as the assistant's text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def _stage1_findings(x: TaskInput, answer: str) -> list[Finding]:
    from dsr.models.structured import parse_structured

    directives_text, prose = split_stage1(answer)
    directives = None
    findings: list[Finding] = []
    if directives_text is not None:
        try:
            directives = parse_structured(directives_text, CreativeDirectives)
        except Exception:  # any unreadable plan is the planner's failure, whatever the parser raised
            directives = None
    if directives is None:
        # The planner node never hands the critic an unreadable plan (it resamples); an answer whose plan
        # cannot be read is the worst planner outcome, so it costs what the critic's P1 errors cost.
        findings.append(
            Finding(
                check="P1-no-directives",
                stage="planner",
                message="the answer has no readable <directives> JSON in the CreativeDirectives schema",
            )
        )
    return findings + deterministic_checks(x, prose, None, directives=directives)


@dataclass
class CriticReward:
    """Callable as TRL's ``reward_funcs`` (``prompts, completions, x[, prose], **kwargs -> list[float]``) and
    usable directly (:meth:`score`). Every score is kept in :attr:`history` for the run's statistics."""

    stage: int
    judge: Any = None  # a BaseChatModel for the rubric (Stage 2 only), or None
    pass_score: int = 7
    history: list[float] = field(default_factory=list)

    def score(self, x: TaskInput | dict[str, Any] | str, answer: str, prose: str | None = None) -> Scored:
        x = _task_input(x)
        stages = STAGE_BLAME[self.stage]
        if self.stage == 1:
            findings = _stage1_findings(x, answer)
        else:
            screenplay = clean_fountain(answer, x)
            findings = deterministic_checks(x, prose or "", screenplay)
        mine = blamed_on(findings, stages)
        rubric_score = None
        if self.judge is not None and self.stage == 2 and not blocking(mine):
            from dsr.judging.rubric import judge_scene, rubric_findings

            result = judge_scene(self.judge, x, clean_fountain(answer, x), prose=prose)
            if not result.failed and result.score is not None:
                rubric_score = float(result.score)
                mine += blamed_on(rubric_findings(result, self.pass_score), stages)
        reward = draft_reward(mine, stages, rubric_score)
        self.history.append(reward)
        return Scored(reward, mine, rubric_score)

    def __call__(
        self,
        prompts: list[Any] | None = None,
        completions: list[Any] | None = None,
        x: list[str] | None = None,
        prose: list[str] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        completions = completions or []
        if x is None or len(x) != len(completions):
            raise ValueError("the critic reward needs the row's X (an 'x' column) for every completion")
        proses = prose if prose is not None else [None] * len(completions)
        return [
            self.score(xi, completion_text(c), p).reward
            for xi, c, p in zip(x, completions, proses, strict=True)
        ]


def _task_input(x: TaskInput | dict[str, Any] | str) -> TaskInput:
    if isinstance(x, TaskInput):
        return x
    return TaskInput.model_validate(json.loads(x) if isinstance(x, str) else x)


def reward_stats(rewards: list[float]) -> dict[str, float | int]:
    """Mean, spread and range of a run's rewards (what train_log.jsonl and dsr.training.json report)."""
    if not rewards:
        return {"n": 0}
    return {
        "n": len(rewards),
        "mean": round(statistics.fmean(rewards), 4),
        "std": round(statistics.pstdev(rewards), 4) if len(rewards) > 1 else 0.0,
        "min": round(min(rewards), 4),
        "max": round(max(rewards), 4),
        "distinct": len({r for r in rewards if not math.isnan(r)}),
    }
