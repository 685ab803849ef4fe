"""Stage 1 fine-tuning for real: SmolLM2-135M on the dataset synthesized from data/corpus.

The loss mask is checked token by token on the exact batches the trainer feeds the model, with and
without packing; a short CPU run must lower the validation NLL on target tokens and write a complete
model directory that the novelist loads through the ``hf`` provider; a run killed with SIGKILL after its
first checkpoint resumes from it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from dsr.models.settings import ConfigError, load_settings
from dsr.training.config import resolve_config
from dsr.training.data import load_stage1
from tests.servers import VENV_BIN, is_user_setting
from tests.test_cli_models import assert_one_line_error, dsr

pytestmark = pytest.mark.slow

SCENE = Path(__file__).parent / "data" / "critic" / "scene.json"
SMOKE = {  # a CPU-sized version of training/configs/cpu_smoke.yaml
    "method": "lora",
    "learning_rate": 5e-4,
    "lr_scheduler": "constant_with_warmup",
    "max_steps": 8,
    "global_batch_size": 1,
    "max_length": 384,
    "precision": "fp32",
    "gradient_checkpointing": False,
    "lora_r": 16,
    "lora_alpha": 32,
    "logging_steps": 1,
    "eval_steps": 8,
    "save_steps": 8,
    "samples": 1,
    "sample_max_new_tokens": 8,
}


@pytest.fixture(scope="module")
def data_dir(synthesis_data) -> Path:
    """The session's synthesis of the corpus with the scripted teacher (split by source and series)."""
    return synthesis_data[0]


@pytest.fixture(scope="module")
def base_dir(embedded_settings) -> str:
    from dsr.models.weights import ensure_embedded_safetensors

    return str(ensure_embedded_safetensors(embedded_settings.cache_dir))


def _segments(batch) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) of every example in a collated batch: padded rows, or packed rows split at position 0."""
    out = []
    for row in range(batch["input_ids"].shape[0]):
        ids, labels = batch["input_ids"][row].tolist(), batch["labels"][row].tolist()
        if "position_ids" in batch:
            positions = batch["position_ids"][row].tolist()
            starts = [i for i, p in enumerate(positions) if p == 0] + [len(positions)]
            for a, b in zip(starts, starts[1:], strict=False):
                assert positions[a:b] == list(range(b - a)), (
                    "position ids must restart at every packed example"
                )
                out.append((ids[a:b], labels[a:b]))
        else:
            keep = int(batch["attention_mask"][row].sum())
            assert set(labels[keep:]) <= {-100}, "padding is never a target"
            out.append((ids[:keep], labels[:keep]))
    return out


@pytest.mark.parametrize("packing", [False, True])
def test_loss_mask_is_exactly_the_assistant_target(data_dir, base_dir, tmp_path, packing):
    from dsr.training.run import build_trainer

    data = load_stage1(data_dir)
    config = resolve_config(
        "full",
        None,
        max_length=8192,  # the model's context: the mask is the point here, so no example is cut
        packing=packing,
        per_device_batch_size=2,
        global_batch_size=2,
        max_steps=1,
    )
    trainer = build_trainer(data, base_dir, config, tmp_path / "model").trainer
    tok = trainer.processing_class
    rows = {r["completion"][0]["content"]: r for r in data.train}
    seen = set()
    for batch in trainer.get_train_dataloader():
        if packing:
            assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1  # padding-free
        for ids, labels in _segments(batch):
            # the prompt exactly as inference renders it (chat template + generation prompt), never a target
            prompt_text = next(
                t
                for r in rows.values()
                if tok.decode(ids).startswith(
                    t := tok.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False)
                )
            )
            prompt_ids = tok(prompt_text, add_special_tokens=False)["input_ids"]
            k = len(prompt_ids)
            assert ids[:k] == prompt_ids
            target = tok.decode(ids[k:])
            content = target.removesuffix("<|im_end|>\n")
            assert content in rows and target == content + "<|im_end|>\n"  # directives + prose + end of turn
            for i, (token, label) in enumerate(zip(ids, labels, strict=True)):
                assert label == (token if i >= k else -100), f"token {i} of {len(ids)} (prompt ends at {k})"
            seen.add(content)
    assert seen == set(rows), "every training example appears once, whole"


@pytest.fixture(scope="module")
def trained(data_dir, base_dir, tmp_path_factory):
    from rich.console import Console

    from dsr.training.run import train

    out = tmp_path_factory.mktemp("stage1-model") / "model"
    record = train(
        data_dir,
        out,
        base=base_dir,
        config=resolve_config(**SMOKE),
        cache_dir=load_settings().cache_dir,
        console=Console(stderr=True),
    )
    return out, record


def _prompts_without_room(record: dict, max_length: int) -> int:
    """Training prompts whose tokens (chat template, generation prompt) leave no target token within
    ``max_length``, counted here with the base's tokenizer: the rows the trainer must drop, not truncate."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(record["base"])
    rows = load_stage1(Path(record["data"]["dir"])).train
    lengths = [
        len(
            tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, return_dict=True)[
                "input_ids"
            ]
        )
        for r in rows
    ]
    return sum(1 for n in lengths if n >= max_length - 1)


def test_smoke_training_lowers_validation_nll_and_writes_a_complete_model(trained):
    out, record = trained
    metrics = record["metrics"]
    assert metrics["eval_split"] == "validation" and metrics["note"] is None
    assert metrics["before"]["tokens"] == metrics["after"]["tokens"] > 0
    assert metrics["after"]["nll"] < metrics["before"]["nll"], metrics
    assert record["trainer"]["global_step"] == SMOKE["max_steps"]
    too_long = _prompts_without_room(record, SMOKE["max_length"])
    assert 0 < too_long < record["data"]["rows"]["train"], "the smoke length must drop some rows, not all"
    assert metrics["train_rows_prompt_too_long"] == too_long
    for name in (
        "adapter_model.safetensors",
        "adapter_config.json",
        "tokenizer.json",
        "README.md",
        "datasheet.md",
    ):
        assert (out / name).is_file(), name
    assert not (out / "checkpoints").exists()
    assert json.loads((out / "training.json").read_text()) == json.loads(json.dumps(record))
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [e for e in log if "loss" in e]
    assert [e["step"] for e in steps] == list(range(1, 9))
    assert all(e["target_tokens_per_s"] > 0 and e["eta_s"] >= 0 for e in steps)
    assert any("eval_loss" in e for e in log)  # evaluated during training too
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 1 and samples[0]["reference"].startswith("<directives>")
    card = (out / "README.md").read_text()
    assert f"base_model: {record['base']}" in card and str(metrics["after"]["nll"]) in card
    assert "--enable-lora --lora-modules stage1=" in card


def test_novelist_runs_the_trained_model_through_the_hf_provider(trained, base_dir, monkeypatch, tmp_path):
    from langchain_core.callbacks import get_usage_metadata_callback
    from langchain_core.runnables import RunnableLambda

    import dsr.nodes.runtime as node_runtime
    from dsr.contract.call_log import CALL_LOG, CallLog, read_outcomes
    from dsr.contract.context import RunContext, resolve_roles
    from dsr.nodes.novelist import novelist_node

    out, _ = trained
    monkeypatch.delenv("DSR_CONFIG", raising=False)
    for key, value in {
        "PROVIDER": "hf",
        "MODEL": base_dir,
        "ADAPTER": str(out),
        "PROMPT": "stage1",
        "MAX_NEW_TOKENS": "8",
        "TEMPERATURE": "0",
        "DEVICE": "cpu",
    }.items():
        monkeypatch.setenv(f"DSR_NOVELIST__{key}", value)
    context = RunContext(run_dir=str(tmp_path), roles=resolve_roles(["novelist"]))
    state = {"x": json.loads(SCENE.read_text()), "critique": {}}
    node = RunnableLambda(lambda s: novelist_node(s, SimpleNamespace(context=context)))
    with get_usage_metadata_callback() as usage:
        node.invoke(state, {"callbacks": [CallLog(tmp_path / CALL_LOG)]})
    model = node_runtime.chat_model(context, "novelist")
    assert model.provider == "hf" and model.loaded.name == Path(base_dir).name
    (call,) = read_outcomes(tmp_path / CALL_LOG)  # the node's outcome, in the run's calls.jsonl
    (tokens,) = usage.usage_metadata.values()
    assert call["note"].startswith("stage1@") and 0 < tokens["output_tokens"] <= 8
    assert (next((tmp_path / "scenes").iterdir()) / "novelist_directives.json").is_file()


def test_full_fine_tuning_writes_a_model_the_hf_provider_loads(data_dir, base_dir, tmp_path):
    from rich.console import Console

    from dsr.models.weights import load_transformers
    from dsr.training.run import train

    out = tmp_path / "full"
    config = resolve_config(**SMOKE | {"method": "full", "max_steps": 1, "samples": 0, "learning_rate": 1e-5})
    record = train(
        data_dir,
        out,
        base=base_dir,
        config=config,
        cache_dir=load_settings().cache_dir,
        console=Console(stderr=True),
    )
    assert record["trainer"]["global_step"] == 1 and (out / "model.safetensors").is_file()
    assert "library_name: transformers" in (out / "README.md").read_text()
    loaded = load_transformers(str(out), device="cpu")  # the directory alone is a complete checkpoint
    assert loaded.model.config.num_hidden_layers == 30 and loaded.tokenizer.chat_template


def test_unfinished_model_dir_is_refused(tmp_path):
    from dsr.models.weights import TRAIN_RUN, load_transformers

    (tmp_path / TRAIN_RUN).write_text("{}")
    with pytest.raises(ConfigError, match="unfinished dsr train run"):
        load_transformers(str(tmp_path), device="cpu")


def test_bad_input_exits_2_without_a_model_dir(data_dir, tmp_path):
    out = tmp_path / "m"
    assert_one_line_error(dsr("train", str(tmp_path / "none"), "-o", str(out)), "dataset directory not found")
    assert_one_line_error(
        dsr("train", str(data_dir), "-o", str(out), "--base", "nobody/no-such-model"),
        "not in the Hugging Face cache",
    )
    assert not out.exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_lenght: 10\n")
    assert_one_line_error(dsr("train", str(data_dir), "-o", str(out), "--config", str(bad)), "'max_lenght'")
    assert not out.exists()


def test_killed_run_resumes_from_its_last_checkpoint(data_dir, tmp_path, monkeypatch, capsys):
    config = tmp_path / "resume.yaml"
    config.write_text(json.dumps(SMOKE | {"max_steps": 3, "save_steps": 1, "max_length": 320, "samples": 0}))
    config = config.rename(config.with_suffix(".yml"))  # JSON is valid YAML
    out = tmp_path / "model"
    command = [str(VENV_BIN / "dsr"), "train", str(data_dir), "-o", str(out), "--config", str(config)]
    env = {k: v for k, v in os.environ.items() if not is_user_setting(k)}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    state = out / "checkpoints" / "checkpoint-1" / "trainer_state.json"
    deadline = time.monotonic() + 900  # the first checkpoint; generous, the machine may be shared
    while not state.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert state.exists() and first.returncode == -signal.SIGKILL, first.stderr.read()
    assert not (out / "training.json").exists()
    from dsr.models.weights import load_transformers

    with pytest.raises(ConfigError, match="unfinished"):
        load_transformers(str(out), device="cpu")
    _refuses_changed_resumes(data_dir, out, config, tmp_path, monkeypatch, capsys)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    assert second.returncode == 0, second.stderr
    record = json.loads((out / "training.json").read_text())
    resumed_at = int(record["trainer"]["resumed_from"].rsplit("checkpoint-", 1)[1])
    assert resumed_at >= 1 and record["trainer"]["global_step"] == 3
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if e.get("event") == "resumed"] == [resumed_at]
    steps = [e["step"] for e in log if "loss" in e]
    assert steps == [1, 2, 3], steps  # nothing retrained from 0, nothing logged twice


def _refuses_changed_resumes(
    data_dir: Path, out: Path, config: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The interrupted run in ``out`` must not be continued with another config, data set or base model:
    each attempt is one line naming the cause, exit 2, and leaves the checkpoints as they were."""
    import shutil
    import sys

    from dsr.cli.main import main
    from dsr.models.weights import ensure_embedded_safetensors

    before = sorted(p.name for p in (out / "checkpoints").iterdir())
    changed_config = tmp_path / "changed.yml"
    changed_config.write_text(json.dumps(json.loads(config.read_text()) | {"learning_rate": 1e-3}))
    changed_data = tmp_path / "changed-data"
    shutil.copytree(data_dir, changed_data)
    train_file = changed_data / "stage1" / "train.jsonl"
    train_file.write_text("".join(train_file.read_text().splitlines(keepends=True)[:-1]))
    base = ensure_embedded_safetensors(load_settings().cache_dir)
    other_base = tmp_path / "other-base"  # the same weights under another name is another base
    other_base.mkdir()
    for item in base.iterdir():
        (other_base / item.name).symlink_to(item)
    attempts = {
        "config": [str(data_dir), "--config", str(changed_config)],
        "data": [str(changed_data), "--config", str(config)],
        "base": [str(data_dir), "--config", str(config), "--base", str(other_base)],
    }
    for what, args in attempts.items():
        monkeypatch.setattr(sys, "argv", ["dsr", "train", args[0], "-o", str(out), *args[1:]])
        with pytest.raises(SystemExit) as exc:
            main()
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert exc.value.code == 2 and len(lines) == 1, (what, err)
        assert "interrupted run with a different base, data or config" in lines[0], (what, lines[0])
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == before
    assert not (out / "training.json").exists()
