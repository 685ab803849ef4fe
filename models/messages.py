"""langchain-core messages <-> plain chat dicts (the shape chat templates and servers use)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata

_ROLE_OF = {"system": "system", "human": "user", "ai": "assistant"}


def message_text(message: BaseMessage) -> str:
    """Text of a message whose content may be a list of content blocks."""
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(block if isinstance(block, str) else str(block.get("text", "")) for block in content)


def to_chat_dicts(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """Map to ``{"role", "content"}``; tool and other message kinds are passed as user turns."""
    return [{"role": _ROLE_OF.get(m.type, "user"), "content": message_text(m)} for m in messages]


def from_chat_dicts(messages: list[dict[str, Any]]) -> list[BaseMessage]:
    """Inverse of :func:`to_chat_dicts`, for the OpenAI-compatible server."""
    out: list[BaseMessage] = []
    for item in messages:
        role, content = item.get("role"), item.get("content") or ""
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        if role == "system":
            out.append(SystemMessage(content=content))
        elif role == "assistant":
            out.append(AIMessage(content=content))
        else:
            out.append(HumanMessage(content=content))
    return out


def usage(input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> UsageMetadata:
    """``usage_metadata`` as every provider reports it (LangGraph and the report sum these); ``cached_tokens``
    of the input came from a kept KV cache, not a new prefill (langchain's ``input_token_details.cache_read``,
    as langchain-openai reports an endpoint's ``prompt_tokens_details.cached_tokens``)."""
    meta = UsageMetadata(
        input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens
    )
    if cached_tokens:
        meta["input_token_details"] = {"cache_read": cached_tokens}
    return meta
