"""A minimum answer length holds back the stop strings as well as the end token, on both embedded engines.

The novelist's prose must reach the critic's minimum (N3-length) and its split answer ends at a stop string
(``</novel>``), which ``min_new_tokens`` alone does not hold (it holds the end token only). Checked on the real
embedded model, ONNX Runtime GenAI (the default) and transformers (the fallback): asked for one word with a
stop at ".", the bare answer stops after a few tokens; held for 24 new tokens, no "." can come before them.
"""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from dsr.models.local_chat import min_length_kwargs, stop_openers

pytestmark = pytest.mark.timeout(600)

ASK = [
    SystemMessage("Answer in one word."),
    HumanMessage("Is the sea salty? Answer yes or no, then a full stop."),
]
HOLD = 24


@pytest.fixture(scope="module", params=["onnx", "transformers"])
def model(request):
    from dsr.models.factory import get_chat_model
    from dsr.models.settings import load_settings

    settings = load_settings(embedded_backend=request.param)
    settings.novelist.temperature, settings.novelist.max_new_tokens = 0.0, 64
    return get_chat_model("novelist", settings)


def tokens(model, text: str) -> int:
    return len(model.loaded.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_a_stop_cannot_end_the_answer_before_its_minimum(model):
    bare = model.invoke(ASK, stop=["."]).text
    assert tokens(model, bare) < HOLD // 2, bare  # the model answers at once and stops
    held = model.invoke(ASK, stop=["."], min_new_tokens=HOLD).text
    assert "." not in held
    assert tokens(model, held) >= HOLD - 2, held  # re-tokenised text may merge a token or two


def test_the_held_tokens_are_those_a_stop_could_begin_with(model):
    tok = model.loaded.tokenizer
    held = stop_openers(tok, ("</novel>",))
    assert tok.convert_tokens_to_ids("<") in held
    assert all("<" in tok.decode([i]) for i in held)
    assert tok.encode(" the", add_special_tokens=False)[0] not in held
    assert stop_openers(tok, ()) == ()


def test_only_local_models_get_a_minimum_and_it_fits_the_budget(model):
    assert min_length_kwargs(model, 500) == {"min_new_tokens": 32}  # half of 64
    assert min_length_kwargs(model, 0) == {}
    from langchain_openai import ChatOpenAI

    endpoint = ChatOpenAI(model="x", base_url="http://127.0.0.1:9/v1", api_key="k")
    assert min_length_kwargs(endpoint, 100) == {}
