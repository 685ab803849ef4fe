"""Action lines cannot hold the linter's unfilmable words (F2-inner-state) under the per-scene Fountain grammar.

Checked on the compiled grammar (every listed word, in any case and before punctuation, is out of action
lines and stays in dialogue; words that only begin like one are in) and on the real embedded model converting
prose full of thoughts and named feelings: its action lines never state them (the linter finds no SP042/SP043).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dsr.models.settings import RoleConfig
from dsr.screenplay.lexicon import UNFILMABLE_WORDS
from dsr.story.episode_spec import load_episode
from dsr.story.fountain_grammar import scene_grammar
from dsr.story.fountain_text import heading_hint

xgr = pytest.importorskip("xgrammar")

X = load_episode(Path(__file__).resolve().parents[1] / "examples" / "harbor-lights.yaml").task_input(0)
HEAD = heading_hint(X)


@pytest.fixture(scope="module")
def accepts(embedded_model):
    tokenizer = embedded_model.loaded.tokenizer
    compiler = xgr.GrammarCompiler(xgr.TokenizerInfo.from_huggingface(tokenizer))
    compiled = compiler.compile_grammar(scene_grammar(X, HEAD))

    def check(text: str) -> bool:
        matcher = xgr.GrammarMatcher(compiled)
        return matcher.accept_string(text) and matcher.accept_token(tokenizer.eos_token_id)

    return check


def scene(*blocks: str) -> str:
    return f"{HEAD}\n\n" + "\n\n".join(blocks) + "\n"


def test_no_unfilmable_word_in_an_action_line_in_any_case(accepts):
    assert accepts(scene("Mara hauls the stranger in from the rocks."))
    for word in UNFILMABLE_WORDS["en"]:
        for form in (word, word.capitalize(), word.upper(), word + ",", word + "."):
            assert not accepts(scene(f"Mara {form} at the door.")), form
        assert not accepts(scene(f"{word.capitalize()} at the door, Mara waits.")), word


def test_no_listed_word_behind_a_joiner(accepts):
    assert not accepts(scene("Mara studies ideas/thought on the wall."))  # the joiners are not action text
    assert not accepts(scene("Mara waits =no answer."))
    assert accepts(scene("Mara waits, half-open door, twenty-two steps (one lantern)."))


def test_words_that_only_begin_like_one_and_dialogue_stay_free(accepts):
    assert accepts(scene("Mara sadly saddles the felts, thoughtful."))  # sadly, saddles, felts, thoughtful
    assert accepts(scene("MARA\nI felt it. I thought you were sad."))  # characters may say what they feel
    assert accepts(scene("Abcdefghijklmn " + " ".join(["abcdefghijklmn"] * 13)))  # the line bound holds
    assert not accepts(scene("Mara abcdefghijklmno waits."))  # a fifteen-character word is still out


def test_real_model_converts_inner_state_into_action_without_stating_it(embedded_model):
    from dsr.nodes.screenwriter import write_screenplay
    from dsr.screenplay.lint import lint_text

    cfg = RoleConfig(max_new_tokens=200, temperature=0.0)
    model = type(embedded_model)(loaded=embedded_model.loaded, config=cfg, name="screenwriter")
    prose = (  # without the word rules the model's action reads "she didn't know she was doing it" (SP042)
        "Mara felt afraid. She felt the cold and remembered her brother. She was nervous. Tom felt guilty and "
        "thought about the storm. Mara realized he was lying."
    )
    draft = write_screenplay(model, prose, X).text
    assert draft.startswith(HEAD)
    # What the grammar holds: no finding on a listed word. A phrase whose words are each free ("can't help
    # but", "in her mind") can still be written (a greedy answer after other prompts once wrote "you can't help
    # but think"); the critic's lint still reads every line.
    listed = set(UNFILMABLE_WORDS["en"])
    quoted = [
        (f, re.search(r"""(['"])(.+?)\1""", f.message))  # the hit, as repr() quotes it
        for f in lint_text(draft)
        if f.rule in ("SP042", "SP043")
    ]
    assert not [f for f, m in quoted if m is None or listed & set(re.findall(r"[a-z]+", m[2].lower()))], draft
