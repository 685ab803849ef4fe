"""``dsr export`` / ``dsr train --merge``: a LoRA run merged into its base is a complete model directory that
the ``hf`` provider loads without an adapter and that answers as base + adapter does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stage1_adapter import stage1_adapter  # noqa: F401 - a fixture
from tests.test_cli_models import assert_one_line_error, dsr

pytestmark = pytest.mark.slow


def test_export_writes_a_merged_model_the_hf_provider_loads(stage1_adapter, tmp_path):  # noqa: F811
    import torch

    from models.weights import load_transformers

    out = tmp_path / "merged"
    result = dsr("export", str(stage1_adapter), "-o", str(out))
    assert result.returncode == 0, result.stderr
    for name in ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                 "tokenizer_config.json", "chat_template.jinja", "README.md", "merged.json"):  # fmt: skip
        assert (out / name).is_file(), name
    assert not list(out.glob("adapter_*")), "a merged model has no adapter files"
    info = json.loads((out / "merged.json").read_text())
    record = json.loads((stage1_adapter / "training.json").read_text())
    assert info["method"] == "lora" and info["base"] == str(Path(record["base"]).resolve())
    # The hf provider loads the directory alone, with the chat template the run was trained on.
    merged = load_transformers(str(out), device="cpu")
    adapted = load_transformers(record["base"], adapter=str(stage1_adapter), device="cpu")
    assert merged.tokenizer.chat_template == adapted.tokenizer.chat_template
    ids = adapted.tokenizer("Mara lifts the lamp.", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        a, b = merged.model(ids).logits.float(), adapted.model(ids).logits.float()
    # Same weights (both bf16 at load): the same next tokens and near-identical logits.
    assert torch.equal(a.argmax(-1), b.argmax(-1)) and (a - b).abs().max() < 0.05


def test_train_merge_writes_the_merged_model_beside_the_adapter(stage1_adapter):  # noqa: F811
    merged = stage1_adapter / "merged"
    assert (merged / "model.safetensors").is_file() and (merged / "chat_template.jinja").is_file()
    assert json.loads((merged / "merged.json").read_text())["from"] == str(stage1_adapter.resolve())


def test_export_refuses_what_is_not_a_finished_run(stage1_adapter, tmp_path):  # noqa: F811
    unfinished = tmp_path / "run"
    unfinished.mkdir()
    assert_one_line_error(
        dsr("export", str(unfinished), "-o", str(tmp_path / "m")), "not a finished dsr train run"
    )
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("x")
    assert_one_line_error(dsr("export", str(stage1_adapter), "-o", str(taken)), "not an empty directory")
    assert not (tmp_path / "m").exists() and [p.name for p in taken.iterdir()] == ["x"]
