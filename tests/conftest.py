"""Shared fixtures: the real corpus beside the project, offline switches for every test, and the expensive
parts that several modules share (one served real model, one synthesis data set per session)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.backing_servers import chroma_url, postgres_url  # noqa: F401  (session fixtures: real servers)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Tests see the bare embedded base unless they turn the shipped adapters on (tests/test_shipped_adapters.py):
# what a test expects of the base should not change when the adapters are retrained. Kept by every dsr a test
# starts (tests/servers.py HARNESS_SETTINGS).
os.environ.setdefault("DSR_EMBEDDED_ADAPTERS", "false")
# Under pytest-xdist every worker (and every dsr subprocess it starts) runs torch on one thread: two
# workers on two cores, instead of each spinning two threads against the other.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("DSR_CORPUS", ROOT / "data" / "corpus"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(
            f"corpus not found at {CORPUS}: the repository carries it in data/corpus (or set DSR_CORPUS)"
        )
    return CORPUS


def corpus_files(suffix: str) -> list[Path]:
    """Corpus files by extension, for parametrised tests (collected at import time).

    Without the corpus an empty list would skip those tests silently; one missing path makes each of them
    fail instead, naming where the corpus was expected.
    """
    if not CORPUS.is_dir():
        return [CORPUS / f"corpus-not-found{suffix}"]
    return sorted(CORPUS.glob(f"*{suffix}"))


@pytest.fixture(scope="session")
def embedded_settings():
    """Default settings (every role embedded), isolated from any dsr.toml in the working directory."""
    os.environ.pop("DSR_CONFIG", None)
    from dsr.models.settings import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def embedded_model(embedded_settings):
    """The real embedded model, loaded once for the whole session (greedy, short outputs)."""
    from dsr.models.factory import get_chat_model

    return get_chat_model("critic", embedded_settings)


@dataclass(frozen=True)
class ServedModel:
    """A model behind an OpenAI-compatible endpoint: its base URL, served name and request log."""

    base_url: str
    name: str
    log: Path

    def env(self, *roles: str, max_new_tokens: int = 48) -> dict[str, str]:
        """Settings that point ``roles`` at this endpoint (no retries: a failure shows at once)."""
        out: dict[str, str] = {}
        for role in roles:
            prefix = f"DSR_{role.upper()}__"
            out |= {
                prefix + "PROVIDER": "openai",
                prefix + "BASE_URL": self.base_url,
                prefix + "MODEL": self.name,
                prefix + "MAX_RETRIES": "0",
                prefix + "MAX_NEW_TOKENS": str(max_new_tokens),
                prefix + "TIMEOUT_S": "600",  # one process answers every role in turn, on a shared CPU
            }
        return out


@pytest.fixture(scope="session")
def model_server(tmp_path_factory) -> Iterator[ServedModel]:
    """The real embedded model behind ``dsr serve``'s app, loaded once for the session and shared by the
    end-to-end subprocesses (each would otherwise load it again); every request is logged for prompt checks."""
    from tests.servers import served_chat_model

    log = tmp_path_factory.mktemp("served") / "requests.jsonl"
    with served_chat_model("tests.served_models:embedded_model", "smol", 0, log=log, timeout=300) as url:
        # One token first, so the weights are loaded before any test's run is timed.
        body = {"model": "smol", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
        httpx.post(f"{url}/chat/completions", json=body, timeout=600).raise_for_status()
        log.unlink(missing_ok=True)
        yield ServedModel(url, "smol", log)


@pytest.fixture(scope="session")
def synthesis_data(tmp_path_factory, corpus_dir) -> tuple[Path, dict]:
    """One synthesis run of the whole corpus with the rule-based teacher, shared read-only by the synthesis
    and training tests: (data directory, datasheet)."""
    from dsr.synthesis.pipeline import synthesize
    from tests.test_synthesis import scripted_factory

    out = tmp_path_factory.mktemp("synthesis-data")
    return out, synthesize(corpus_dir, out, scripted_factory())
