"""Runtime context (LangGraph ``context_schema``): how a run behaves, not what it has written.

Context is not checkpointed; ``dsr write`` stores it in ``RUN_DIR/run.json`` so ``dsr resume`` can
rebuild the same context, per-role model configurations included (resolved once when the run starts,
key *names* only). Studio shows these fields as the run's configurable options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypedDict

from langchain_core.language_models import BaseChatModel
from pydantic.json_schema import SkipJsonSchema

from dsr.contract.resources import RunResources
from dsr.models.settings import RoleConfig, load_settings

Mode = Literal["dsr", "dsr-nocot", "e2e"]
ReviewPoint = Literal["directives", "prose", "scene"]
MODES: tuple[Mode, ...] = ("dsr", "dsr-nocot", "e2e")
REVIEW_POINTS: tuple[ReviewPoint, ...] = ("directives", "prose", "scene")

#: (role, its configuration) -> chat model; tests pass a scripted one through the context.
ModelFactory = Callable[[str, RoleConfig], BaseChatModel]


@dataclass(kw_only=True)
class RunContext:
    """Behaviour of one run.

    ``mode``: ``dsr`` (planner -> novelist -> screenwriter), ``dsr-nocot`` (no planner) or ``e2e`` (one
    call X -> S, the paper's direct-generation baseline). ``review``: where a human approves. ``roles``:
    each role's RoleConfig dump as resolved when the run started (empty: resolve from the environment).
    ``model_factory``: builds the models instead of the configured providers (scripted models in tests, or
    any caller's own); ``resources``: the run's models, story memory and caches (contract/resources.py), made
    by the run driver for each run. Neither is stored, compared or shown to Studio.
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
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Not an option Studio can show or set (no JSON schema for a callable).
    model_factory: SkipJsonSchema[ModelFactory | None] = field(default=None, compare=False, repr=False)
    resources: SkipJsonSchema[RunResources | None] = field(default=None, compare=False, repr=False)

    def role_config(self, role: str) -> RoleConfig:
        """The run's configuration of ``role``; one the run did not record is resolved now."""
        stored = self.roles.get(role)
        return RoleConfig.model_validate(stored) if stored is not None else load_settings().role(role)

    def to_dict(self) -> dict[str, Any]:
        """What run.json keeps: every setting, not the model factory or the run's resources."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name not in _NOT_STORED}


_NOT_STORED = frozenset({"model_factory", "resources"})


def _plain(value: Any) -> Any:
    """A copy of a setting as ``dataclasses.asdict`` would make it (lists and dicts copied, deep)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class RetryCaps(TypedDict):
    max_retries_per_stage: int
    max_retries_per_scene: int


def retry_caps(max_retries: int) -> RetryCaps:
    """``--max-retries N``: N reruns per stage and twice that per scene (README), as context fields."""
    return {"max_retries_per_stage": max_retries, "max_retries_per_scene": 2 * max_retries}


def roles_for(mode: Mode, *, use_rubric: bool, memory: bool = True) -> list[str]:
    """The model roles a run in ``mode`` calls (``memory``: fact extraction at commit and the continuity
    check, in every run with a story memory)."""
    roles = {"dsr": ["planner", "novelist", "screenwriter"], "dsr-nocot": ["novelist", "screenwriter"]}.get(
        mode, ["screenwriter"]
    )
    return [*roles, *(["critic"] if use_rubric else []), *(["memory"] if memory else [])]


def resolve_roles(
    roles: list[str], overrides: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Each role's configuration from ``DSR_*`` / ``dsr.toml`` now (plus ``overrides``), as stored in run.json.

    RoleConfig holds the *name* of the key's environment variable, never the key.
    """
    settings = load_settings()
    resolved = {}
    for role in roles:
        data = settings.role(role).model_dump(mode="json") | (overrides or {}).get(role, {})
        resolved[role] = RoleConfig.model_validate(data).model_dump(mode="json")
    return resolved


def role_changes(stored: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]) -> list[str]:
    """'role.setting: old -> new' for every setting that differs (any change counts), in the roles the run
    recorded: a role it did not record (a run started before the role existed) is resolved when called."""
    changes = []
    for role in sorted(set(stored) & set(now)):
        before, after = stored.get(role, {}), now.get(role, {})
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                changes.append(f"{role}.{key}: {before.get(key)!r} -> {after.get(key)!r}")
    return changes
