"""Prompt templates, one file per role or task, rendered with Jinja2 (StrictUndefined).

Each file begins with ``{# version: N #}``; the version is recorded with every artefact that a
prompt produced, so training data, runs and evaluations can say which prompt made them.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

PROMPT_DIR = Path(__file__).parent
_VERSION = re.compile(r"\{#\s*version:\s*(\S+)\s*#\}")


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(PROMPT_DIR),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **variables: object) -> str:
    """Render ``prompts/<name>.md`` with ``variables``; a missing variable is an error, not a blank."""
    return _env().get_template(f"{name}.md").render(**variables).strip()


def messages(name: str, **variables: object) -> list[tuple[str, str]]:
    """A role prompt as (role, text) turns: the file defines ``system()`` and ``user(...)`` macros."""
    module = _env().get_template(f"{name}.md").module
    return [("system", str(module.system()).strip()), ("user", str(module.user(**variables)).strip())]


def version(name: str) -> str:
    """The ``{# version: N #}`` tag of a prompt file."""
    text = (PROMPT_DIR / f"{name}.md").read_text(encoding="utf-8")
    match = _VERSION.search(text)
    return match.group(1) if match else "0"


def prompt_messages(name: str, **variables: object) -> list[BaseMessage]:
    """``prompts/<name>.md`` rendered as system + user chat messages."""
    return [
        SystemMessage(text) if role == "system" else HumanMessage(text)
        for role, text in messages(name, **variables)
    ]
