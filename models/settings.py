"""Per-role model configuration from ``DSR_*`` environment variables and ``dsr.toml``.

Precedence (highest first): constructor arguments, environment (``DSR_NOVELIST__PROVIDER=openai``),
the TOML file (``$DSR_CONFIG`` or ``./dsr.toml``), defaults. Every role defaults to the embedded
model so a fresh checkout runs offline. API keys are never stored here: a role names the
*environment variable* that holds its key.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from dsr.common.errors import BadInput

Role = Literal["planner", "novelist", "screenwriter", "critic", "judge", "teacher", "memory"]
ROLES: tuple[Role, ...] = ("planner", "novelist", "screenwriter", "critic", "judge", "teacher", "memory")
Provider = Literal["embedded", "openai", "hf"]


class ConfigError(BadInput):
    """A setting is missing or wrong; the message names the setting and the fix."""


_OUTPUT_SHAPING = (
    "provider",
    "model",
    "adapter",
    "temperature",
    "top_p",
    "max_new_tokens",
    "repetition_penalty",
    "stop",
    "structured",
    "fountain_grammar",
)
StructuredMode = Literal["auto", "json_schema", "json_object", "prompt"]


class RoleConfig(BaseModel):
    """How one role's chat model is built and sampled."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider = "embedded"
    model: str | None = Field(
        default=None, description="openai: served model name; hf: local path or hub id; embedded: unused"
    )
    base_url: str | None = Field(default=None, description="openai: endpoint, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="name of the env var holding the key")
    adapter: str | None = Field(
        default=None,
        description="hf or embedded: path to a PEFT (LoRA) adapter on the model (embedded: on SmolLM2)",
    )
    device: str | None = Field(default=None, description="hf: 'cuda', 'cpu' or None for auto")
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=0.9, gt=0.0, le=1.0)
    max_new_tokens: int = Field(default=512, ge=1, le=32768)
    repetition_penalty: float = Field(default=1.15, ge=1.0, le=2.0)
    stop: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    seed: int | None = None
    structured: StructuredMode = Field(
        default="auto",
        description="JSON answers: auto = the strongest the provider has (a grammar for embedded/hf, json_schema "
        "for openai, falling back when the endpoint rejects it); json_schema, json_object or prompt to force one",
    )
    fountain_grammar: bool | None = Field(
        default=None,
        description="screenwriter: decode under the scene's Fountain grammar (embedded/hf); unset = on for embedded",
    )
    prompt: Literal["default", "stage1"] = Field(
        default="default",
        description="novelist: 'stage1' for a dsr train model (prompts/stage1.md, prose taken from <novel>)",
    )

    def api_key(self) -> str | None:
        """The key from the environment (read late so it never lands in a dump)."""
        return os.environ.get(self.api_key_env) or None

    def output_shaping(self) -> dict[str, Any]:
        """The settings that change what the model answers (timeouts, retries, keys and the endpoint do not):
        what cache keys of model outputs must include."""
        return {key: getattr(self, key) for key in _OUTPUT_SHAPING}

    def public_dict(self) -> dict[str, Any]:
        """Configuration safe to print or store: the key's *variable name* and whether it is set."""
        data = self.model_dump()
        if self.provider == "openai":
            data["api_key"] = "set" if self.api_key() else "missing"
        return data


_ROLE_DEFAULTS: dict[str, dict[str, Any]] = {
    # Judges and critics score; low temperature keeps verdicts stable (DSR-SPEC 5.1: T <= 0.2).
    "critic": {"temperature": 0.1, "max_new_tokens": 384},
    "judge": {"temperature": 0.1, "max_new_tokens": 384},
    "planner": {"temperature": 0.5, "max_new_tokens": 384},
    "teacher": {"temperature": 0.3},
    # Fact extraction at commit and the continuity check: reading, not writing; six facts fit in 640 tokens.
    "memory": {"temperature": 0.1, "max_new_tokens": 640},
}


def _role_field(role: str) -> Any:
    return Field(default_factory=lambda: RoleConfig(**_ROLE_DEFAULTS.get(role, {})))


def config_path() -> Path:
    return Path(os.environ.get("DSR_CONFIG", "dsr.toml"))


class _TomlSource(PydanticBaseSettingsSource):
    """Reads ``dsr.toml``; a malformed file is a :class:`ConfigError`, not a traceback."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_path()
        if not path.exists():
            if "DSR_CONFIG" in os.environ:
                raise ConfigError(f"DSR_CONFIG points to {path}, which does not exist")
            return {}
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc}); fix or remove the file") from None


class Settings(BaseSettings):
    """All model roles plus where the embedded model's converted weights are cached."""

    model_config = SettingsConfigDict(
        env_prefix="DSR_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    planner: RoleConfig = _role_field("planner")
    novelist: RoleConfig = _role_field("novelist")
    screenwriter: RoleConfig = _role_field("screenwriter")
    critic: RoleConfig = _role_field("critic")
    judge: RoleConfig = _role_field("judge")
    teacher: RoleConfig = _role_field("teacher")
    memory: RoleConfig = _role_field("memory")
    cache_dir: Path = Field(
        default_factory=lambda: Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dsr",
        description="converted embedded weights (safetensors) live here",
    )
    embedded_adapters: bool = Field(
        default=True,
        description="the embedded planner, novelist and screenwriter run the LoRA adapters this project trains and "
        "ships (models/adapters: Stage 1, Stage 2); false = the bare SmolLM2 base for every role",
    )
    embedded_backend: Literal["auto", "onnx", "transformers", "llamacpp"] = Field(
        default="auto",
        description="auto = onnx (ONNX Runtime GenAI, int4) when installed, else transformers; llamacpp only when "
        "asked (it cannot continue an assistant prefix)",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _merge_role_defaults(cls, value: Any, info: Any) -> Any:
        if info.field_name in ROLES and isinstance(value, dict):
            return {**_ROLE_DEFAULTS.get(info.field_name, {}), **value}
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @model_validator(mode="after")
    def _shipped_adapters(self) -> Settings:
        """Give the embedded Stage 1 and Stage 2 roles the shipped adapters unless a role names its own adapter
        or prompt, or ``embedded_adapters`` is off. Stage 1 is one model for planner and novelist (split decoding)."""
        if not self.embedded_adapters:
            return self
        for role, stage in SHIPPED_STAGE.items():
            cfg: RoleConfig = getattr(self, role)
            path = shipped_adapter(stage)
            if cfg.provider != "embedded" or "adapter" in cfg.model_fields_set or path is None:
                continue
            cfg.adapter = str(path)
            if role == "novelist" and "prompt" not in cfg.model_fields_set:
                cfg.prompt = "stage1"
        return self

    def role(self, role: str) -> RoleConfig:
        if role not in ROLES:
            raise ConfigError(f"unknown role '{role}'; roles are: {', '.join(ROLES)}")
        return getattr(self, role)


#: The roles that run a shipped adapter by default, and which stage's.
SHIPPED_STAGE: dict[str, int] = {"planner": 1, "novelist": 1, "screenwriter": 2}
ADAPTERS_DIR = Path(__file__).parent / "adapters"


def shipped_adapter(stage: int) -> Path | None:
    """The adapter this project ships for ``stage`` (models/adapters/stageN), or None when it is not there."""
    path = ADAPTERS_DIR / f"stage{stage}"
    return path if (path / "adapter_config.json").is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation problems into one-line :class:`ConfigError` messages."""
    _check_env_roles()
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        hint = _hint(where, first)
        raise ConfigError(f"setting '{where}': {first['msg']}{hint}") from None


def _check_env_roles() -> None:
    """pydantic-settings skips a ``DSR_`` variable whose role it does not know, so a misspelled role
    (``DSR_NOVLIST__PROVIDER``) or a single ``_`` (``DSR_NOVELIST_PROVIDER``) would silently leave the
    role on its defaults; refuse them as a misspelled setting is refused."""
    for key in os.environ:
        name = key.upper()
        if not name.startswith("DSR_"):
            continue
        head, nested, rest = name[4:].partition("__")
        role = head.lower()
        if nested:
            if role not in Settings.model_fields:
                close = difflib.get_close_matches(role, ROLES, n=1)
                fix = f"; did you mean DSR_{close[0].upper()}__{rest}?" if close else ""
                raise ConfigError(
                    f"environment variable {key} names unknown role '{role}' (roles: {', '.join(ROLES)}){fix}"
                )
            continue
        for known in ROLES:
            setting = role.removeprefix(f"{known}_")
            if setting != role and setting in RoleConfig.model_fields:
                raise ConfigError(
                    f"environment variable {key} is not read; did you mean DSR_{known.upper()}__{setting.upper()}? "
                    "(two underscores between role and setting)"
                )


def _hint(where: str, error: ErrorDetails) -> str:
    env = "DSR_" + where.upper().replace(".", "__")
    if error.get("type") == "extra_forbidden":
        head = where.split(".")[0]
        if head not in ROLES and head not in Settings.model_fields:
            return f" (unknown role or setting; roles are: {', '.join(ROLES)})"
        return f" (unknown setting; valid keys: {', '.join(RoleConfig.model_fields)})"
    if error.get("type") == "literal_error" and where.endswith("provider"):
        return f" (use embedded, openai or hf; set {env} or [{where.split('.')[0]}] provider in dsr.toml)"
    return f" (check {env} or dsr.toml)"
