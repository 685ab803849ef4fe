"""What every judge's verdict shares (rubric, pairwise, story calibration): schema field order, the
lenient slips it forgives, bounded free text and a real rationale.

One base so the three judges parse answers the same way; each verdict declares its own fields."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, field_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

SCORE_TEXT = re.compile(r"^\s*\**\s*(\d{1,3})\s*(?:/\s*12)?\s*\**\s*(?:\(?\s*[A-Za-z ]+\s*\)?)?\s*\.?\s*$")
RATIONALE_ALIASES = ("reason", "reasoning", "explanation", "justification", "comment", "comments")
PLACEHOLDER = re.compile(r"^\s*<.*>\s*$", re.S)


def free_text(max_chars: int) -> dict[str, Any]:
    """JSON-schema bound of a judge's text for a grammar: at most ``max_chars``, and not opening with '<'
    (small models copy the example's '<placeholder>' otherwise). Schema only: validation stays lenient,
    the placeholder check is the validator's."""
    banned = (
        '"\\\\\\x00-\\x1f'  # what plain JSON string content cannot hold: quote, backslash, control characters
    )
    return {"pattern": f"^[^<{banned}][^{banned}]{{0,{max_chars - 1}}}$"}


class _KeepOrder(GenerateJsonSchema):
    """Keep the schema and its example in field order: a small model copies the example's order, and the
    score must come first, before a short token budget runs out (pydantic sorts keys by default)."""

    def sort(self, value: JsonSchemaValue, parent_key: str | None = None) -> JsonSchemaValue:
        return value


def common_slips(data: dict[str, Any]) -> dict[str, Any]:
    """The harmless slips every judge verdict accepts: key case, 'reason' for 'rationale', '7/12' for 7.

    Values are never changed, only unwrapped or renamed.
    """
    data = {str(k).strip().lower(): v for k, v in data.items()}
    if "rationale" not in data:
        alias = next((a for a in RATIONALE_ALIASES if a in data), None)
        if alias:
            data["rationale"] = data.pop(alias)
    score = data.get("score")
    if isinstance(score, str) and (match := SCORE_TEXT.match(score)):
        data["score"] = int(match.group(1))
    elif isinstance(score, float) and score.is_integer():
        data["score"] = int(score)
    return data


class JudgeVerdict(BaseModel):
    """Shared by every judge's verdict (rubric, pairwise, story calibration): the schema keeps field order
    and the rationale must be real text. Subclasses declare their fields (score first) themselves."""

    @classmethod
    def model_json_schema(
        cls, *args: Any, schema_generator: type[GenerateJsonSchema] = _KeepOrder, **kwargs: Any
    ) -> dict[str, Any]:
        return super().model_json_schema(*args, schema_generator=schema_generator, **kwargs)

    @field_validator("rationale", check_fields=False)
    @classmethod
    def _real_rationale(cls, value: str) -> str:
        value = value.strip()
        if not value or PLACEHOLDER.match(value):
            raise ValueError("write a real rationale, not the example's placeholder")
        return value
