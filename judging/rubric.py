"""The paper's 12-point rubric (DSR-SPEC 8.1, Fig 3) and the judge call, shared by the critic and evaluation.

One implementation so that the score the critic routes on and the score an evaluation reports are the
same measurement: the same tiers, the same error categories (the paper's plot coherence, character
development and narrative pacing, plus format for our Fountain output), the same prompt
(``prompts/judge.md``) and the same parsing.

Small models break structured output often. :func:`judge_scene` therefore (1) goes through
:func:`dsr.models.structured.invoke_structured` (JSON extraction, repair turns), (2) coerces harmless
shape slips before validation (``"7/12"`` -> 7, ``"Plot"`` -> ``plot_coherence``, a string where a list
was asked for), and (3) accepts a reply that is nothing but a bare score. It never clamps or rounds:
an out-of-range or fractional score fails validation and the model gets a repair turn. Every coercion
and every sample that stays unusable is recorded in the :class:`RubricResult`, never dropped silently.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from dsr import prompts
from dsr.judging.verdict import PLACEHOLDER, RATIONALE_ALIASES, JudgeVerdict, common_slips, free_text
from dsr.models.structured import StructuredOutputError, extract_json, invoke_structured
from dsr.prompts import prompt_messages
from dsr.story.findings import Finding, Stage
from dsr.story.schemas import TaskInput, render_x

JUDGE_PROMPT = "judge"
MIN_SCORE, MAX_SCORE = 1, 12

ErrorCategory = Literal["plot_coherence", "character_development", "narrative_pacing", "format"]
ERROR_CATEGORIES: tuple[ErrorCategory, ...] = (
    "plot_coherence",
    "character_development",
    "narrative_pacing",
    "format",
)
#: The stage a category's errors come from when the judge names none: story problems start in the
#: prose (Stage 1), format problems in the conversion (Stage 2).
CATEGORY_BLAME: dict[ErrorCategory, Stage] = {
    "plot_coherence": "novelist",
    "character_development": "novelist",
    "narrative_pacing": "novelist",
    "format": "screenwriter",
}
CATEGORY_MEANING: dict[ErrorCategory, str] = {
    "plot_coherence": "drifts from the outline or the scene's intent; events that do not follow",
    "character_development": "wrong or thin portrayal; motives or behaviour that do not match the profiles",
    "narrative_pacing": "too brief or too drawn out; beats rushed or padded",
    "format": "not a correctly formatted screenplay scene: headings, cues, dialogue, action lines",
}


@dataclass(frozen=True)
class RubricTier:
    name: str
    low: int
    high: int
    criteria: str


#: Fig 3 of the paper as DSR-SPEC 8.1 reconstructs it. Every tier is judged on following the prompt,
#: narrative structure, logical coherence and achieving the scene's dramatic purpose.
RUBRIC_TIERS: tuple[RubricTier, ...] = (
    RubricTier(
        "Unacceptable",
        1,
        3,
        "Misses the scene's dramatic requirements; serious logic errors, or incoherent.",
    ),
    RubricTier(
        "Flawed",
        4,
        5,
        "The same failures in a milder form: dramatic requirements partly missed, noticeable logic gaps.",
    ),
    RubricTier(
        "Acceptable",
        6,
        7,
        "The quality floor: the core dramatic needs are met; minor issues in structure or logic.",
    ),
    RubricTier(
        "Good",
        8,
        8,
        "Between Acceptable and Excellent: follows the prompt with sound structure and only small flaws.",
    ),
    RubricTier(
        "Excellent",
        9,
        10,
        "Follows the prompt and its logic fully; strong narrative structure; the dramatic purpose lands.",
    ),
    RubricTier("Exceptional", 11, 12, "Flawless; usable as is."),
)


def tier(score: float) -> str:
    """The tier name of a score; a mean such as 7.5 counts as the nearest whole score (halves round up)."""
    if not MIN_SCORE <= score <= MAX_SCORE:
        raise ValueError(f"rubric score {score} is outside {MIN_SCORE}..{MAX_SCORE}")
    whole = math.floor(score + 0.5)
    return next(t.name for t in RUBRIC_TIERS if t.low <= whole <= t.high)


_BARE_SCORE = re.compile(
    r"^\s*(?:(?:final\s+)?score\s*[:=]?\s*)?\**\s*(\d{1,3})\s*(?:/\s*12)?\s*\**\s*\.?\s*$", re.I
)
_CATEGORY_ALIASES: dict[str, ErrorCategory] = {
    **{c: c for c in ERROR_CATEGORIES},
    "plot": "plot_coherence",
    "coherence": "plot_coherence",
    "character": "character_development",
    "characters": "character_development",
    "characterization": "character_development",
    "characterisation": "character_development",
    "pacing": "narrative_pacing",
    "formatting": "format",
}
RATIONALE_CHARS, ERROR_CHARS, ERRORS_PER_CATEGORY = 240, 80, 2


_ERRORS_SCHEMA = {
    "type": "object",
    "properties": {
        c: {
            "type": "array",
            "items": {"type": "string", **free_text(ERROR_CHARS)},
            "maxItems": ERRORS_PER_CATEGORY,
        }
        for c in ERROR_CATEGORIES
    },
    "required": list(ERROR_CATEGORIES),
    "additionalProperties": False,
}


class RubricVerdict(JudgeVerdict):
    """One judge sample: the 12-point score, labelled errors per category, a rationale and a blamed stage."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "score": 6,
                    "errors": {
                        "plot_coherence": ["<one short error per item; empty list when none>"],
                        "character_development": [],
                        "narrative_pacing": [],
                        "format": [],
                    },
                    "rationale": "<two or three sentences: what works, what fails, why this tier>",
                    "blame": "novelist",
                }
            ]
        },
    )

    score: int = Field(ge=MIN_SCORE, le=MAX_SCORE, description="1-12 on the rubric")
    errors: Annotated[dict[ErrorCategory, list[str]], WithJsonSchema(_ERRORS_SCHEMA)] = Field(
        default_factory=dict, description="labelled errors per category; empty lists when none"
    )
    rationale: str = Field(
        min_length=1, description="why this score", json_schema_extra=free_text(RATIONALE_CHARS)
    )
    blame: Stage | None = Field(
        default=None, description="the stage the main problem comes from: planner, novelist or screenwriter"
    )

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, data: Any) -> Any:
        """Harmless shape slips of small models; values are never changed, only unwrapped or renamed."""
        if not isinstance(data, dict):
            return data
        data = common_slips(data)
        errors = data.get("errors")
        if isinstance(errors, dict):
            data["errors"] = {_category_key(k): _as_list(v) for k, v in errors.items()}
        elif errors is None:
            data.pop("errors", None)
        blame = data.get("blame")
        if isinstance(blame, str):
            blame = blame.strip().lower()
            data["blame"] = None if blame in ("", "none", "null", "n/a") else blame
        return data

    @field_validator("errors")
    @classmethod
    def _real_errors(cls, value: dict[ErrorCategory, list[str]]) -> dict[ErrorCategory, list[str]]:
        if any(PLACEHOLDER.match(e) for items in value.values() for e in items):
            raise ValueError(
                "list real errors or leave the lists empty; do not copy the example's placeholder"
            )
        return {c: [e.strip() for e in value.get(c, []) if e.strip()] for c in ERROR_CATEGORIES}

    @model_validator(mode="after")
    def _default_blame(self) -> RubricVerdict:
        """Without a judge-named stage, blame the category with most errors (ties: story before format)."""
        if self.blame is None:
            counts = [(len(self.errors.get(c, [])), -i, c) for i, c in enumerate(ERROR_CATEGORIES)]
            most, _, category = max(counts)
            if most:
                self.blame = CATEGORY_BLAME[category]
        return self

    def error_count(self) -> int:
        return sum(len(v) for v in self.errors.values())


def _category_key(key: Any) -> str:
    name = re.sub(r"[\s\-]+", "_", str(key).strip().lower())
    return _CATEGORY_ALIASES.get(name, name)  # an unknown category fails validation: a repair turn


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return value


class SampleFailure(BaseModel):
    """A judge sample whose output could not be used, with why and what the model said."""

    sample: int
    reason: str
    attempts: int
    raw_outputs: list[str] = Field(default_factory=list)


class RubricResult(BaseModel):
    """All samples of one judged scene: verdicts, failures, mean and variance, cost."""

    verdicts: list[RubricVerdict] = Field(default_factory=list)
    failures: list[SampleFailure] = Field(default_factory=list)
    coercions: list[str] = Field(default_factory=list, description="lenient readings applied, per sample")
    samples: int = 0
    attempts: int = Field(default=0, description="model calls, repair turns included")
    prompt_version: str = ""

    @property
    def scores(self) -> list[int]:
        return [v.score for v in self.verdicts]

    @property
    def score(self) -> float | None:
        """Mean score over the usable samples; None when no sample gave a verdict."""
        return round(statistics.fmean(self.scores), 3) if self.verdicts else None

    @property
    def variance(self) -> float | None:
        """Population variance of this scene's sample scores (0.0 for one sample)."""
        return round(statistics.pvariance(self.scores), 3) if self.verdicts else None

    @property
    def tier(self) -> str | None:
        return tier(self.score) if self.score is not None else None

    @property
    def failed(self) -> bool:
        return not self.verdicts

    @property
    def failure_reason(self) -> str | None:
        if not self.failed:
            return None
        if not self.failures:
            return "no samples were requested"
        return f"all {self.samples} judge sample(s) failed; last: {self.failures[-1].reason}"

    def summary(self) -> dict[str, Any]:
        """The JSON-ready record a report or critique stores."""
        return {
            "score": self.score,
            "variance": self.variance,
            "tier": self.tier,
            "failed": self.failed,
            "reason": self.failure_reason,
            "samples": self.samples,
            "valid_samples": len(self.verdicts),
            "attempts": self.attempts,
            "coercions": self.coercions,
            "failures": [f.model_dump() for f in self.failures],
            "verdicts": [v.model_dump() for v in self.verdicts],
        }


def judge_scene(
    model: BaseChatModel,
    x: TaskInput,
    screenplay: str,
    *,
    prose: str | None = None,
    reference: str | None = None,
    samples: int = 1,
    max_repairs: int = 1,
    **invoke_kwargs: Any,
) -> RubricResult:
    """Score ``screenplay`` for the task ``x`` on the rubric, ``samples`` times.

    ``prose`` (N) lets the judge tell a story problem from a conversion problem; ``reference`` (a
    human S* for the same X) anchors an evaluation judge. ``invoke_kwargs`` reach the model call
    (e.g. ``max_new_tokens``). A model that cannot be reached raises; a model that answers with
    unusable text is recorded as a failed sample.
    """
    if samples < 1:
        raise ValueError("samples must be at least 1")
    messages = prompt_messages(
        JUDGE_PROMPT,
        x_text=render_x(x),
        screenplay=screenplay,
        prose=prose,
        reference=reference,
        tiers=RUBRIC_TIERS,
        categories=CATEGORY_MEANING,
    )
    result = RubricResult(samples=samples, prompt_version=prompts.version(JUDGE_PROMPT))
    for sample in range(1, samples + 1):
        try:
            out = invoke_structured(model, messages, RubricVerdict, max_repairs=max_repairs, **invoke_kwargs)
        except StructuredOutputError as exc:
            result.attempts += len(exc.raw_outputs)
            salvaged = bare_score(exc.raw_outputs)
            if salvaged is not None:
                result.verdicts.append(salvaged)
                result.coercions.append(
                    f"sample {sample}: the judge answered with a bare score, no rationale"
                )
                continue
            result.failures.append(
                SampleFailure(
                    sample=sample, reason=str(exc), attempts=len(exc.raw_outputs), raw_outputs=exc.raw_outputs
                )
            )
            continue
        result.attempts += out.attempts
        result.verdicts.append(out.value)
        result.coercions += [f"sample {sample}: {note}" for note in coercions_applied(out.raw_outputs[-1])]
    return result


def bare_score(raw_outputs: list[str]) -> RubricVerdict | None:
    """A verdict from the last answer that is only a number on the scale ('7', 'Score: 7/12')."""
    for text in reversed(raw_outputs):
        match = _BARE_SCORE.match(text)
        if match and MIN_SCORE <= int(match.group(1)) <= MAX_SCORE:
            return RubricVerdict(
                score=int(match.group(1)), rationale="(none given: the judge answered with a bare score)"
            )
    return None


def coercions_applied(raw: str) -> list[str]:
    """Which lenient readings a raw answer needed, so reports can say how often the judge slipped."""
    try:
        data = extract_json(raw)
    except ValueError:
        return []
    notes = []
    keys = {str(k).strip().lower(): v for k, v in data.items()}
    if isinstance(keys.get("score"), str | float):
        notes.append(f"score {keys['score']!r} read as a whole number")
    if "rationale" not in keys and any(a in keys for a in RATIONALE_ALIASES):
        notes.append("rationale taken from another key")
    errors = keys.get("errors")
    if isinstance(errors, dict):
        renamed = [str(k) for k in errors if _category_key(k) != k]
        if renamed:
            notes.append(f"error categories renamed: {', '.join(renamed)}")
        if any(isinstance(v, str) for v in errors.values()):
            notes.append("an error given as text was wrapped in a list")
    return notes


def rubric_findings(result: RubricResult, pass_score: int) -> list[Finding]:
    """One error finding when the mean score is below the pass mark, blaming the stage the judge named
    (the critic routes on it; training's reward counts it as the critic does, story/checks/verdict.py)."""
    if result.failed or result.score is None:
        return []
    if result.score >= pass_score:
        return []
    top = result.verdicts[0]
    labelled = [f"{cat}: {msg}" for cat, msgs in top.errors.items() for msg in msgs][:4]
    return [
        Finding(
            check="H-rubric",
            stage=top.blame or "novelist",
            message=f"rubric score {result.score:.1f}/12 is below {pass_score}",
            evidence="; ".join(labelled) or top.rationale[:200],
            fix_hint=top.rationale[:200],
        )
    ]
