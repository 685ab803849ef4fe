"""The ``openai`` provider: any OpenAI-compatible endpoint (hosted API, vLLM, llama.cpp server, Ollama)."""

from __future__ import annotations

from functools import cache
from typing import Any

from dsr.models.settings import ConfigError, RoleConfig, StructuredMode

# Local servers (vLLM, llama.cpp, Ollama, `dsr serve`) accept any key; hosted APIs need a real one.
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "0.0.0.0")


def is_local(base_url: str | None) -> bool:
    return base_url is not None and any(f"//{host}" in base_url for host in _LOCAL_HOSTS)


# (base_url, model) -> the mode an ``auto`` role fell back to after the endpoint rejected a stronger one.
# Process-wide on purpose: what an endpoint accepts is a fact about it (a function of the key), so a later run
# or client does not spend a rejected request to learn it again; bounded by the endpoints configured.
_FALLBACKS: dict[tuple[str | None, str], StructuredMode] = {}
_WEAKER: dict[str, StructuredMode] = {"json_schema": "json_object", "json_object": "prompt"}


def structured_mode(model: Any) -> StructuredMode:
    """The ``response_format`` this model's JSON calls use now: its role's setting, or for ``auto`` the
    strongest mode the endpoint has not rejected in this process."""
    mode: StructuredMode = getattr(model, "structured", "prompt")
    if mode != "auto":
        return mode
    return _FALLBACKS.get((model.openai_api_base, model.model_name), "json_schema")


def fall_back(model: Any, rejected: StructuredMode) -> StructuredMode | None:
    """After the endpoint refused ``rejected``: the next weaker mode for an ``auto`` role (remembered for the
    process), or None when the role asked for ``rejected`` explicitly (the error is then the user's to see)."""
    if getattr(model, "structured", "prompt") != "auto" or rejected not in _WEAKER:
        return None
    weaker = _FALLBACKS[(model.openai_api_base, model.model_name)] = _WEAKER[rejected]
    return weaker


@cache
def _chat_class() -> type:
    """Defined on first use: importing langchain_openai costs a second that embedded-only runs never pay."""
    from langchain_openai import ChatOpenAI

    class StructuredChatOpenAI(ChatOpenAI):
        structured: StructuredMode = "auto"

    return StructuredChatOpenAI


def build_openai(role: str, cfg: RoleConfig) -> Any:
    """``ChatOpenAI`` with retries and backoff on 429/5xx/timeouts (the openai client's own policy), carrying
    the role's ``structured`` setting for :mod:`dsr.models.structured`."""

    if not cfg.model:
        raise ConfigError(
            f"role '{role}' uses provider openai but has no model; set DSR_{role.upper()}__MODEL or [{role}] model"
        )
    key = cfg.api_key()
    if key is None:
        if not is_local(cfg.base_url):
            raise ConfigError(
                f"role '{role}' uses provider openai but ${cfg.api_key_env} is not set; export it "
                f"or point DSR_{role.upper()}__BASE_URL at a local server"
            )
        key = "not-needed-for-local-server"
    kwargs: dict[str, Any] = {
        "model": cfg.model,
        "base_url": cfg.base_url,
        "api_key": key,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_completion_tokens": cfg.max_new_tokens,
        "timeout": cfg.timeout_s,
        "max_retries": cfg.max_retries,
        "stream_usage": True,
        "structured": cfg.structured,
    }
    if cfg.stop:
        kwargs["stop"] = cfg.stop
    if cfg.seed is not None:
        kwargs["seed"] = cfg.seed
    if cfg.repetition_penalty != 1.0 and is_local(cfg.base_url):
        # vLLM and llama.cpp server honour it; hosted APIs reject unknown parameters.
        kwargs["extra_body"] = {"repetition_penalty": cfg.repetition_penalty}
    return _chat_class()(**kwargs)
