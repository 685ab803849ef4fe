"""Shared fixtures: the real corpus beside the project, offline switches for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("DSR_CORPUS", ROOT.parent / "shared" / "corpus"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"corpus not found at {CORPUS}: clone with ../shared beside the project or set DSR_CORPUS")
    return CORPUS


def corpus_files(suffix: str) -> list[Path]:
    """Corpus files by extension, for parametrised tests (collected at import time)."""
    return sorted(CORPUS.glob(f"*{suffix}")) if CORPUS.is_dir() else []


@pytest.fixture(scope="session")
def embedded_settings():
    """Default settings (every role embedded), isolated from any dsr.toml in the working directory."""
    os.environ.pop("DSR_CONFIG", None)
    from models.settings import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def embedded_model(embedded_settings):
    """The real embedded model, loaded once for the whole session (greedy, short outputs)."""
    from models.factory import get_chat_model

    return get_chat_model("critic", embedded_settings)
