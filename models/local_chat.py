"""A langchain-core chat model over an in-process transformers causal LM.

Serves the ``embedded`` provider (SmolLM2 from the packaged GGUF) and the ``hf`` provider (a local
or fine-tuned checkpoint). ``_generate`` calls ``model.generate`` directly so the provider costs
nothing over raw generation; ``_stream`` runs generation in a worker thread and yields tokens, which
is what LangGraph's ``stream_mode="messages"`` and Studio display.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from models.messages import to_chat_dicts, usage
from models.settings import RoleConfig


class LocalChatModel(BaseChatModel):
    """Chat model backed by a shared :class:`~models.weights.LoadedModel`."""

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

    def _prompt_ids(self, messages: list[BaseMessage]) -> Any:
        tok = self.loaded.tokenizer
        encoded = tok.apply_chat_template(
            to_chat_dicts(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        return encoded["input_ids"].to(self.loaded.model.device)

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
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=overrides.get("top_p", cfg.top_p))
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        stops = [*(cfg.stop or []), *(stop or [])]
        if stops:
            kwargs.update(stop_strings=stops, tokenizer=self.loaded.tokenizer)
        if (grammar := overrides.get("grammar")) is not None:  # a models.constrained.Grammar
            from models import constrained

            vocab = self.loaded.model.config.vocab_size
            kwargs["logits_processor"] = [constrained.logits_processor(self.loaded.tokenizer, vocab, grammar)]
        if (cancel := overrides.get("cancel")) is not None:  # a threading.Event: `dsr serve` stops a generation
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

        input_ids = self._prompt_ids(messages)
        gen_kwargs = self._generation_kwargs(stop, **kwargs)
        started = time.perf_counter()
        with self.loaded.lock, torch.inference_mode():
            self._seed()
            output = self.loaded.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **gen_kwargs
            )
        new_tokens = output[0, input_ids.shape[1] :]
        # "length" like OpenAI's finish_reason: the budget ran out before the model ended its answer.
        ended = new_tokens.shape[0] < gen_kwargs["max_new_tokens"] or int(new_tokens[-1]) in self._end_ids()
        text = self.loaded.tokenizer.decode(new_tokens, skip_special_tokens=True)
        text = self._cut_at_stop(text, [*(self.config.stop or []), *(stop or [])])
        message = AIMessage(
            content=text,
            usage_metadata=usage(int(input_ids.shape[1]), int(new_tokens.shape[0])),
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

        input_ids = self._prompt_ids(messages)
        streamer = TextIteratorStreamer(self.loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
        gen_kwargs = self._generation_kwargs(stop, **kwargs)
        counter = _TokenCounter()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                with self.loaded.lock, torch.inference_mode():
                    self._seed()
                    out = self.loaded.model.generate(
                        input_ids=input_ids,
                        attention_mask=torch.ones_like(input_ids),
                        streamer=streamer,
                        **gen_kwargs,
                    )
                counter.count = int(out.shape[1] - input_ids.shape[1])
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
                usage_metadata=usage(int(input_ids.shape[1]), counter.count),
                response_metadata={"model_name": self.loaded.name, "provider": self.provider},
            )
        )


class _TokenCounter:
    count: int = 0


class _Cancelled:
    """Stops ``generate`` at the next token once ``event`` is set (the client went away, the server is stopping).

    A plain callable, not a ``transformers.StoppingCriteria`` subclass: ``StoppingCriteriaList`` only calls it,
    and subclassing would import transformers whenever this module is imported.
    """

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)
