"""Action-line rules: length, camera directions, unfilmable prose, and text that is not screenplay.

DSR's screenwriter writes observable action only (DSR-SPEC §3.2, §4.1 d/e); the word lists live in
:mod:`dsr.screenplay.lexicon` so a language is data, not code.
"""

from __future__ import annotations

import math
import re

from dsr.screenplay.lexicon import Category, find
from dsr.screenplay.lint_rules.core import Context, register, rule, text_of
from dsr.screenplay.lint_rules.structure import is_title_block
from dsr.screenplay.model import Action, Centered, Shot
from dsr.screenplay.page import FULL_WIDTH

rule("SP040", "action-too-long", "warning", "an action paragraph longer than about 5 printed lines")
rule(
    "SP041",
    "camera-direction",
    "warning",
    "camera or editing directions in action (CLOSE ON, WE SEE, PAN TO)",
)
rule("SP042", "inner-thought", "warning", "thoughts, memories, decisions: what a camera cannot film")
rule("SP043", "emotion-statement", "warning", "an emotion stated instead of shown ('She is sad.')")
rule("SP044", "simile", "info", "metaphor-style comparisons ('as if', 'like a')")
rule("SP045", "novel-narration", "warning", "narration addressed to a reader ('Little does she know')")
rule("SP046", "markdown-artefact", "error", "markdown code fences or rules that are not Fountain")
rule("SP047", "not-screenplay-text", "error", "a model's remarks to the reader ('Here is the screenplay:')")
rule("SP048", "shot", "info", "a SHOT element: camera directions only when the episode asks for them")

ACTION_WARN_LINES = 5
ACTION_ERROR_LINES = 12  # a wall of novel prose, not a screenplay paragraph

_FENCE = re.compile(r"^\s*(?:```|~~~)")
_RULE_LINE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_CHATTER = re.compile(
    r"^\s*(?:sure|certainly|of course|absolutely|okay|here is|here's|here are|below is|this is|i hope|i have"
    r"|i've|let me know|feel free|as an ai|note:|notes:|screenplay:|end of (?:the )?(?:screenplay|script|scene))"
    r"\b.*\b(?:screenplay|script|scene|fountain|format(?:ted)?|draft|adaptation)\b",
    re.IGNORECASE,
)
_PROSE_RULES: tuple[tuple[Category, str, str], ...] = (
    ("camera", "SP041", "camera direction {hit!r}: describe what is seen, not the shot"),
    ("inner_state", "SP042", "inner state {hit!r} cannot be filmed: show it as a visible action"),
    ("emotion_statement", "SP043", "{hit!r} states an emotion: show it through behaviour"),
    ("narration", "SP045", "{hit!r} is narration for a reader, not something on screen"),
    ("simile", "SP044", "comparison {hit!r}: keep to what the camera sees"),
)


def printed_lines(text: str, width: int = FULL_WIDTH) -> int:
    """Lines the paragraph takes on the page: hard line breaks kept, long lines wrapped at ``width``."""
    return sum(max(1, math.ceil(len(line) / width)) for line in text.split("\n"))


@register
def check_title_page(ctx: Context) -> None:
    """A chat model's preamble ending in a colon parses as a title-page key."""
    for field in ctx.doc.title_page:
        text = f"{field.key}: {field.value}".strip()
        if _CHATTER.match(text):
            ctx.add(
                "SP047",
                "remark to the reader read as a title-page key: output only the screenplay",
                line=ctx.source_line_of(field.key),
                scene=None,
                excerpt=text,
            )


@register
def check_action(ctx: Context) -> None:
    for block in ctx.blocks():
        elements = block.visible()
        for element in elements:
            if isinstance(element, Shot):
                ctx.add(
                    "SP048",
                    "shot direction: keep camera work out unless the episode asks for it",
                    line=ctx.line_of(element),
                    scene=block.scene,
                    excerpt=element.text,
                )
                continue
            if not isinstance(element, Action | Centered):
                continue
            text = text_of(element)
            line = ctx.line_of(element)
            _check_artefacts(ctx, block.scene, element, element.text)
            if _CHATTER.match(text) and isinstance(element, Action):
                ctx.add(
                    "SP047",
                    "remark to the reader, not part of the screenplay: output only the screenplay",
                    line=line,
                    scene=block.scene,
                    excerpt=text,
                )
                continue
            if isinstance(element, Action) and not is_title_block(element.text):
                _check_length(ctx, block.scene, element, text)
                _check_lexicon(ctx, block.scene, element, text)


def _check_length(ctx: Context, scene: int | None, element: Action, text: str) -> None:
    lines = printed_lines(text)
    if lines > ACTION_WARN_LINES:
        ctx.add(
            "SP040",
            f"action paragraph of {lines} printed lines: split it into beats of 1-4 lines",
            line=ctx.line_of(element),
            scene=scene,
            excerpt=text,
            severity="error" if lines > ACTION_ERROR_LINES else None,
        )


def _check_lexicon(ctx: Context, scene: int | None, element: Action, text: str) -> None:
    """One finding per category and paragraph, at the line of the first hit, so a long paragraph stays readable."""
    for category, rule_id, message in _PROSE_RULES:
        hits = find(text, category, ctx.language)
        if not hits:
            continue
        first = hits[0]
        offset = text.count("\n", 0, first.start)
        more = f" (+{len(hits) - 1} more)" if len(hits) > 1 else ""
        start = text.rfind("\n", 0, first.start) + 1
        end = text.find("\n", first.end)
        ctx.add(
            rule_id,
            message.format(hit=first.text) + more,
            line=ctx.line_of(element, offset),
            scene=scene,
            excerpt=text[start : end if end != -1 else len(text)],
        )


def _check_artefacts(ctx: Context, scene: int | None, element: Action | Centered, raw: str) -> None:
    for offset, line in enumerate(raw.split("\n")):
        if _FENCE.match(line) or _RULE_LINE.match(line):
            ctx.add(
                "SP046",
                "markdown "
                + ("code fence" if _FENCE.match(line) else "horizontal rule")
                + " is not Fountain",
                line=ctx.line_of(element, offset),
                scene=scene,
                excerpt=line,
            )
