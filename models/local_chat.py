"""A langchain-core chat model over an in-process transformers causal LM.

Serves the ``embedded`` provider (SmolLM2 from the packaged GGUF) and the ``hf`` provider (a local
or fine-tuned checkpoint). ``_generate`` calls ``model.generate`` directly so the provider costs
nothing over raw generation; ``_stream`` runs generation in a worker thread and yields tokens, which
is what LangGraph's ``stream_mode="messages"`` and Studio display.

``continue_final_message=True`` (an invoke keyword, as in vLLM's API) continues the last message, an
assistant prefix, instead of opening a new turn: the chat template is rendered with that prefix and no
generation prompt. Such a call keeps its KV cache on the shared weights (``LoadedModel.prefix_cache``), and
the next continuation that starts with the same tokens (the novelist's half of a split Stage 1 answer after
the planner's, models/continuation.py) prefills only what is new; ``usage_metadata`` reports the reused
tokens as ``input_token_details.cache_read``.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from dsr.models.continuation import CONTINUE
from dsr.models.messages import to_chat_dicts, usage
from dsr.models.settings import RoleConfig


class LocalChatModel(BaseChatModel):
    """Chat model backed by a shared :class:`~dsr.models.weights.LoadedModel`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    loaded: Any = Field(exclude=True, description="a models.weights.LoadedModel")
    config: RoleConfig
    provider: str = "embedded"

    @property
    def _llm_type(self) -> str:
        return f"dsr-{self.provider}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.loaded.name, "provider": self.provider, "device": self.loaded.device}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """Name the weights (base plus adapter) in the run's metadata, so calls.jsonl and traces say which
        model answered; the fallback would find no ``model`` attribute."""
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = self.provider
        params["ls_model_name"] = self.loaded.name
        return params

    def _prompt_ids(self, messages: list[BaseMessage], continue_final: bool = False) -> Any:
        tok = self.loaded.tokenizer
        chat = to_chat_dicts(messages)
        if continue_final:
            if not chat or chat[-1]["role"] != "assistant" or not chat[-1]["content"]:
                raise ValueError(
                    "continue_final_message needs a final assistant message with the prefix to continue"
                )
            encoded = tok.apply_chat_template(
                chat, continue_final_message=True, return_tensors="pt", return_dict=True
            )
        else:
            encoded = tok.apply_chat_template(
                chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        return encoded["input_ids"].to(self.loaded.model.device)

    def _run(self, input_ids: Any, gen_kwargs: dict[str, Any], keep_prefix: bool) -> tuple[Any, int, int]:
        """``generate`` (the caller holds the lock): (new token ids, prompt tokens, prompt tokens reused).

        With ``keep_prefix`` (a continuation) the last continuation's KV cache is reused when this prompt
        extends it: when the cached tokens decode to the start of this prompt's text, the prompt becomes
        those very tokens (what the model generated, whose tokenization a fresh render may split
        differently) plus the rest of the text tokenized; otherwise the longest common token prefix is
        reused. At least one prompt token is always computed, and this call's cache is kept for the next.
        Other calls neither read nor replace it: a reused cache changes bf16 arithmetic slightly, so
        ordinary calls stay exactly as they were.
        """
        import torch

        past, reused = None, 0
        if keep_prefix:
            held, self.loaded.prefix_cache = self.loaded.prefix_cache, None
            if held is not None:
                input_ids, reused = self._extend(held[0], input_ids)
                if reused > 0:
                    cache = held[1]
                    if (extra := int(cache.get_seq_length()) - reused) > 0:
                        cache.crop(-extra)  # a negative count removes tokens in transformers 4 and 5 alike
                    past = cache
        if past is not None:
            gen_kwargs = gen_kwargs | {_cache_argument(): past}
        out = self.loaded.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            return_dict_in_generate=True,
            **gen_kwargs,
        )
        sequence = out.sequences[0]
        kept = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        if keep_prefix and kept is not None:
            self.loaded.prefix_cache = (sequence[: int(kept.get_seq_length())].clone(), kept)
        return sequence[input_ids.shape[1] :], int(input_ids.shape[1]), reused

    def _extend(self, cached: Any, input_ids: Any) -> tuple[Any, int]:
        """(the prompt to run, how many of its first tokens the cache of ``cached`` holds)."""
        import torch

        tok = self.loaded.tokenizer
        text = tok.decode(input_ids[0], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        done = tok.decode(cached, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if len(text) > len(done) and text.startswith(done):
            rest = tok(text[len(done) :], add_special_tokens=False, return_tensors="pt")["input_ids"]
            spliced = torch.cat([cached.to(input_ids.device), rest[0].to(input_ids.device)]).unsqueeze(0)
            return spliced, int(cached.shape[0])
        n = min(int(cached.shape[0]), int(input_ids.shape[1]) - 1)
        same = (cached[:n].to(input_ids.device) == input_ids[0, :n]).to(torch.int8)
        return input_ids, n if bool(same.all()) else int(same.argmin())

    def prepare_grammar(self, grammar: Any) -> None:
        """Compile ``grammar`` (a models.constrained.Grammar) into the cache now, so the generation that uses
        it does not: `dsr serve` compiles a client's schema before the request's turn, with a deadline."""
        from dsr.models import constrained

        constrained.compile_grammar(self.loaded.tokenizer, self.loaded.model.config.vocab_size, grammar)

    def context_tokens(self, messages: list[BaseMessage]) -> tuple[int, int]:
        """(context length, prompt length) in tokens: `dsr serve` caps a request's max_tokens with them."""
        return int(self.loaded.model.config.max_position_embeddings), int(self._prompt_ids(messages).shape[1])

    def _generation_kwargs(self, stop: list[str] | None, **overrides: Any) -> dict[str, Any]:
        cfg = self.config
        temperature = overrides.get("temperature", cfg.temperature)
        kwargs: dict[str, Any] = {
            "max_new_tokens": overrides.get("max_new_tokens", cfg.max_new_tokens),
            "repetition_penalty": cfg.repetition_penalty,
            "pad_token_id": self.loaded.tokenizer.pad_token_id or self.loaded.tokenizer.eos_token_id,
        }
        stops = [*(cfg.stop or []), *(stop or [])]
        processors = []
        if minimum := int(overrides.get("min_new_tokens") or 0):
            # the end token waits; so does any token a stop could begin with
            kwargs["min_new_tokens"] = minimum
            if held := stop_openers(self.loaded.tokenizer, tuple(stops)):
                processors.append(_HoldUntil(minimum, held))
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=overrides.get("top_p", cfg.top_p))
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stops:
            kwargs.update(stop_strings=stops, tokenizer=self.loaded.tokenizer)
        if (grammar := overrides.get("grammar")) is not None:  # a models.constrained.Grammar
            from dsr.models import constrained

            vocab = self.loaded.model.config.vocab_size
            processors.append(constrained.logits_processor(self.loaded.tokenizer, vocab, grammar))
        if processors:
            kwargs["logits_processor"] = processors
        if (
            cancel := overrides.get("cancel")
        ) is not None:  # a threading.Event: `dsr serve` stops a generation
            from transformers import StoppingCriteriaList

            kwargs["stopping_criteria"] = StoppingCriteriaList([_Cancelled(cancel)])
        return kwargs

    def _seed(self) -> None:
        if self.config.seed is not None:
            import torch

            torch.manual_seed(self.config.seed)

    def _end_ids(self) -> set[int]:
        ids = self.loaded.model.generation_config.eos_token_id
        return set(ids if isinstance(ids, list) else [ids]) | {self.loaded.tokenizer.eos_token_id}

    @staticmethod
    def _cut_at_stop(text: str, stop: list[str]) -> str:
        cut = min((i for s in stop if (i := text.find(s)) != -1), default=len(text))
        return text[:cut]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        import torch

        continuing = bool(kwargs.get(CONTINUE))
        input_ids = self._prompt_ids(messages, continuing)
        gen_kwargs = self._generation_kwargs(stop, **kwargs)
        started = time.perf_counter()
        with self.loaded.lock, torch.inference_mode():
            self._seed()
            new_tokens, prompt_tokens, reused = self._run(input_ids, gen_kwargs, continuing)
        # "length" like OpenAI's finish_reason: the budget ran out before the model ended its answer.
        ended = new_tokens.shape[0] < gen_kwargs["max_new_tokens"] or int(new_tokens[-1]) in self._end_ids()
        text = self.loaded.tokenizer.decode(new_tokens, skip_special_tokens=True)
        text = self._cut_at_stop(text, [*(self.config.stop or []), *(stop or [])])
        message = AIMessage(
            content=text,
            usage_metadata=usage(prompt_tokens, int(new_tokens.shape[0]), reused),
            response_metadata={
                "model_name": self.loaded.name,
                "provider": self.provider,
                "finish_reason": "stop" if ended else "length",
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        import torch
        from transformers import TextIteratorStreamer

        continuing = bool(kwargs.get(CONTINUE))
        input_ids = self._prompt_ids(messages, continuing)
        streamer = TextIteratorStreamer(self.loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
        gen_kwargs = self._generation_kwargs(stop, **kwargs)
        counter = _TokenCounter()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                with self.loaded.lock, torch.inference_mode():
                    self._seed()
                    new_tokens, counter.prompt, counter.reused = self._run(
                        input_ids, gen_kwargs | {"streamer": streamer}, continuing
                    )
                counter.count = int(new_tokens.shape[0])
            except BaseException as exc:  # surfaced in the caller's thread below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=work, name="dsr-generate", daemon=True)
        worker.start()
        stops = [*(self.config.stop or []), *(stop or [])]
        emitted = ""
        for piece in streamer:
            if not piece:
                continue
            candidate = emitted + piece
            trimmed = self._cut_at_stop(candidate, stops) if stops else candidate
            delta = trimmed[len(emitted) :]
            emitted = trimmed
            if delta:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                if run_manager:
                    run_manager.on_llm_new_token(delta, chunk=chunk)
                yield chunk
            if len(trimmed) < len(candidate):
                break
        worker.join()
        if failure:
            raise failure[0]
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=usage(counter.prompt, counter.count, counter.reused),
                response_metadata={"model_name": self.loaded.name, "provider": self.provider},
            )
        )


@functools.cache
def _cache_argument() -> str:
    """``generate``'s keyword for a KV cache to start from: ``cache`` since transformers 5.2x,
    ``past_key_values`` before (now deprecated)."""
    from transformers.generation.utils import GenerateDecoderOnlyOutput

    return "cache" if "cache" in GenerateDecoderOnlyOutput.__dataclass_fields__ else "past_key_values"


class _TokenCounter:
    count: int = 0
    prompt: int = 0
    reused: int = 0


class _Cancelled:
    """Stops ``generate`` at the next token once ``event`` is set (the client went away, the server is stopping).

    A plain callable, not a ``transformers.StoppingCriteria`` subclass: ``StoppingCriteriaList`` only calls it,
    and subclassing would import transformers whenever this module is imported.
    """

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )


@functools.cache
def stop_openers(tokenizer: Any, stops: tuple[str, ...]) -> tuple[int, ...]:
    """Token ids whose text holds the first character of a stop string: held back until ``min_new_tokens``, so a
    stop cannot end the answer before its minimum length (the end token alone is what ``min_new_tokens`` holds)."""
    firsts = {s[0] for s in stops if s}
    if not firsts:
        return ()
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    decoded = (tokenizer.convert_tokens_to_string([p]) if p is not None else "" for p in pieces)
    return tuple(i for i, text in enumerate(decoded) if any(c in text for c in firsts))


class _HoldUntil:
    """A logits processor: ``ids`` cannot be chosen before ``minimum`` new tokens (see :func:`stop_openers`).

    A plain callable, as :class:`_Cancelled` is, so importing this module does not import transformers.
    """

    def __init__(self, minimum: int, ids: tuple[int, ...]) -> None:
        self.minimum, self.ids, self.start = minimum, list(ids), -1

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.start < 0:
            self.start = int(input_ids.shape[1])
        if int(input_ids.shape[1]) - self.start < self.minimum:
            scores[:, self.ids] = float("-inf")
        return scores


def min_length_kwargs(model: BaseChatModel, tokens: int) -> dict[str, Any]:
    """Invoke keywords that keep ``model``'s answer going for ``tokens`` new tokens (at most half its budget):
    local models only (embedded, ``hf``); an endpoint gets nothing (OpenAI's API has no minimum length)."""
    if not isinstance(model, LocalChatModel) or tokens <= 0:
        return {}
    return {"min_new_tokens": min(tokens, model.config.max_new_tokens // 2)}
