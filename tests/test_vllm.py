"""vLLM (CPU build, its own venv ``.venv-vllm``: ``make venv-vllm``) as the serving engine of a Stage 1 model.

One vLLM server per module, started as docs/feasibility.md section 8 measured it, with the ``dsr train`` LoRA
adapter of tests/stage1_adapter.py as ``stage1`` beside the base model ``smol``:

- an episode scene with planner + novelist = the adapter in split mode (both halves as assistant-prefix
  continuations) and screenwriter + critic = the base, JSON answers through vLLM's json_schema support;
- one synthesis teacher step at concurrency 8;
- start-up time and tokens/s against the embedded provider on the same weights, printed and written to
  ``$DSR_VLLM_RESULTS`` when set (``benchmarks/vllm.py`` measures the same over more prompts).

Run by ``make test-vllm`` (``DSR_TEST_VLLM=1``), not by ``make test``; CI (``.ci/run``) runs both, building
``.venv-vllm`` in the background while ``make test`` runs. Without ``.venv-vllm`` the module is skipped, with
the command that installs it, except under CI or ``make test-vllm``, where that fails. Kept cheap for CI: one
server for the module, and the smallest token budgets under which each check still means something.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from dsr.contract.call_log import read_call_log
from tests.servers import VENV_BIN, free_port, is_user_setting, stop_group
from tests.stage1_adapter import stage1_adapter  # noqa: F401 - a fixture

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
STARTUP_LIMIT_S = 900  # measured 85 s on a quiet 2-core machine; CI machines are shared
LORA_RANK = 16  # tests/test_training.py's SMOKE lora_r
# 2048 (docs/feasibility.md) refuses the longest synthesis prompts of the corpus (HTTP 400); the 1 GiB KV cache
# (VLLM_CPU_KVCACHE_SPACE=1) holds 46,592 tokens, so 4096 costs nothing.
MAX_MODEL_LEN = 4096
# Greedy tokens per side for the tok/s ratio: decoding dominates at 48 (the prompt is 30 tokens), and the
# embedded side (~3.5 tok/s) is the slow one. benchmarks/vllm.py measures it over more prompts and rounds.
TOKS_TOKENS = 48


def vllm_command(model: str, port: int, adapter: Path | None = None, *, rank: int = LORA_RANK) -> list[str]:
    """The server command (the ``vllm`` console script fails in vllm-cpu: the distribution is not named vllm)."""
    command = [
        str(VLLM_PYTHON),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model,
        "--served-model-name",
        "smol",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-model-len",
        str(MAX_MODEL_LEN),
        "--dtype",
        "bfloat16",
        "--enforce-eager",
        # usage reports prefix-cache hits (calls.jsonl's cached_tokens); JSON without free whitespace, as the SFT
        # targets and our own grammars write it (else the small model pads its objects with newlines)
        "--enable-prompt-tokens-details",
        "--structured-outputs-config",
        '{"backend": "xgrammar", "disable_any_whitespace": true}',
    ]
    if adapter is not None:
        command += ["--enable-lora", "--lora-modules", f"stage1={adapter}", "--max-lora-rank", str(rank)]
    return command


VLLM_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
}


@dataclass
class VllmServer:
    base_url: str
    startup_s: float
    log: Path
    command: list[str]
    results: dict[str, Any] = field(default_factory=dict)


def require_vllm() -> None:
    if VLLM_PYTHON.exists():
        return
    message = f"{VLLM_PYTHON} not found: `make venv-vllm` installs vLLM's CPU build in its own venv, then `make test-vllm`"
    if os.environ.get("CI") or os.environ.get("DSR_TEST_VLLM"):
        pytest.fail(message)
    pytest.skip(message)


def start_vllm(command: list[str], port: int, log: Path) -> tuple[subprocess.Popen, float]:
    """Start the server (its log to a file: vLLM writes a lot, a pipe nobody reads would block it); returns
    the process and the seconds until ``/v1/models`` answered."""
    started = time.monotonic()
    handle = log.open("w", encoding="utf-8")
    proc = subprocess.Popen(
        command,
        env={**os.environ, **VLLM_ENV},
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    handle.close()
    while time.monotonic() - started < STARTUP_LIMIT_S:
        if proc.poll() is not None:
            raise RuntimeError(
                f"vLLM exited with {proc.returncode} while starting:\n{log.read_text()[-4000:]}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return proc, time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_vllm(proc)
    raise TimeoutError(f"vLLM did not answer within {STARTUP_LIMIT_S} s:\n{log.read_text()[-4000:]}")


def stop_vllm(proc: subprocess.Popen) -> None:
    stop_group(proc, grace=60)


@pytest.fixture(scope="module")
def vllm_server(stage1_adapter, embedded_settings, tmp_path_factory) -> Iterator[VllmServer]:
    require_vllm()
    from dsr.models.weights import ensure_embedded_safetensors

    base = str(ensure_embedded_safetensors(embedded_settings.cache_dir))
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    command = vllm_command(base, port, stage1_adapter)
    proc, startup = start_vllm(command, port, log)
    server = VllmServer(f"http://127.0.0.1:{port}/v1", round(startup, 1), log, command)
    try:
        yield server
    finally:
        stop_vllm(proc)
        server.results["startup_s"] = server.startup_s
        print(f"\nvLLM results: {json.dumps(server.results)}")
        if target := os.environ.get("DSR_VLLM_RESULTS"):
            Path(target).write_text(json.dumps(server.results, indent=1) + "\n", encoding="utf-8")


def test_serves_base_and_adapter(vllm_server):
    models = httpx.get(f"{vllm_server.base_url}/models", timeout=10).json()
    assert {m["id"] for m in models["data"]} >= {"smol", "stage1"}
    assert vllm_server.startup_s < STARTUP_LIMIT_S


def _role_env(server: VllmServer, role: str, model: str, max_new_tokens: int, **extra: str) -> dict[str, str]:
    prefix = f"DSR_{role.upper()}__"
    return {
        prefix + "PROVIDER": "openai",
        prefix + "BASE_URL": server.base_url,
        prefix + "MODEL": model,
        prefix + "MAX_RETRIES": "0",
        prefix + "TIMEOUT_S": "900",
        prefix + "MAX_NEW_TOKENS": str(max_new_tokens),
        prefix + "STRUCTURED": "json_schema",
        prefix + "TEMPERATURE": "0",
        **{prefix + k: v for k, v in extra.items()},
    }


EPISODE = """title: Harbor Lights
series: harbor-lights-vllm
episode: 1
characters:
  - name: MARA
    profile: Lighthouse keeper, 60s, dry humour, hides failing eyesight.
scenes:
  - outline: Mara finds a stranger washed up below the lighthouse and hides him from the harbour master.
"""


def test_episode_with_the_adapter_in_split_mode_and_the_base_for_stage2(vllm_server, tmp_path):
    episode = tmp_path / "ep.yaml"
    episode.write_text(EPISODE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not is_user_setting(k)}
    env |= _role_env(vllm_server, "planner", "stage1", 640)  # a strict schema: every field written
    env |= _role_env(vllm_server, "novelist", "stage1", 96, PROMPT="stage1")
    env |= _role_env(vllm_server, "screenwriter", "smol", 128)
    env |= _role_env(vllm_server, "critic", "smol", 320)
    # the story memory's fact extraction at commit (and any continuity check): the base on vLLM too, briefly; a
    # failed extraction costs the scene only its facts. Left at its default it would run the embedded model for
    # up to 640 tokens in the dsr process, the slowest call of the scene.
    env |= _role_env(vllm_server, "memory", "smol", 96)
    run = tmp_path / "run"
    started = time.monotonic()
    result = subprocess.run(
        [str(VENV_BIN / "dsr"), "write", str(episode), "-o", str(run), "--max-retries", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    vllm_server.results["episode_scene_s"] = round(time.monotonic() - started, 1)
    assert result.returncode == 0, result.stderr[-3000:]
    calls = read_call_log(run / "calls.jsonl")
    halves = [c for c in calls if c.get("split")]
    assert [(c["role"], c["split"]) for c in halves] == [("planner", "directives"), ("novelist", "novel")]
    assert halves[0]["answer"] == halves[1]["answer"] and all(c["ok"] for c in halves)
    assert {c["model"] for c in calls if c["role"] in ("planner", "novelist")} == {"stage1"}
    assert {c["model"] for c in calls if c["role"] in ("screenwriter", "critic", "memory")} == {"smol"}
    scene = run / "scenes" / "01"
    directives = json.loads((scene / "directives.json").read_text())
    assert "error" not in directives and directives["characters"], directives  # json_schema held the plan
    answer = (scene / "stage1_answer.txt").read_text()
    assert answer.startswith("<directives>{") and "</directives>\n<novel>" in answer
    report = json.loads((run / "report.json").read_text())
    vllm_server.results["episode_calls"] = len(calls)
    vllm_server.results["prefix_cached_tokens"] = halves[1].get("cached_tokens", 0)
    assert report["scenes"][0]["status"] in {"passed", "accepted_with_findings", "unjudged"}, report[
        "scenes"
    ][0]


def test_the_critics_rubric_on_the_base_through_json_schema(vllm_server):
    """The critic's rubric call for real on vLLM: the episode above never reaches it (the adapter's plan fails the
    rule checks first), so the critic role's model judges a scene that passes them, with ``response_format``
    json_schema: vLLM's guided decoding holds the verdict to the schema (a semantic rule may still take its one
    repair turn), and the tally says which mechanism was used."""
    from dsr.judging.rubric import judge_scene
    from dsr.models.factory import get_chat_model
    from dsr.models.settings import load_settings
    from dsr.models.structured import counting, tally
    from dsr.story.schemas import TaskInput

    data = ROOT / "tests" / "data" / "critic"
    x = TaskInput.model_validate(json.loads((data / "scene.json").read_text()))
    critic = {
        "provider": "openai",
        "base_url": vllm_server.base_url,
        "model": "smol",
        "structured": "json_schema",
        "temperature": 0.0,
        "max_new_tokens": 320,
        "max_retries": 0,
        "timeout_s": 900,
    }
    model = get_chat_model("critic", load_settings(critic=critic))
    with counting() as events:
        result = judge_scene(model, x, (data / "good_scene.fountain").read_text())
    figures = tally(events)["critic"]
    assert figures["mechanisms"] == {"json_schema": 1} and figures["truncations"] == 0, figures
    assert not result.failures and len(result.verdicts) == 1, [f.reason for f in result.failures]
    assert 1 <= result.verdicts[0].score <= 12 and result.verdicts[0].rationale.strip()
    vllm_server.results["critic_rubric"] = {**figures, "score": result.verdicts[0].score}


def test_synthesis_teacher_step_at_concurrency_8(vllm_server, corpus_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if not is_user_setting(k)}
    env |= _role_env(vllm_server, "teacher", "smol", 16)  # concurrency is the point, not the answers
    out = tmp_path / "data"
    started = time.monotonic()
    result = subprocess.run(
        [
            str(VENV_BIN / "dsr"),
            "synthesize",
            str(corpus_dir),
            "-o",
            str(out),
            "--limit",
            "8",
            "--concurrency",
            "8",
            "--max-repairs",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    sheet = json.loads((out / "datasheet.json").read_text())
    usage = sheet["teacher_usage"]
    assert usage["calls"] >= 8 and usage["failures"] == 0 and usage["output_tokens"] > 0, usage
    vllm_server.results["synthesis"] = {
        "scenes": 8,
        "concurrency": 8,
        "seconds": round(seconds, 1),
        "teacher_calls": usage["calls"],
    }


def test_tokens_per_second_against_the_embedded_provider(vllm_server, embedded_settings):
    """Greedy generation of the same prompt on the same weights: vLLM (CPU) tok/s ÷ embedded tok/s, both on one
    torch thread (vLLM's CPU server serves on one)."""
    from benchmarks.vllm import measure_embedded, measure_endpoint

    prompts = ["Write one paragraph about a lighthouse keeper who finds a stranger on the rocks."]
    served = measure_endpoint(vllm_server.base_url, "smol", prompts, max_tokens=TOKS_TOKENS)
    local = measure_embedded(prompts, max_tokens=TOKS_TOKENS)
    assert served["output_tokens"] > 0 and local["output_tokens"] > 0
    vllm_server.results["tokens_per_s"] = {
        "vllm": served["tok_s"],
        "embedded": local["tok_s"],
        "ratio": round(served["tok_s"] / local["tok_s"], 2),
    }
