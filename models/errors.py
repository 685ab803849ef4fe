"""Model endpoint failures, translated into messages that name the setting and the fix."""

from __future__ import annotations

from dsr.common.errors import BadInput
from dsr.models.settings import RoleConfig


class ModelUnavailable(BadInput):
    """A role's model could not be reached or refused the request after its retries."""


def endpoint_failure(role: str, cfg: RoleConfig, exc: BaseException) -> ModelUnavailable | None:
    """A :class:`ModelUnavailable` for connection, timeout, auth and server errors; None for anything else."""
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai depends on openai
        return None
    env = f"DSR_{role.upper()}"
    where = cfg.base_url or "the default OpenAI endpoint"
    if isinstance(exc, openai.APITimeoutError):
        return ModelUnavailable(
            f"role '{role}': {where} timed out after {cfg.max_retries} retries; raise {env}__TIMEOUT_S or check the server"
        )
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailable(
            f"role '{role}': cannot reach {where}; start the server or fix {env}__BASE_URL"
        )
    if isinstance(exc, openai.AuthenticationError):
        return ModelUnavailable(
            f"role '{role}': {where} rejected the key in ${cfg.api_key_env}; export a valid key"
        )
    if isinstance(exc, openai.NotFoundError):
        return ModelUnavailable(
            f"role '{role}': {where} does not serve model '{cfg.model}'; fix {env}__MODEL"
        )
    if isinstance(exc, openai.APIStatusError):
        return ModelUnavailable(
            f"role '{role}': {where} kept failing (HTTP {exc.status_code}) after {cfg.max_retries} retries"
        )
    return None
