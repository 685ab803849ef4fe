"""``dsr export`` / ``dsr train --merge``: a LoRA run merged into its base is a complete model directory that
the ``hf`` provider loads without an adapter and that answers as base + adapter does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stage1_adapter import stage1_adapter  # noqa: F401 - a fixture
from tests.test_cli_models import assert_one_line_error, dsr

pytestmark = pytest.mark.slow


def test_export_writes_a_merged_model_the_hf_provider_loads(stage1_adapter, tmp_path):
    import copy

    import torch
    from safetensors.torch import load_file

    from dsr.models.weights import load_transformers

    out = tmp_path / "merged"
    result = dsr("export", str(stage1_adapter), "-o", str(out))
    assert result.returncode == 0, result.stderr
    for name in (
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "README.md",
        "merged.json",
    ):
        assert (out / name).is_file(), name
    assert not list(out.glob("adapter_*")), "a merged model has no adapter files"
    info = json.loads((out / "merged.json").read_text())
    record = json.loads((stage1_adapter / "training.json").read_text())
    assert info["method"] == "lora" and info["base"] == str(Path(record["base"]).resolve())
    # The hf provider loads the directory alone, with the chat template the run was trained on.
    merged = load_transformers(str(out), device="cpu")
    adapted = load_transformers(record["base"], adapter=str(stage1_adapter), device="cpu")
    assert merged.tokenizer.chat_template == adapted.tokenizer.chat_template
    # The adapter is trained (tests/stage1_adapter.py: LoRA's B starts at zero), so merging it changes the model.
    lora_b = [
        t for name, t in load_file(stage1_adapter / "adapter_model.safetensors").items() if "lora_B" in name
    ]
    assert lora_b and all(t.abs().max() > 0 for t in lora_b), "an untrained adapter: merging changes nothing"
    base = load_transformers(record["base"], device="cpu")
    ids = adapted.tokenizer("Mara lifts the lamp.", return_tensors="pt")["input_ids"]
    # Compared in float32 (copies: the loaded models are shared by the process): bf16 arithmetic alone moves
    # these logits by up to ~0.8, as much as a small adapter does; in float32 merged and adapted differ only by
    # the rounding of the merged weights to bf16.
    with torch.inference_mode():
        m, a, b = (copy.deepcopy(x.model).float()(ids).logits for x in (merged, adapted, base))
    moved, gap = (a - b).abs(), (m - a).abs()
    print(
        f"logits |adapted - base| max {moved.max():.3f} mean {moved.mean():.3f}; "
        f"|merged - adapted| max {gap.max():.3f} mean {gap.mean():.3f}"
    )
    # merged = base + adapter: far from the base, close to the adapter applied at run time (measured, max / mean:
    # 3.29 / 0.79 from the base, 0.16 / 0.03 from the adapter), and the same next tokens.
    assert moved.max() > 0.5 and (m - b).abs().max() > 0.5, moved.max()
    assert gap.max() < moved.max() / 5 and gap.mean() < moved.mean() / 5, (gap.max(), moved.max())
    assert torch.equal(m.argmax(-1), a.argmax(-1))


def test_train_merge_writes_the_merged_model_beside_the_adapter(stage1_adapter):
    merged = stage1_adapter / "merged"
    assert (merged / "model.safetensors").is_file() and (merged / "chat_template.jinja").is_file()
    assert json.loads((merged / "merged.json").read_text())["from"] == str(stage1_adapter.resolve())


def test_export_refuses_what_is_not_a_finished_run(stage1_adapter, tmp_path):
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
