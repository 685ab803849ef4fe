"""Role -> chat model. One loaded local model is shared by every role that uses it in a process."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from dsr.models.settings import ConfigError, RoleConfig, Settings, load_settings


def embedded_backend(settings: Settings) -> str:
    from dsr.models import llamacpp

    if settings.embedded_backend == "llamacpp" and not llamacpp.available():
        raise ConfigError(
            "embedded_backend = 'llamacpp' but llama-cpp-python is not installed; "
            "run .venv/bin/pip install '.[llamacpp]' or set DSR_EMBEDDED_BACKEND=transformers"
        )
    if settings.embedded_backend == "auto":
        return "llamacpp" if llamacpp.available() else "transformers"
    return settings.embedded_backend


def validate_role(role: str, settings: Settings) -> None:
    """Configuration checks that need no model load or connection (run before a job writes anything)."""
    cfg = settings.role(role)
    if cfg.provider == "openai":
        from dsr.models.openai_provider import build_openai

        build_openai(role, cfg)
    elif cfg.provider == "hf" and not cfg.model:
        raise ConfigError(f"role '{role}' uses provider hf but has no model; set DSR_{role.upper()}__MODEL")
    elif cfg.provider == "embedded" and embedded_backend(settings) == "transformers":
        from dsr.models.weights import gguf_path

        gguf_path()


def get_chat_model(role: str, settings: Settings | None = None) -> BaseChatModel:
    """Build the chat model configured for ``role`` (planner, novelist, screenwriter, critic, judge, teacher),
    named after the role: traces show it, and structured-output tallies count per role by it."""
    settings = settings or load_settings()
    return build_chat_model(role, settings.role(role), settings)


def build_chat_model(role: str, cfg: RoleConfig, settings: Settings | None = None) -> BaseChatModel:
    """The chat model for one role's configuration (a run's recorded one); ``settings`` give the
    process-wide embedded backend and weights cache."""
    model = _build(role, cfg, settings or load_settings())
    model.name = role
    return model


def _build(role: str, cfg: RoleConfig, settings: Settings) -> BaseChatModel:
    if cfg.provider == "openai":
        from dsr.models.openai_provider import build_openai

        return build_openai(role, cfg)
    if cfg.provider == "hf":
        if not cfg.model:
            raise ConfigError(
                f"role '{role}' uses provider hf but has no model; set DSR_{role.upper()}__MODEL"
            )
        from dsr.models.local_chat import LocalChatModel
        from dsr.models.weights import load_transformers

        loaded = load_transformers(cfg.model, adapter=cfg.adapter, device=cfg.device)
        return LocalChatModel(loaded=loaded, config=cfg, provider="hf")
    return _embedded(cfg, settings)


def _embedded(cfg: RoleConfig, settings: Settings) -> BaseChatModel:
    from dsr.models import weights

    if embedded_backend(settings) == "llamacpp":
        from dsr.models.llamacpp import LlamaCppChatModel, load_llama

        return LlamaCppChatModel(llama=load_llama(weights.gguf_path()), config=cfg)
    from dsr.models.local_chat import LocalChatModel

    path = weights.ensure_embedded_safetensors(settings.cache_dir)
    loaded = weights.load_transformers(str(path), device="cpu")
    loaded.name = weights.EMBEDDED_ID
    return LocalChatModel(loaded=loaded, config=cfg, provider="embedded")
