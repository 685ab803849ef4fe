"""Embedded-model backend on llama-cpp-python (optional extra ``.[llamacpp]``).

About 3.6x faster than transformers on CPU for the same GGUF (docs/feasibility.md section 3), but it
needs a ~8 minute source build, so transformers stays the default that needs no compiler.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from dsr.models.messages import to_chat_dicts
from dsr.models.messages import usage as usage_of
from dsr.models.settings import RoleConfig

_LOCK = threading.Lock()
_LLAMAS: dict[str, Any] = {}


def available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def load_llama(gguf: Path) -> Any:
    """One ``Llama`` per GGUF file per process."""
    with _LOCK:
        if str(gguf) not in _LLAMAS:
            import os

            from llama_cpp import Llama

            _LLAMAS[str(gguf)] = Llama(
                model_path=str(gguf), n_ctx=4096, n_threads=os.cpu_count() or 2, n_batch=512, verbose=False
            )
        return _LLAMAS[str(gguf)]


class LlamaCppChatModel(BaseChatModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    llama: Any = Field(exclude=True)
    config: RoleConfig
    name_: str = "SmolLM2-135M-Instruct.Q4_1.gguf"

    @property
    def _llm_type(self) -> str:
        return "dsr-embedded-llamacpp"

    def context_tokens(self, messages: list[BaseMessage]) -> tuple[int, int]:
        """(context length, prompt length) in tokens for `dsr serve`'s max_tokens cap; like the stream's usage
        below, the prompt is counted without the chat template's few tokens."""
        text = "".join(m["content"] for m in to_chat_dicts(messages))
        return int(self.llama.n_ctx()), len(self.llama.tokenize(text.encode(), add_bos=False))

    def _params(self, stop: list[str] | None, **overrides: Any) -> dict[str, Any]:
        cfg = self.config
        params = {
            "max_tokens": overrides.get("max_new_tokens", cfg.max_new_tokens),
            "temperature": overrides.get("temperature", cfg.temperature),
            "top_p": overrides.get("top_p", cfg.top_p),
            # llama.cpp's repeat_penalty is the same multiplicative penalty as transformers'.
            "repeat_penalty": cfg.repetition_penalty,
            "stop": [*(cfg.stop or []), *(stop or [])] or None,
            "seed": cfg.seed if cfg.seed is not None else -1,
        }
        if (grammar := overrides.get("grammar")) is not None:  # a models.constrained.Grammar
            if grammar.kind != "json_schema":
                raise ValueError(
                    "the llama.cpp backend takes JSON-schema grammars only; use the transformers backend"
                )
            # llama-cpp-python compiles the schema to its own GBNF grammar and constrains sampling with it.
            params["response_format"] = {"type": "json_object", "schema": json.loads(grammar.source)}
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        started = time.perf_counter()
        with _LOCK:
            out = self.llama.create_chat_completion(
                messages=to_chat_dicts(messages), **self._params(stop, **kwargs)
            )
        usage = out.get("usage", {})
        message = AIMessage(
            content=out["choices"][0]["message"]["content"] or "",
            usage_metadata=usage_of(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
            response_metadata={
                "model_name": self.name_,
                "provider": "embedded",
                "backend": "llamacpp",
                "finish_reason": out["choices"][0].get("finish_reason"),
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
        completion_tokens = 0
        cancel = kwargs.get("cancel")  # a threading.Event: `dsr serve` stops a generation between tokens
        with _LOCK:
            stream = self.llama.create_chat_completion(
                messages=to_chat_dicts(messages), stream=True, **self._params(stop, **kwargs)
            )
            for part in stream:
                if cancel is not None and cancel.is_set():
                    break  # llama-cpp generates lazily, as the stream is read: leaving the loop ends it
                delta = part["choices"][0]["delta"].get("content") or ""
                if delta:
                    completion_tokens += 1
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                    if run_manager:
                        run_manager.on_llm_new_token(delta, chunk=chunk)
                    yield chunk
        # llama.cpp's stream carries no usage block: count the prompt's text tokens (template tokens excluded)
        # and one token per streamed delta (llama.cpp emits one token per chunk).
        text = "".join(m["content"] for m in to_chat_dicts(messages))
        prompt_tokens = len(self.llama.tokenize(text.encode(), add_bos=False))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=usage_of(prompt_tokens, completion_tokens),
            )
        )
