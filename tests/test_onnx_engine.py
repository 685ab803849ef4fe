"""The embedded engine on ONNX Runtime GenAI, for real: int4 files built from the embedded weights, prefix KV slots
whose reuse does not change these answers, seeds, cancellation, continuation, and a LoRA adapter baked into its own
files that moves the logits the way the same adapter moves transformers'."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from dsr.models.continuation import CONTINUE
from dsr.models.settings import RoleConfig
from tests.stage1_adapter import stage1_adapter  # noqa: F401  (session fixture: a real one-step LoRA run)

pytestmark = pytest.mark.timeout(900)

SYSTEM = SystemMessage(
    "You are a screenwriter's assistant. The scene: a lighthouse keeper, Mara, finds a stranger asleep in the "
    "lamp room during a storm; she must decide whether to send him back out into the rain. Keep to the facts."
)


def _fresh(model, **config):
    """A chat model on a new engine instance (no slots yet) over the same ONNX files."""
    from dsr.models.onnx_chat import OnnxChatModel
    from dsr.models.onnx_engine import OnnxModel

    loaded = model.loaded
    engine = OnnxModel(loaded.directory, loaded.tokenizer, loaded.name)
    return OnnxChatModel(loaded=engine, config=RoleConfig(**config), provider="embedded")


@pytest.fixture(scope="module")
def onnx_model(embedded_settings):
    from dsr.models.factory import embedded_backend, get_chat_model

    assert embedded_backend(embedded_settings) == "onnx", "the default embedded engine is ONNX Runtime GenAI"
    return _fresh(get_chat_model("critic", embedded_settings), temperature=0.0, max_new_tokens=24)


def test_the_files_are_built_once_and_named_by_what_they_are_built_from(embedded_settings, onnx_model):
    from dsr.models.onnx_build import built_dir, ensure_onnx_model
    from dsr.models.weights import ensure_embedded_safetensors

    base = ensure_embedded_safetensors(embedded_settings.cache_dir)
    first = ensure_onnx_model(embedded_settings.cache_dir, base)
    assert first == onnx_model.loaded.directory == built_dir(embedded_settings.cache_dir, base)
    stamp = (first / "model.onnx.data").stat().st_mtime_ns
    assert ensure_onnx_model(embedded_settings.cache_dir, base) == first
    assert (first / "model.onnx.data").stat().st_mtime_ns == stamp, "a second call must not rebuild"
    # int4: the weights file is about a third of the bf16 safetensors (~270 MB), which is what makes decoding fast.
    assert (first / "model.onnx.data").stat().st_size < 0.4 * (base / "model.safetensors").stat().st_size


def test_a_shared_prefix_is_read_from_the_cache_and_the_answer_is_what_a_fresh_engine_gives(onnx_model):
    first = onnx_model.invoke([SYSTEM, HumanMessage("What does Mara see first?")])
    again = onnx_model.invoke([SYSTEM, HumanMessage("What does Mara see first?")])
    other = onnx_model.invoke([SYSTEM, HumanMessage("Name the stranger's first words.")])
    assert first.content == again.content
    assert (
        again.usage_metadata["input_token_details"]["cache_read"] == again.usage_metadata["input_tokens"] - 2
    )
    system_tokens = len(
        onnx_model.loaded.tokenizer.apply_chat_template([{"role": "system", "content": SYSTEM.content}])
    )
    assert other.usage_metadata["input_token_details"]["cache_read"] >= system_tokens - 1
    # The same prompts on an engine that has never seen them: identical text, so reuse never changes an answer.
    fresh = _fresh(onnx_model, temperature=0.0, max_new_tokens=24)
    assert fresh.invoke([SYSTEM, HumanMessage("Name the stranger's first words.")]).content == other.content
    assert fresh.loaded.cache_read == 0 and fresh.loaded.prefilled == other.usage_metadata["input_tokens"]


def test_seeds_make_sampling_repeatable_and_different_seeds_differ(onnx_model):
    prompt = [SYSTEM, HumanMessage("Describe the storm in one sentence.")]
    texts = {}
    for seed in (1, 1, 2):
        model = _fresh(onnx_model, temperature=1.0, top_p=0.95, max_new_tokens=20, seed=seed)
        texts.setdefault(seed, []).append(model.invoke(prompt).content)
    assert texts[1][0] == texts[1][1]
    assert texts[2][0] != texts[1][0]


def test_a_cancelled_call_stops_at_the_next_token(onnx_model):
    cancel = threading.Event()
    cancel.set()
    result = onnx_model.invoke(
        [SYSTEM, HumanMessage("Tell the whole story.")], max_new_tokens=200, cancel=cancel
    )
    assert result.usage_metadata["output_tokens"] == 0


def test_a_continuation_reuses_the_tokens_it_generated(onnx_model):
    question = [SYSTEM, HumanMessage("Write Mara's first line of dialogue.")]
    first = onnx_model.invoke(question)
    held = first.usage_metadata["input_tokens"] + first.usage_metadata["output_tokens"]
    prefix = AIMessage(first.content + " Then")
    more = onnx_model.invoke([*question, prefix], **{CONTINUE: True})
    # Everything but the last two tokens of the earlier prompt + answer comes from the slot.
    assert more.usage_metadata["input_token_details"]["cache_read"] >= held - 3
    assert more.usage_metadata["input_tokens"] - more.usage_metadata["input_token_details"]["cache_read"] < 12


def test_a_lora_adapter_moves_the_onnx_logits_as_it_moves_transformers(embedded_settings, stage1_adapter):  # noqa: F811
    import torch

    from dsr.models.onnx_build import built_dir, ensure_onnx_model
    from dsr.models.onnx_engine import OnnxModel
    from dsr.models.weights import ensure_embedded_safetensors, load_transformers

    base_dir = ensure_embedded_safetensors(embedded_settings.cache_dir)
    tuned_dir = ensure_onnx_model(embedded_settings.cache_dir, base_dir, stage1_adapter)
    assert tuned_dir == built_dir(embedded_settings.cache_dir, base_dir, stage1_adapter)
    assert tuned_dir != built_dir(embedded_settings.cache_dir, base_dir)
    plain = load_transformers(str(base_dir), device="cpu")
    tuned = load_transformers(str(base_dir), adapter=str(stage1_adapter), device="cpu")
    ids = plain.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Write the scene where Mara meets the stranger."}],
        add_generation_prompt=True,
        return_dict=True,
    )["input_ids"]
    ids = [int(i) for i in ids]

    def onnx_logits(directory):
        """The next-token logits at the prompt's last position (after a decode step the generator holds the
        logits after the sampled token, a different position)."""
        engine = OnnxModel(directory, plain.tokenizer, directory.name)
        params = engine.og.GeneratorParams(engine.model)
        params.set_search_options(max_length=len(ids) + 8)
        generator = engine.og.Generator(engine.model, params)
        generator.append_tokens(ids)
        return np.asarray(generator.get_logits()).reshape(-1)[: engine.vocab_size]

    def torch_logits(loaded):
        with torch.inference_mode():
            return loaded.model(torch.tensor([ids])).logits[0, -1].float().numpy()

    onnx_plain, onnx_tuned = (
        onnx_logits(built_dir(embedded_settings.cache_dir, base_dir)),
        onnx_logits(tuned_dir),
    )
    torch_plain, torch_tuned = torch_logits(plain), torch_logits(tuned)
    corr = {
        name: float(np.corrcoef(a, b)[0, 1])
        for name, (a, b) in {
            "plain": (onnx_plain, torch_plain),  # int4 against bf16: close, not equal
            "shift": (onnx_tuned - onnx_plain, torch_tuned - torch_plain),
        }.items()
    }
    assert corr["plain"] > 0.9, corr
    assert np.abs(onnx_tuned - onnx_plain).max() > 0.5, "the adapter must change the ONNX model's logits"
    # int4 rounding of the merged weights is noise on the adapter's small shift: measured 0.52 for this 8-step
    # adapter and 0.81 for the shipped Stage 1 adapter (0.94 between the plain models' logits)
    assert corr["shift"] > 0.35, ("and in the direction it changes transformers'", corr)
