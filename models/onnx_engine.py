"""The embedded model on ONNX Runtime GenAI: int4 weights, a decode loop of our own, and KV caches kept per prefix.

Why a loop of our own instead of the library's sampler: each step reads the logits, applies the repetition
penalty, the grammar's token mask (xgrammar, the very grammars the transformers path compiles: JSON schemas and
the per-scene Fountain grammar), a minimum length, then samples with a seeded numpy generator, and hands the
chosen token back as a one-hot logit row so the library's greedy step appends it. The library's own guidance
(llguidance) reads grammars in another dialect, and its sampler is fixed per generator, which would tie a KV
cache to one role's settings.

Prefix reuse, as vLLM's automatic prefix caching does for served models: a loaded model keeps a few generators
(slots), each holding the tokens whose KV it has computed. A call takes the slot sharing the longest prefix with
its prompt, rewinds it to that prefix and computes only the rest: a retry of a stage re-reads its system prompt
and X from the cache, the continuity critic and the rubric share the scene's text, and the novelist's half of a
split Stage 1 answer continues the planner's generated tokens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsr.models.settings import ConfigError

#: Generators kept per loaded model; each holds a KV buffer of its capacity (~46 KB per token for SmolLM2-135M).
SLOTS = 4
#: A slot's capacity is the call's need rounded up to this many tokens (at least one block), so a slot is reused
#: by calls of similar length instead of being rebuilt for each.
_BLOCK = 1024
#: A shared prefix shorter than this is not worth a slot switch: the least recently used slot is rebuilt instead.
_MIN_REUSE = 16


@dataclass
class Sampling:
    """What one call asks of the decode loop (the role's settings and the call's overrides)."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    min_new_tokens: int = 0
    hold_ids: tuple[int, ...] = ()  # held back with the end tokens until min_new_tokens (could begin a stop)
    seed: int | None = None
    grammar: Any = None  # a compiled xgrammar grammar
    cancel: threading.Event | None = None


@dataclass
class Decoded:
    """A call's outcome: the new tokens, the prompt's length, how many prompt tokens came from a cache."""

    tokens: list[int]
    prompt_tokens: int
    reused: int
    finish: str  # "stop" (the model or grammar ended), "length", "cancelled", "caller" (on_token said stop)
    seconds: float = 0.0


@dataclass
class _Slot:
    generator: Any
    capacity: int
    tokens: list[int] = field(default_factory=list)
    #: Leading tokens whose KV came from prompt prefills (two or more tokens at a time). Reusing them gives the
    #: logits a fresh prefill gives to within rounding (bit-identical on the prompts measured, not on every one: a
    #: 320-token greedy JSON answer after other prompts with its system prompt parted from a fresh engine's at its
    #: 99th character); tokens decoded one at a time differ in the last bits, so only a continuation, which asks
    #: for its own generated tokens back, reuses past this point.
    exact: int = 0
    used: float = 0.0


class OnnxModel:
    """One ONNX model directory loaded once per process, with the transformers tokenizer of its base weights.

    The tokenizer is transformers' (the same chat template and token ids as the transformers path, so grammars
    compiled for it apply unchanged). ``lock`` serializes calls: one generation at a time per model, as on the
    transformers path.
    """

    def __init__(self, directory: Path, tokenizer: Any, name: str, slots: int = SLOTS) -> None:
        import onnxruntime_genai as og

        self.og = og
        self.directory = directory
        self.model = og.Model(str(directory))
        self.tokenizer = tokenizer
        self.name = name
        self.device = "cpu"
        self.lock = threading.Lock()
        config = _genai_config(directory)
        self.vocab_size = int(config["model"]["vocab_size"])
        self.context_length = int(config["model"]["context_length"])
        self._slots: list[_Slot] = []
        self._max_slots = slots
        end = config["model"].get("eos_token_id")
        self.end_ids = {int(i) for i in (end if isinstance(end, list) else [end]) if i is not None}
        if tokenizer.eos_token_id is not None:
            self.end_ids.add(int(tokenizer.eos_token_id))
        #: Prompt tokens computed and read from slots since load (the prefix benchmark and tests read them).
        self.prefilled = 0
        self.cache_read = 0

    def decode(
        self,
        prompt: list[int],
        sampling: Sampling,
        on_token: Callable[[list[int]], bool] | None = None,
        continuing: bool = False,
    ) -> Decoded:
        """Generate after ``prompt`` (the caller holds ``lock``); ``on_token(tokens so far)`` returning True stops.

        A call's answer does not depend on what the slots held before, except for a continuation (``continuing``),
        which reuses its own earlier generated tokens as they were computed.
        """
        import numpy as np

        started = time.perf_counter()
        need = len(prompt) + sampling.max_new_tokens + 1
        if need > self.context_length:
            raise ConfigError(
                f"prompt of {len(prompt)} tokens + {sampling.max_new_tokens} new exceeds the model's context "
                f"of {self.context_length}; lower max_new_tokens or shorten the context"
            )
        slot, reused = self._slot_for(prompt, need, continuing)
        generator = slot.generator
        slot.tokens = prompt[
            :reused
        ]  # what the slot holds while the rest is computed (kept honest if it fails)
        slot.exact = min(slot.exact, reused)
        generator.append_tokens(prompt[reused:])
        slot.tokens, slot.exact = list(prompt), len(prompt)
        self.prefilled += len(prompt) - reused
        self.cache_read += reused
        rng = np.random.default_rng(sampling.seed)
        matcher, bitmask = _matcher(sampling.grammar, self.vocab_size)
        seen = np.zeros(self.vocab_size, dtype=bool)
        seen[[t for t in prompt if t < self.vocab_size]] = True
        out: list[int] = []
        finish = "length"
        for step in range(sampling.max_new_tokens):
            if sampling.cancel is not None and sampling.cancel.is_set():
                finish = "cancelled"
                break
            logits = (
                np.asarray(generator.get_logits(), dtype=np.float32).reshape(-1)[: self.vocab_size].copy()
            )
            _penalize(logits, seen, sampling.repetition_penalty)
            if step < sampling.min_new_tokens:
                logits[[*self.end_ids, *sampling.hold_ids]] = -np.inf
            if matcher is not None:
                _mask(matcher, bitmask, logits)
            token = _choose(logits, sampling.temperature, sampling.top_p, rng)
            out.append(token)
            if token in self.end_ids:
                finish = "stop"
                break
            if matcher is not None and not matcher.accept_token(token):
                finish = "stop"  # cannot happen for a masked choice; a guard, not a path
                break
            seen[token] = True
            onehot = np.full((1, self.vocab_size), -np.inf, dtype=np.float32)
            onehot[0, token] = 0.0
            generator.set_logits(onehot)
            generator.generate_next_token()
            slot.tokens.append(token)
            if on_token is not None and on_token(out):
                finish = "caller"
                break
        return Decoded(out, len(prompt), reused, finish, time.perf_counter() - started)

    def clear_cache(self) -> None:
        """Forget every kept prefix: the next call prefills from scratch (an answer that must not depend on
        earlier calls, e.g. a reproducible greedy answer in a test)."""
        self._slots.clear()

    def _slot_for(self, prompt: list[int], need: int, continuing: bool) -> tuple[_Slot, int]:
        """The slot sharing the longest prefix with ``prompt``, rewound to it.

        At least two prompt tokens are always computed: the last one computed alone would take the one-row kernel
        and give logits that differ from a fresh prefill's (measured), so an answer would depend on the cache.
        """
        best, best_len = None, 0
        for slot in self._slots:
            if slot.capacity < need:
                continue
            common = _common_prefix(slot.tokens if continuing else slot.tokens[: slot.exact], prompt)
            if common > best_len:
                best, best_len = slot, common
        best_len = min(best_len, len(prompt) - 2)
        if best is None or best_len < _MIN_REUSE:
            best, best_len = self._fresh_slot(need), 0
        if len(best.tokens) > best_len:
            best.generator.rewind_to(best_len)
        best.used = time.monotonic()
        return best, best_len

    def _fresh_slot(self, need: int) -> _Slot:
        capacity = min(self.context_length, -(-need // _BLOCK) * _BLOCK)
        if len(self._slots) >= self._max_slots:
            self._slots.remove(min(self._slots, key=lambda s: s.used))
        params = self.og.GeneratorParams(self.model)
        params.set_search_options(max_length=capacity, do_sample=False)
        slot = _Slot(self.og.Generator(self.model, params), capacity)
        self._slots.append(slot)
        return slot

    def held_tokens(self) -> list[list[int]]:
        """The token sequences the slots hold now (tests read what a continuation can reuse)."""
        return [list(s.tokens) for s in self._slots]


def _genai_config(directory: Path) -> dict[str, Any]:
    import json

    return dict(json.loads((directory / "genai_config.json").read_text(encoding="utf-8")))


def _common_prefix(held: list[int], prompt: list[int]) -> int:
    n = min(len(held), len(prompt))
    for i in range(n):
        if held[i] != prompt[i]:
            return i
    return n


def _matcher(compiled: Any, vocab_size: int) -> tuple[Any, Any]:
    if compiled is None:
        return None, None
    import xgrammar as xgr

    return xgr.GrammarMatcher(compiled), xgr.allocate_token_bitmask(1, vocab_size)


def _mask(matcher: Any, bitmask: Any, logits: Any) -> None:
    """Forbid the tokens the grammar does not allow next (xgrammar's bitmask, applied in place)."""
    import torch
    import xgrammar as xgr

    matcher.fill_next_token_bitmask(bitmask)
    xgr.apply_token_bitmask_inplace(torch.from_numpy(logits).unsqueeze(0), bitmask)


def _penalize(logits: Any, seen: Any, penalty: float) -> None:
    """transformers' repetition penalty: a seen token's positive logit divided by it, a negative one multiplied."""
    if penalty == 1.0:
        return
    import numpy as np

    scores = logits[seen]
    logits[seen] = np.where(scores > 0, scores / penalty, scores * penalty)


def _choose(logits: Any, temperature: float, top_p: float, rng: Any) -> int:
    """Greedy at temperature 0; else nucleus sampling over the temperature-scaled distribution."""
    import numpy as np

    if temperature <= 0:
        return int(np.argmax(logits))
    scaled = logits / temperature
    finite = np.isfinite(scaled)
    if not finite.any():
        return int(np.argmax(logits))
    scaled = np.where(finite, scaled - scaled[finite].max(), -np.inf)
    probs = np.exp(scaled)
    probs /= probs.sum()
    if top_p < 1.0:
        order = np.argsort(-probs)
        cumulative = np.cumsum(probs[order])
        keep = order[: int(np.searchsorted(cumulative, top_p)) + 1]
        kept = probs[keep] / probs[keep].sum()
        return int(keep[rng.choice(len(keep), p=kept)])
    return int(rng.choice(len(probs), p=probs))


_LOCK = threading.Lock()
_LOADED: dict[Path, OnnxModel] = {}


def load_onnx(directory: Path, tokenizer_dir: Path, name: str) -> OnnxModel:
    """Load (or reuse) the ONNX model in ``directory``; shared by every role on it in the process."""
    with _LOCK:
        if directory not in _LOADED:
            from transformers import AutoTokenizer

            from dsr.models.weights import quiet_transformers

            quiet_transformers()
            tokenizer = AutoTokenizer.from_pretrained(
                str(tokenizer_dir), trust_remote_code=False, local_files_only=True
            )
            _LOADED[directory] = OnnxModel(directory, tokenizer, name)
        return _LOADED[directory]
