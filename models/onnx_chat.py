"""The embedded provider's chat model on ONNX Runtime GenAI (models/onnx_engine.py).

A :class:`~dsr.models.local_chat.LocalChatModel` in every way callers see (the same invoke keywords: ``grammar``,
``cancel``, ``continue_final_message``, ``min_new_tokens``; the same usage and response metadata), with
generation by the int4 engine. Grammars are the transformers path's xgrammar grammars, compiled against the same
tokenizer. ``usage_metadata`` reports prompt tokens read from a slot's KV cache as
``input_token_details.cache_read`` for every call, not only continuations.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from dsr.models.continuation import CONTINUE
from dsr.models.local_chat import LocalChatModel, stop_openers
from dsr.models.messages import to_chat_dicts, usage
from dsr.models.onnx_engine import Decoded, Sampling


class OnnxChatModel(LocalChatModel):
    """Chat model backed by a shared :class:`~dsr.models.onnx_engine.OnnxModel` (``loaded``)."""

    @property
    def _llm_type(self) -> str:
        return f"dsr-{self.provider}-onnx"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.loaded.name, "provider": self.provider, "engine": "onnxruntime-genai"}

    def _prompt_list(self, messages: list[BaseMessage], continue_final: bool = False) -> list[int]:
        tok = self.loaded.tokenizer
        chat = to_chat_dicts(messages)
        if continue_final:
            if not chat or chat[-1]["role"] != "assistant" or not chat[-1]["content"]:
                raise ValueError(
                    "continue_final_message needs a final assistant message with the prefix to continue"
                )
            text = tok.apply_chat_template(chat, continue_final_message=True, tokenize=False)
        else:
            text = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        ids = [int(i) for i in tok(text, add_special_tokens=False)["input_ids"]]
        return self._spliced(text, ids) if continue_final else ids

    def _spliced(self, text: str, ids: list[int]) -> list[int]:
        """A continuation's prompt as the tokens a slot already holds plus the rest of ``text`` tokenized.

        The held tokens are what the model generated, which a fresh tokenization of the same text may split
        differently; reading them back keeps the KV cache of the earlier half usable.
        """
        tok = self.loaded.tokenizer
        best: list[int] = []
        for held in self.loaded.held_tokens():
            done = tok.decode(held, skip_special_tokens=False, clean_up_tokenization_spaces=False)
            if len(held) > len(best) and len(text) > len(done) and text.startswith(done):
                best = held
        if not best:
            return ids
        done = tok.decode(best, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        return best + [int(i) for i in tok(text[len(done) :], add_special_tokens=False)["input_ids"]]

    def prepare_grammar(self, grammar: Any) -> None:
        from dsr.models import constrained

        constrained.compile_grammar(self.loaded.tokenizer, self.loaded.vocab_size, grammar)

    def context_tokens(self, messages: list[BaseMessage]) -> tuple[int, int]:
        return self.loaded.context_length, len(self._prompt_list(messages))

    def _sampling(self, stops: list[str], **overrides: Any) -> Sampling:
        cfg = self.config
        minimum = int(overrides.get("min_new_tokens") or 0)
        compiled = None
        if (grammar := overrides.get("grammar")) is not None:  # a models.constrained.Grammar
            from dsr.models import constrained

            compiled = constrained.compile_grammar(self.loaded.tokenizer, self.loaded.vocab_size, grammar)
        return Sampling(
            max_new_tokens=int(overrides.get("max_new_tokens", cfg.max_new_tokens)),
            temperature=float(overrides.get("temperature", cfg.temperature)),
            top_p=float(overrides.get("top_p", cfg.top_p)),
            repetition_penalty=cfg.repetition_penalty,
            min_new_tokens=minimum,
            hold_ids=stop_openers(self.loaded.tokenizer, tuple(stops)) if minimum else (),
            seed=cfg.seed,
            grammar=compiled,
            cancel=overrides.get("cancel"),
        )

    def _stops(self, stop: list[str] | None) -> list[str]:
        return [*(self.config.stop or []), *(stop or [])]

    def _text(self, tokens: list[int]) -> str:
        return str(self.loaded.tokenizer.decode(tokens, skip_special_tokens=True))

    def _run_decode(
        self, prompt: list[int], sampling: Sampling, stops: list[str], continuing: bool, on_text: Any = None
    ) -> Decoded:
        def on_token(tokens: list[int]) -> bool:
            text = self._text(tokens)
            if on_text is not None:
                on_text(text)
            return bool(stops) and any(s in text for s in stops)

        with self.loaded.lock:
            return self.loaded.decode(prompt, sampling, on_token, continuing)

    def _message(self, decoded: Decoded, stops: list[str]) -> AIMessage:
        text = self._cut_at_stop(self._text(decoded.tokens), stops)
        return AIMessage(
            content=text,
            usage_metadata=usage(decoded.prompt_tokens, len(decoded.tokens), decoded.reused),
            response_metadata={
                "model_name": self.loaded.name,
                "provider": self.provider,
                "finish_reason": "length" if decoded.finish == "length" else "stop",
                "seconds": round(decoded.seconds, 3),
            },
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        continuing = bool(kwargs.get(CONTINUE))
        prompt = self._prompt_list(messages, continuing)
        stops = self._stops(stop)
        decoded = self._run_decode(prompt, self._sampling(stops, **kwargs), stops, continuing)
        return ChatResult(generations=[ChatGeneration(message=self._message(decoded, stops))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        continuing = bool(kwargs.get(CONTINUE))
        prompt = self._prompt_list(messages, continuing)
        stops = self._stops(stop)
        sampling = self._sampling(stops, **kwargs)
        pieces: queue.Queue[str | None] = queue.Queue()
        outcome: list[Decoded | BaseException] = []

        def work() -> None:
            try:
                outcome.append(self._run_decode(prompt, sampling, stops, continuing, pieces.put))
            except BaseException as exc:  # surfaced in the caller's thread below
                outcome.append(exc)
            finally:
                pieces.put(None)

        started = time.perf_counter()
        threading.Thread(target=work, name="dsr-onnx-generate", daemon=True).start()
        emitted = ""
        while (text := pieces.get()) is not None:
            trimmed = self._cut_at_stop(text, stops) if stops else text
            # A token may decode to a partial character that the next token completes: emit only growth.
            if not trimmed.startswith(emitted) or len(trimmed) == len(emitted):
                continue
            delta, emitted = trimmed[len(emitted) :], trimmed
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
            if run_manager:
                run_manager.on_llm_new_token(delta, chunk=chunk)
            yield chunk
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        final = self._message(result, stops)
        if len(str(final.content)) > len(emitted) and str(final.content).startswith(emitted):
            yield ChatGenerationChunk(message=AIMessageChunk(content=str(final.content)[len(emitted) :]))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=final.usage_metadata,
                response_metadata={
                    "model_name": self.loaded.name,
                    "provider": self.provider,
                    "seconds": round(time.perf_counter() - started, 3),
                },
            )
        )
