"""Fact extraction at commit: an accepted scene becomes typed continuity facts, each grounded in a quote.

One structured call (``prompts/extract_facts.md``, schema :class:`SceneFacts`, through
:func:`dsr.models.structured.invoke_structured`, so a grammar holds local models to it and ``response_format``
holds OpenAI-compatible endpoints) asks for up to six facts: events, who learns what, physical state and
injuries, who holds an object, where a character is at the end, relationship changes, deaths.

The answer is checked before anything reaches memory (:func:`ground`): a fact whose quote is not in the
scene, whose subject is not a character (for ``holder``: whose holder is not), or that says nothing is
dropped with its reason; one fact per slot survives (the last the model gave: a scene's end state). Small
models invent facts freely, so grounding is what keeps their guesses out of the story bible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import ConfigDict, Field

from dsr.memory.records import Fact, name_key
from dsr.models.structured import invoke_structured
from dsr.prompts import prompt_messages
from dsr.story.schemas import Name, TaskInput, _Strict

EXTRACT_PROMPT = "extract_facts"
MAX_FACTS = 6
FactKind = Literal["event", "knowledge", "state", "holder", "location", "relationship", "death"]
KIND_MEANING: dict[str, str] = {
    "event": "something that happened that later scenes must remember",
    "knowledge": 'a character learns something ("about": what they now know, in a few words)',
    "state": "a character's physical state or injury",
    "holder": 'an object changes hands or is kept ("subject": the object; "about": who holds it now)',
    "location": "where a character is at the end of the scene",
    "relationship": 'how two characters now stand ("about": the other character)',
    "death": "a character dies",
}
_WORD = re.compile(r"\w+")
GROUNDING = 0.8  # share of a quote's words that must occur, in order, in one stretch of the scene


def _all_required(schema: dict[str, Any]) -> None:
    """Under a grammar every field is written (an omitted ``about`` reads as a choice, not a slip)."""
    schema["required"] = list(schema["properties"])


class ExtractedFact(_Strict):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_all_required)

    kind: FactKind
    subject: Name = Field(description="a character's name as listed; for holder: the object")
    about: Name = Field(
        default="",
        description="relationship: the other character; knowledge: what is known; "
        "holder: who holds the object now; otherwise empty",
    )
    fact: Annotated[str, Field(max_length=120)] = Field(description="one short sentence")
    quote: Annotated[str, Field(max_length=100)] = Field(description="words copied exactly from the scene")


def _some_facts(schema: dict[str, Any]) -> None:
    """Under a grammar at least one fact is written: every scene leaves its characters somewhere, and a
    small model offered an empty list takes it. Validation still accepts none (a capable model's call)."""
    _all_required(schema)
    schema["properties"]["facts"]["minItems"] = 1


class SceneFacts(_Strict):
    """What one scene establishes: one to six typed facts."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_some_facts)

    facts: list[ExtractedFact] = Field(default_factory=list, max_length=MAX_FACTS)


@dataclass
class Extraction:
    """The facts one scene established, what was dropped and why, and how many model calls it took."""

    facts: list[Fact]
    dropped: list[dict[str, str]] = field(default_factory=list)
    attempts: int = 1
    raw: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """What the scene's ``facts.json`` and its commit record keep."""
        return {
            "status": "extracted",
            "attempts": self.attempts,
            "facts": [f.model_dump(mode="json", include=_SHOWN) for f in self.facts],
            "dropped": self.dropped,
        }


_SHOWN = {"id", "kind", "subject", "about", "text", "quote", "characters"}


def scene_text(screenplay: str | None, prose: str | None) -> str:
    """The accepted text facts are read from (and grounded in): the screenplay, else the prose."""
    return (screenplay or "").strip() or (prose or "").strip()


def extract_facts(
    model: BaseChatModel, x: TaskInput, screenplay: str | None, prose: str | None = None
) -> Extraction:
    """One structured call; raises what :func:`invoke_structured` raises (the caller records it)."""
    text = scene_text(screenplay, prose)
    heading = " ".join(p for p in (x.outline.int_ext, x.outline.location, x.outline.time_of_day) if p)
    cast = [name for c in x.characters for name in [c.name, *c.aliases]] or list(x.outline.characters)
    messages = prompt_messages(
        EXTRACT_PROMPT,
        scene=text,
        cast=cast,
        synopsis=x.outline.synopsis,
        heading=heading,
        kinds=KIND_MEANING,
    )
    result = invoke_structured(model, messages, SceneFacts)
    facts, dropped = ground(result.value, x, text)
    return Extraction(facts, dropped, attempts=result.attempts, raw=result.raw_outputs)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def quote_share(quote: str, text: str) -> float:
    """How much of ``quote`` is in ``text``: 1.0 when it is there verbatim up to case, spacing and
    punctuation, else the largest share of its distinct words found in one stretch of ``text`` a little
    longer than the quote (0.0 for an empty quote)."""
    words, scene = _words(quote), _words(text)
    if not words:
        return 0.0
    if f" {' '.join(words)} " in f" {' '.join(scene)} ":
        return 1.0
    wanted, n = set(words), len(words)
    best = max((len(wanted & set(scene[i : i + n + 2])) for i in range(len(scene))), default=0)
    return best / len(wanted)


def quoted(quote: str, text: str) -> bool:
    """Whether ``quote`` is in ``text``: verbatim (up to case, spacing and punctuation), or, for a quote of
    three words or more, with at least :data:`GROUNDING` of its words in one stretch of the text."""
    share = quote_share(quote, text)
    return share == 1.0 or (len(_words(quote)) >= 3 and share >= GROUNDING)


def _cast_index(x: TaskInput) -> dict[str, str]:
    """Every key a character answers to -> the canonical name (names, aliases, first names of the cast)."""
    index: dict[str, str] = {}
    for c in x.characters:
        for spelling in [c.name, *c.aliases]:
            index.setdefault(name_key(spelling), c.name)
    for name in x.outline.characters:
        index.setdefault(name_key(name), name)
    return index


def ground(answer: SceneFacts, x: TaskInput, text: str) -> tuple[list[Fact], list[dict[str, str]]]:
    """Memory facts from the model's answer, with provenance; the rest dropped with a reason."""
    meta, cast = x.meta, _cast_index(x)
    kept: dict[str, Fact] = {}
    dropped: list[dict[str, str]] = []
    for item in answer.facts:
        reason = None
        subject, about = item.subject.strip(), item.about.strip()
        if item.kind == "holder":
            holder = cast.get(name_key(about)) if about else None
            if about and holder is None:
                reason = f"the holder {about!r} is not a character"
            about = holder or about
        else:
            canonical = cast.get(name_key(subject))
            if canonical is None:
                reason = f"the subject {subject!r} is not a character"
            subject = canonical or subject
            if item.kind == "relationship":
                other = cast.get(name_key(about))
                if other is None or other == subject:
                    reason = reason or f"the relationship is with {about!r}, not another character"
                about = other or about
        if not item.fact.strip() or not subject:
            reason = "the fact is empty"
        elif not quoted(item.quote, text):
            reason = reason or "the quote is not in the scene"
        if reason:
            dropped.append({"kind": item.kind, "fact": item.fact, "quote": item.quote, "reason": reason})
            continue
        named = sorted(
            {n for n in cast.values() if _mentions(n, x, " ".join([subject, about, item.fact, item.quote]))}
        )
        fact = Fact(
            series=meta.series,
            episode=meta.episode,
            scene_no=meta.scene_no,
            text=item.fact.strip(),
            characters=named,
            kind=item.kind,
            subject=subject,
            about=about,
            quote=item.quote.strip(),
            source="extracted",
        )
        key = fact.slot or fact.id
        if key in kept:
            dropped.append(
                {
                    "kind": item.kind,
                    "fact": kept[key].text,
                    "quote": kept[key].quote,
                    "reason": "a later fact of the scene says the same slot",
                }
            )
            del kept[key]
        kept[key] = fact
    return list(kept.values()), dropped


def _mentions(name: str, x: TaskInput, text: str) -> bool:
    profile = next((c for c in x.characters if c.name == name), None)
    spellings = [name, *(profile.aliases if profile else [])]
    return any(
        re.search(rf"(?<!\w){re.escape(s)}(?!\w)", text, re.IGNORECASE) for s in spellings if s.strip()
    )
