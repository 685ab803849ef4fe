"""Per-role configuration: defaults, environment, dsr.toml, and one-line errors for bad settings."""

from __future__ import annotations

import pytest

from dsr.models.settings import ROLES, ConfigError, load_settings
from tests.servers import is_user_setting


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for key in list(__import__("os").environ):
        if is_user_setting(key):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_every_role_defaults_to_embedded():
    settings = load_settings()
    assert [settings.role(r).provider for r in ROLES] == ["embedded"] * 7
    assert settings.role("judge").temperature <= 0.2 < settings.role("novelist").temperature


def test_env_overrides_one_role_and_keeps_role_defaults(monkeypatch):
    monkeypatch.setenv("DSR_NOVELIST__PROVIDER", "openai")
    monkeypatch.setenv("DSR_NOVELIST__MODEL", "stage1-ft")
    monkeypatch.setenv("DSR_NOVELIST__BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("DSR_CRITIC__MAX_NEW_TOKENS", "99")
    settings = load_settings()
    assert settings.novelist.provider == "openai" and settings.novelist.model == "stage1-ft"
    assert settings.screenwriter.provider == "embedded"
    assert settings.critic.max_new_tokens == 99 and settings.critic.temperature == 0.1


def test_toml_file_and_env_precedence(monkeypatch, tmp_path):
    (tmp_path / "dsr.toml").write_text(
        '[screenwriter]\nprovider = "openai"\nmodel = "gpt-x"\napi_key_env = "MY_KEY"\n[judge]\ntop_p = 0.5\n'
    )
    monkeypatch.setenv("DSR_SCREENWRITER__MODEL", "from-env")
    settings = load_settings()
    assert settings.screenwriter.provider == "openai"
    assert settings.screenwriter.model == "from-env"
    assert settings.judge.top_p == 0.5 and settings.judge.temperature == 0.1


def test_malformed_toml_is_one_line(tmp_path):
    (tmp_path / "dsr.toml").write_text("[novelist\nprovider = 'openai'\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "dsr.toml" in message and "not valid TOML" in message and "\n" not in message


def test_unknown_provider_names_setting_and_fix(monkeypatch):
    monkeypatch.setenv("DSR_PLANNER__PROVIDER", "anthropic")
    with pytest.raises(ConfigError, match=r"planner\.provider.*embedded, openai or hf"):
        load_settings()


def test_unknown_role_in_toml(tmp_path):
    (tmp_path / "dsr.toml").write_text('[director]\nprovider = "openai"\n')
    with pytest.raises(ConfigError, match="director.*unknown role"):
        load_settings()


def test_role_lookup_rejects_unknown_role(tmp_path):
    with pytest.raises(ConfigError, match="unknown role 'director'"):
        load_settings().role("director")


def test_missing_config_file_named_by_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DSR_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="DSR_CONFIG points to .*nope.toml"):
        load_settings()


def test_public_dict_never_holds_the_key(monkeypatch):
    monkeypatch.setenv("DSR_JUDGE__PROVIDER", "openai")
    monkeypatch.setenv("DSR_JUDGE__MODEL", "m")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    public = load_settings().judge.public_dict()
    assert public["api_key"] == "set" and "sk-secret-123" not in repr(public)
    assert "sk-secret-123" not in load_settings().model_dump_json()


def test_openai_role_without_key_is_a_config_error(monkeypatch):
    from dsr.models.factory import get_chat_model

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("DSR_SCREENWRITER__PROVIDER", "openai")
    monkeypatch.setenv("DSR_SCREENWRITER__MODEL", "gpt-x")
    with pytest.raises(ConfigError, match=r"\$OPENAI_API_KEY is not set"):
        get_chat_model("screenwriter")
    monkeypatch.setenv("DSR_SCREENWRITER__BASE_URL", "http://127.0.0.1:9/v1")
    assert get_chat_model("screenwriter").openai_api_base == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "DSR_NOVLIST__PROVIDER",
            r"DSR_NOVLIST__PROVIDER names unknown role 'novlist'.*did you mean DSR_NOVELIST__PROVIDER\?",
        ),
        ("dsr_scrénwriter__model", r"unknown role 'scrénwriter'.*did you mean DSR_SCREENWRITER__MODEL\?"),
        ("DSR_DIRECTOR__MODEL", r"unknown role 'director' \(roles: planner, novelist"),
        (
            "DSR_NOVELIST_PROVIDER",
            r"DSR_NOVELIST_PROVIDER is not read; did you mean DSR_NOVELIST__PROVIDER\?",
        ),
    ],
)
def test_misspelled_role_in_env_is_refused_with_the_right_name(monkeypatch, key, expected):
    """pydantic-settings would silently skip these, leaving the role on its defaults."""
    monkeypatch.setenv(key, "openai")
    with pytest.raises(ConfigError, match=expected) as info:
        load_settings()
    assert "\n" not in str(info.value)


def test_other_dsr_variables_are_left_alone(monkeypatch):
    for key in ("DSR_CONFIG_DIR_NOTE", "DSR_JUDGE_KEY", "DSR_CORPUS", "DSR_CACHE_DIR"):
        monkeypatch.setenv(key, "x")
    assert load_settings().judge.provider == "embedded"
