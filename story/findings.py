"""A critic finding names the stage whose output failed, so routing can send the draft back there."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Stage = Literal["planner", "novelist", "screenwriter"]
Severity = Literal["error", "warning"]
STAGES: tuple[Stage, ...] = ("planner", "novelist", "screenwriter")


class Finding(BaseModel):
    check: str = Field(description="stable check id, e.g. 'F1-parse', 'N1-coverage', 'rubric'")
    stage: Stage = Field(description="the stage to blame and to send the draft back to")
    severity: Severity = "error"
    message: str
    evidence: str = ""
    fix_hint: str = ""

    def as_critique(self) -> str:
        """One line for the revising stage's prompt."""
        hint = f" Fix: {self.fix_hint}" if self.fix_hint else ""
        evidence = f' (e.g. "{self.evidence[:120]}")' if self.evidence else ""
        return f"- [{self.check}] {self.message}{evidence}.{hint}"
