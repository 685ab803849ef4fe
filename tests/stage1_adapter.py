"""One tiny ``dsr train --merge`` LoRA run per test session, for the tests that need a real adapter directory
(export, vLLM): one optimizer step (one that changes the model: see TINY) of tests/test_training.py's smoke
configuration, through the CLI, kept under the session's base temporary directory and reused by every module
that asks (each module importing the fixture gets its own fixture instance; the directory on disk is what
they share)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.servers import VENV_BIN, is_user_setting
from tests.test_training import SMOKE

# One step, without warmup, at 8x SMOKE's rate: LoRA's B starts at zero, and a first step at warmup's rate 0
# (the default 10 % of one step rounds up to one) left the model unchanged. Adam's first step moves every
# element of B by the rate, enough to carry the merged bf16 weights well past their rounding, so base, adapter
# and merged model are told apart (tests/test_export.py); a second step would cost ~50 s on a loaded CPU.
TINY = SMOKE | {
    "max_steps": 1,
    "warmup_ratio": 0.0,
    "learning_rate": 4e-3,
    "eval_steps": 1,
    "save_steps": 1,
    "samples": 0,
}


@pytest.fixture(scope="session")
def stage1_adapter(synthesis_data, tmp_path_factory) -> Path:
    """A finished LoRA run (rank 16, all linear layers) on the embedded SmolLM2 base, with ``merged/`` beside
    its adapter (``--merge``)."""
    from dsr.models.weights import TRAIN_MARKER

    # CI (.ci/run) names one directory for both of its pytest sessions, so that `make test-vllm` serves the
    # adapter `make test` trained (test_export.py) instead of training it again.
    shared = os.environ.get("DSR_TEST_ADAPTER_DIR")
    out = Path(shared) if shared else tmp_path_factory.getbasetemp() / "stage1-adapter"
    if not (out / TRAIN_MARKER).is_file():
        config = tmp_path_factory.getbasetemp() / "stage1-adapter.yml"
        config.write_text(json.dumps(TINY), encoding="utf-8")  # JSON is valid YAML
        env = {k: v for k, v in os.environ.items() if not is_user_setting(k)}
        result = subprocess.run(
            [
                str(VENV_BIN / "dsr"),
                "train",
                str(synthesis_data[0]),
                "-o",
                str(out),
                "--config",
                str(config),
                "--merge",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    return out
