"""Role -> chat model. One loaded local model is shared by every role that uses it in a process."""

from __future__ import annotations

from pathlib import Path

from langchain_core.language_models import BaseChatModel

from dsr.models.settings import ConfigError, RoleConfig, Settings, load_settings


def embedded_backend(settings: Settings) -> str:
    """The engine the embedded provider runs on: ``onnx`` when ONNX Runtime GenAI is installed (int4, about 6x
    transformers' tokens/s here, benchmarks/engines.py), else ``transformers``; llama.cpp only when asked."""
    return embedded_engine(settings)[0]


def embedded_engine(settings: Settings) -> tuple[str, str]:
    """(engine, why): what ``dsr doctor`` shows for every embedded role."""
    from dsr.models import llamacpp, onnx_build

    chosen = settings.embedded_backend
    if chosen == "llamacpp" and not llamacpp.available():
        raise ConfigError(
            "embedded_backend = 'llamacpp' but llama-cpp-python is not installed; "
            "run .venv/bin/pip install '.[llamacpp]' or set DSR_EMBEDDED_BACKEND=onnx"
        )
    if chosen == "onnx" and not onnx_build.available():
        raise ConfigError(
            "embedded_backend = 'onnx' but onnxruntime-genai is not installed; "
            "run .venv/bin/pip install -e . or set DSR_EMBEDDED_BACKEND=transformers"
        )
    if chosen != "auto":
        return chosen, "set by DSR_EMBEDDED_BACKEND / embedded_backend"
    if onnx_build.available():
        return "onnx", "auto: onnxruntime-genai is installed (int4, the fastest CPU engine measured)"
    return "transformers", "auto: onnxruntime-genai is not installed"


def validate_role(role: str, settings: Settings) -> None:
    """Configuration checks that need no model load or connection (run before a job writes anything)."""
    cfg = settings.role(role)
    if cfg.provider == "openai":
        from dsr.models.openai_provider import build_openai

        build_openai(role, cfg)
    elif cfg.provider == "hf" and not cfg.model:
        raise ConfigError(f"role '{role}' uses provider hf but has no model; set DSR_{role.upper()}__MODEL")
    elif cfg.provider == "embedded":
        if embedded_backend(settings) != "llamacpp":
            from dsr.models.weights import gguf_path

            gguf_path()
        if cfg.adapter and not (Path(cfg.adapter).expanduser() / "adapter_config.json").is_file():
            raise ConfigError(
                f"role '{role}': adapter '{cfg.adapter}' is not a saved PEFT adapter (no adapter_config.json)"
            )


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

    engine = embedded_backend(settings)
    adapter = Path(cfg.adapter).expanduser().resolve() if cfg.adapter else None
    if engine == "llamacpp":
        if adapter is not None:
            raise ConfigError(
                "the llama.cpp embedded backend takes no adapter; set DSR_EMBEDDED_BACKEND=onnx"
            )
        from dsr.models.llamacpp import LlamaCppChatModel, load_llama

        return LlamaCppChatModel(llama=load_llama(weights.gguf_path()), config=cfg)
    path = weights.ensure_embedded_safetensors(settings.cache_dir)
    name = weights.EMBEDDED_ID + (f"+{adapter.name}" if adapter else "")
    if engine == "onnx":
        from dsr.models.onnx_build import ensure_onnx_model
        from dsr.models.onnx_chat import OnnxChatModel
        from dsr.models.onnx_engine import load_onnx

        onnx_dir = ensure_onnx_model(settings.cache_dir, path, adapter)
        return OnnxChatModel(loaded=load_onnx(onnx_dir, path, name), config=cfg, provider="embedded")
    from dsr.models.local_chat import LocalChatModel

    loaded = weights.load_transformers(str(path), adapter=str(adapter) if adapter else None, device="cpu")
    loaded.name = name
    return LocalChatModel(loaded=loaded, config=cfg, provider="embedded")
