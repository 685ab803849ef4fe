"""Grammar-constrained decoding for the in-process transformers models (embedded, ``hf``, ``dsr serve``).

A small model asked for JSON often answers with prose; masking, at every step, the tokens a grammar
does not allow makes the answer parse by construction (FEASIBILITY.md section 7). xgrammar compiles a
JSON schema or an EBNF grammar against the tokenizer once; the compiled grammar is cached per
tokenizer and grammar, and each ``generate`` call gets a fresh logits processor (it holds the matcher
state of one answer).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

_LOCK = threading.Lock()
# id(tokenizer) -> (tokenizer, compiler); the tokenizer is kept so its id is never reused while cached.
_COMPILERS: dict[int, tuple[Any, Any]] = {}
_COMPILED: dict[tuple[int, Grammar], Any] = {}
# Compact JSON: no whitespace between tokens, "," and ":" as separators (every indent spends the budget).
_COMPACT: dict[str, Any] = {"any_whitespace": False, "separators": (",", ":"), "strict_mode": True}


@dataclass(frozen=True)
class Grammar:
    """What an answer must match: a JSON schema (as JSON text) or an xgrammar EBNF grammar."""

    kind: Literal["json_schema", "ebnf"]
    source: str

    @classmethod
    def json_schema(cls, schema: type[BaseModel] | dict[str, Any]) -> Grammar:
        js = schema if isinstance(schema, dict) else schema.model_json_schema()
        return cls("json_schema", json.dumps(_fast_bounds(js), ensure_ascii=False))


def _fast_bounds(node: Any) -> Any:
    """The schema with every ``maxLength`` string as the same bound in a regex.

    xgrammar 0.2.8 compiles ``maxLength`` N in time about linear in N (10 s for 160 on a busy 2-core
    CPU); a regex repetition costs about half of that up to 128 and almost nothing above (measured,
    benchmarks/structured.py). Control characters, quotes and backslashes are left out of the text.
    """
    if isinstance(node, list):
        return [_fast_bounds(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _fast_bounds(v) for k, v in node.items()}
    if out.get("type") == "string" and "maxLength" in out and "pattern" not in out:
        low = out.pop("minLength", 0)
        out["pattern"] = f'^[^"\\\\\\x00-\\x1f]{{{low},{out.pop("maxLength")}}}$'
    return out


def available() -> bool:
    """xgrammar is a dependency, but a trimmed install without it still works on the prompt path."""
    return importlib.util.find_spec("xgrammar") is not None


def _compiler(tokenizer: Any, vocab_size: int) -> Any:
    import xgrammar as xgr

    entry = _COMPILERS.get(id(tokenizer))
    if entry is None:
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        # xgrammar's own cache fails on regex rules ("per_rule_fsm_hashes" check, 0.2.8); ours is below.
        entry = _COMPILERS[id(tokenizer)] = (tokenizer, xgr.GrammarCompiler(info, cache_enabled=False))
    return entry[1]


def compile_grammar(tokenizer: Any, vocab_size: int, grammar: Grammar) -> Any:
    """The compiled grammar, from the cache after the first call (compiling a schema takes about a second)."""
    key = (id(tokenizer), grammar)
    with _LOCK:
        if key not in _COMPILED:
            compiler = _compiler(tokenizer, vocab_size)
            if grammar.kind == "json_schema":
                _COMPILED[key] = compiler.compile_json_schema(grammar.source, **_COMPACT)
            else:
                _COMPILED[key] = compiler.compile_grammar(grammar.source)
        return _COMPILED[key]


def check(grammar: Grammar) -> None:
    """Raise ValueError when xgrammar cannot build ``grammar`` (a client's bad schema is its error, not ours)."""
    import xgrammar as xgr

    try:
        if grammar.kind == "json_schema":
            xgr.Grammar.from_json_schema(grammar.source, **_COMPACT)
        else:
            xgr.Grammar.from_ebnf(grammar.source)
    except Exception as exc:  # xgrammar raises RuntimeError or its own errors with a useful message
        raise ValueError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


def logits_processor(tokenizer: Any, vocab_size: int, grammar: Grammar) -> Any:
    """A fresh processor for one ``generate`` call."""
    from xgrammar.contrib.hf import LogitsProcessor

    return LogitsProcessor(compile_grammar(tokenizer, vocab_size, grammar))


def clear_cache() -> None:
    """Forget compiled grammars (the benchmark measures cold compiles with it)."""
    with _LOCK:
        _COMPILED.clear()
        _COMPILERS.clear()
