"""Assistant-prefix continuation: a model call that goes on with the last (assistant) message instead of
starting a new turn. Split decoding (nodes/stage1_split.py) decodes one Stage 1 answer in two calls with it.

How each provider is asked (:func:`continuation_kwargs`):

- embedded / ``hf`` (:class:`dsr.models.local_chat.LocalChatModel`): the chat template rendered with the
  assistant prefix and no new generation prompt; the KV cache of the previous continuation is kept, so a
  call that extends it prefills only the new tokens.
- ``openai``: vLLM's extension of the chat API, ``continue_final_message: true`` and
  ``add_generation_prompt: false`` in the request body (``dsr serve`` takes the same two fields). An
  endpoint that refuses them gets :class:`ContinuationUnsupported`, naming the setting that asked for it.
- the llama.cpp embedded backend: not supported (its chat call always opens a new turn).
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from dsr.models.settings import ConfigError

#: What ``LocalChatModel`` (and ``dsr serve``, which passes it on) reads.
CONTINUE = "continue_final_message"


class ContinuationUnsupported(ConfigError):
    """The role's model cannot continue an assistant prefix; the message names the setting and the fix."""


_WHY_SPLIT = (
    "split decoding needs it because planner and novelist are one Stage 1 model "
    "(DSR_NOVELIST__PROMPT=stage1 with the planner on the same model); serve the model with vLLM or "
    "`dsr serve`, or give the planner another model (DSR_PLANNER__MODEL / DSR_PLANNER__PROVIDER)"
)


def continuation_kwargs(model: BaseChatModel, role: str) -> dict[str, Any]:
    """Invoke keyword arguments that make ``model`` continue the final assistant message."""
    from dsr.models.llamacpp import LlamaCppChatModel

    if isinstance(model, LlamaCppChatModel):
        raise ContinuationUnsupported(
            f"role '{role}': the llama.cpp embedded backend cannot continue an assistant prefix; "
            f"{_WHY_SPLIT}, or set DSR_EMBEDDED_BACKEND=transformers"
        )
    if hasattr(model, "openai_api_base"):  # the openai provider (langchain_openai.ChatOpenAI)
        body = dict(getattr(model, "extra_body", None) or {})
        return {"extra_body": body | {CONTINUE: True, "add_generation_prompt": False}}
    return {CONTINUE: True}


def rejects_continuation(exc: BaseException) -> bool:
    """An endpoint refused the continuation fields (HTTP 400/422 naming them, or an unknown-argument error)."""
    status = getattr(exc, "status_code", None)
    text = str(exc).lower()
    return status in (400, 422) and any(
        word in text for word in (CONTINUE, "add_generation_prompt", "unrecognized request argument")
    )


def unsupported(model: BaseChatModel, role: str, exc: BaseException) -> ContinuationUnsupported:
    where = getattr(model, "openai_api_base", None) or "the endpoint"
    first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return ContinuationUnsupported(
        f"role '{role}': {where} refused assistant-prefix continuation ({CONTINUE}: {first}); {_WHY_SPLIT}"
    )
