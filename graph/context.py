"""Runtime context (LangGraph ``context_schema``): how a run behaves, not what it has written.

Context is not checkpointed; ``dsr write`` stores it in ``RUN_DIR/run.json`` so ``dsr resume`` can
rebuild the same context. Studio shows these fields as the run's configurable options.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Mode = Literal["dsr", "dsr-nocot", "e2e"]
ReviewPoint = Literal["directives", "prose", "scene"]
MODES: tuple[Mode, ...] = ("dsr", "dsr-nocot", "e2e")
REVIEW_POINTS: tuple[ReviewPoint, ...] = ("directives", "prose", "scene")


@dataclass(kw_only=True)
class RunContext:
    """Behaviour of one run.

    ``mode``: ``dsr`` (planner -> novelist -> screenwriter), ``dsr-nocot`` (no planner) or ``e2e`` (one
    call X -> S, the paper's direct-generation baseline). ``review``: where a human approves.
    """

    mode: Mode = "dsr"
    review: list[ReviewPoint] = field(default_factory=list)
    max_retries_per_stage: int = 2
    max_retries_per_scene: int = 4
    pass_score: int = 7
    use_rubric: bool = True
    memory_dir: str | None = None
    run_dir: str | None = None
    context_budget_tokens: int = 600

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def roles_for(mode: Mode, *, use_rubric: bool) -> list[str]:
    """The model roles a run in ``mode`` calls."""
    roles = {"dsr": ["planner", "novelist", "screenwriter"], "dsr-nocot": ["novelist", "screenwriter"]}.get(
        mode, ["screenwriter"]
    )
    return [*roles, "critic"] if use_rubric else roles
