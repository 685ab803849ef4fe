"""The hf provider: a local safetensors checkpoint plus an optional PEFT adapter, safely loaded."""

from __future__ import annotations

import pytest
import torch

from dsr.models.factory import get_chat_model
from dsr.models.settings import ConfigError, load_settings
from dsr.models.weights import embedded_cache_dir, ensure_embedded_safetensors

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoint(embedded_settings):
    """The converted embedded weights serve as a real local checkpoint directory."""
    return ensure_embedded_safetensors(embedded_settings.cache_dir)


@pytest.fixture(scope="module")
def adapter(checkpoint, tmp_path_factory):
    """A LoRA adapter with non-zero weights, saved the way training saves it."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    out = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(out, safe_serialization=True)
    assert (out / "adapter_model.safetensors").is_file()
    return out


def _settings(monkeypatch, model_path, adapter=None):
    monkeypatch.setenv("DSR_NOVELIST__PROVIDER", "hf")
    monkeypatch.setenv("DSR_NOVELIST__MODEL", str(model_path))
    monkeypatch.setenv("DSR_NOVELIST__TEMPERATURE", "0")
    if adapter:
        monkeypatch.setenv("DSR_NOVELIST__ADAPTER", str(adapter))
    else:
        monkeypatch.delenv("DSR_NOVELIST__ADAPTER", raising=False)
    return load_settings()


def test_local_checkpoint_generates(monkeypatch, checkpoint):
    model = get_chat_model("novelist", _settings(monkeypatch, checkpoint))
    assert model.provider == "hf" and model.loaded.device == "cpu"
    reply = model.invoke("Name a boat.", max_new_tokens=8)
    assert reply.content.strip() and reply.usage_metadata["output_tokens"] <= 8


def test_adapter_changes_the_model(monkeypatch, checkpoint, adapter):
    plain = get_chat_model("novelist", _settings(monkeypatch, checkpoint))
    tuned = get_chat_model("novelist", _settings(monkeypatch, checkpoint, adapter))
    assert tuned.loaded is not plain.loaded
    ids = plain.loaded.tokenizer("The keeper", return_tensors="pt").input_ids
    with torch.inference_mode():
        diff = (plain.loaded.model(ids).logits - tuned.loaded.model(ids).logits).abs().max().item()
    assert diff > 1e-3


def test_bad_paths_are_config_errors(monkeypatch, tmp_path, checkpoint):
    with pytest.raises(ConfigError, match="does not exist"):
        get_chat_model("novelist", _settings(monkeypatch, tmp_path / "missing"))
    with pytest.raises(ConfigError, match="adapter .* is not a directory"):
        get_chat_model("novelist", _settings(monkeypatch, checkpoint, tmp_path / "no-adapter"))


def test_refuses_pickle_weights(monkeypatch, tmp_path, checkpoint):
    """A checkpoint with only pytorch_model.bin is refused: safetensors only."""
    import shutil

    pickled = tmp_path / "pickled"
    shutil.copytree(checkpoint, pickled)
    (pickled / "model.safetensors").unlink()
    torch.save({}, pickled / "pytorch_model.bin")
    with pytest.raises(ConfigError, match="cannot load model"):
        get_chat_model("novelist", _settings(monkeypatch, pickled))


def test_cache_dir_layout(embedded_settings, checkpoint):
    assert checkpoint == embedded_cache_dir(embedded_settings.cache_dir)
