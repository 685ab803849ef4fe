"""Pairwise judging: which of two scenes for the same X is better, asked in both orders (position swap).

The verdict is a small structured object through :func:`dsr.models.structured.invoke_structured` (JSON
extraction and repair turns, like the rubric); a reply that stays unusable is a failed judgment with its
reason, which the metrics count, never a silent tie.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import ConfigDict, Field, model_validator

from dsr.judging.rubric import CATEGORY_MEANING, RATIONALE_CHARS, RUBRIC_TIERS
from dsr.judging.verdict import JudgeVerdict, common_slips, free_text
from dsr.models.structured import StructuredOutputError, invoke_structured
from dsr.prompts import prompt_messages
from dsr.story.schemas import TaskInput, render_x

PROMPT = "judge_pairwise"
_WINNER = re.compile(r"^\W*(?:scene\s+)?(a|b|tie|draw|equal|neither|both)\W*$", re.IGNORECASE)
_TIE_WORDS = {"draw", "equal", "neither", "both"}


class PairVerdict(JudgeVerdict):
    """The better of scenes A and B as shown, or a tie, with why."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"winner": "A", "rationale": "<two sentences: why this scene is better>"}]
        },
    )

    winner: Literal["A", "B", "tie"] = Field(description='"A", "B" or "tie"')
    rationale: str = Field(min_length=1, description="why", json_schema_extra=free_text(RATIONALE_CHARS))

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, data: Any) -> Any:
        """Harmless slips: 'Scene A' / 'a' / 'draw' for the winner, 'reason' for 'rationale'."""
        if not isinstance(data, dict):
            return data
        data = common_slips(data)
        winner = data.get("winner")
        if isinstance(winner, str) and (match := _WINNER.match(winner)):
            word = match.group(1).lower()
            data["winner"] = "tie" if word in _TIE_WORDS or word == "tie" else word.upper()
        return data


def shown_to_contract(verdict: str, shown_first: str) -> str:
    """Map the judge's 'A' / 'B' (positions as shown) back to the contract's systems 'a' / 'b'."""
    if verdict == "tie":
        return "tie"
    first_won = verdict == "A"
    if shown_first == "a":
        return "a" if first_won else "b"
    return "b" if first_won else "a"


def judge_pair(
    model: BaseChatModel,
    x: TaskInput,
    screenplay_a: str,
    screenplay_b: str,
    *,
    shown_first: str,
    max_repairs: int = 1,
    **invoke_kwargs: Any,
) -> dict[str, Any]:
    """One presentation order of one pair: ``{"winner": "a"|"b"|"tie"|None, "failed", "reason", "rationale", "attempts"}``.

    ``shown_first`` says which system is shown as Scene A. A model that cannot be reached raises.
    """
    first, second = (screenplay_a, screenplay_b) if shown_first == "a" else (screenplay_b, screenplay_a)
    messages = prompt_messages(
        PROMPT,
        x_text=render_x(x),
        screenplay_a=first,
        screenplay_b=second,
        tiers=RUBRIC_TIERS,
        categories=CATEGORY_MEANING,
    )
    try:
        out = invoke_structured(model, messages, PairVerdict, max_repairs=max_repairs, **invoke_kwargs)
    except StructuredOutputError as exc:
        bare = next((m for m in map(_WINNER.match, reversed(exc.raw_outputs)) if m), None)
        if (
            bare is not None
        ):  # a reply that is only the verdict ('B', 'Scene A', 'tie'), like the rubric's bare score
            word = bare.group(1).lower()
            verdict = "tie" if word in _TIE_WORDS or word == "tie" else word.upper()
            return {
                "winner": shown_to_contract(verdict, shown_first),
                "failed": False,
                "reason": None,
                "rationale": "(none given: the judge answered with a bare verdict)",
                "attempts": len(exc.raw_outputs),
            }
        return {
            "winner": None,
            "failed": True,
            "reason": str(exc)[:500],
            "rationale": None,
            "attempts": len(exc.raw_outputs),
            "raw_outputs": exc.raw_outputs,
        }
    return {
        "winner": shown_to_contract(out.value.winner, shown_first),
        "failed": False,
        "reason": None,
        "rationale": out.value.rationale,
        "attempts": out.attempts,
    }
