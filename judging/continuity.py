"""The continuity critic (check ``N5-continuity``): a model reads the facts memory holds about the scene's
characters and the draft, and names contradictions, each citing a fact and a line of the draft.

Beside the deterministic N5 rule (a dead character acts), this covers what a rule cannot: positions,
possessions, knowledge, injuries and relationships. One structured call (``prompts/continuity.md``,
:class:`ContinuityVerdict`); the facts are shown as short labels (F1, F2, ...) that the answer cites.

Every citation is checked before it becomes a finding (:func:`cite`): the label must name a fact it was
shown and the quote must be in the draft (up to case, spacing and punctuation; a near quote is placed on
its best line); anything else is dropped with its reason. The finding is blamed on the stage that
introduced the contradiction: the planner when the quoted line is in the directives, else the novelist when
it is in the prose, else the screenwriter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired

from langchain_core.language_models import BaseChatModel
from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from dsr.memory.records import Fact
from dsr.models.structured import invoke_structured
from dsr.prompts import prompt_messages
from dsr.story.extraction import quote_share, quoted
from dsr.story.findings import Finding, Stage
from dsr.story.schemas import Sentence, TaskInput, _Strict

CONTINUITY_PROMPT = "continuity"
CHECK = "N5-continuity"
MAX_FACTS = 12  # facts shown to the model: the caller orders them, most important first
BLAME_SHARE = 0.6  # share of the quote's words an earlier stage's text must hold to take the blame


def _all_required(schema: dict[str, Any]) -> None:
    schema["required"] = list(schema["properties"])


class Contradiction(_Strict):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_all_required)

    # The label's shape is the grammar's (a pattern, which bounds its length); validation stays lenient
    # ("f2 " is F2) and cite() drops a label that names no fact shown.
    fact: str = Field(
        description="the label of the contradicted fact, e.g. F2",
        json_schema_extra={"pattern": "^F[0-9]{1,2}$"},
    )
    quote: Annotated[str, Field(max_length=160)] = Field(description="the draft's line, copied word for word")
    explanation: Sentence = Field(description="what does not fit, in one sentence")


class ContinuityVerdict(_Strict):
    """The draft's contradictions with the continuity bible (none, usually)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_all_required)

    contradictions: list[Contradiction] = Field(default_factory=list, max_length=3)


#: What a critic verdict keeps of the check (graph state): ``checked`` with what was found and dropped, or
#: ``unchecked`` (no usable answer) with the reason. Written as a call, so that its types are read now (this
#: module's annotations are strings) and ``NotRequired`` keys are optional at run time too.
ContinuityRecord = TypedDict(  # noqa: UP013 (the call form, as said above)
    "ContinuityRecord",
    {
        "status": Literal["checked", "unchecked"],
        "facts": int,
        "attempts": int,
        "found": NotRequired[int],
        "dropped": NotRequired[list[dict[str, str]]],
        "reason": NotRequired[str],
    },
)


@dataclass
class ContinuityResult:
    """Findings of one check, the citations dropped with their reasons, and the model calls it took."""

    findings: list[Finding]
    dropped: list[dict[str, str]] = field(default_factory=list)
    attempts: int = 1
    facts: int = 0
    cited: list[str] = field(default_factory=list)  # the fact id each finding cites, in order

    def record(self) -> ContinuityRecord:
        """What the critic's verdict keeps of the check."""
        return {
            "status": "checked",
            "facts": self.facts,
            "found": len(self.findings),
            "dropped": self.dropped,
            "attempts": self.attempts,
        }


def labelled(facts: list[Fact]) -> list[tuple[str, Fact]]:
    """The facts the model is shown, as (label, fact): F1, F2, ..."""
    return [(f"F{i}", fact) for i, fact in enumerate(facts[:MAX_FACTS], 1)]


def outline_text(x: TaskInput) -> str:
    beats = "".join(f"\n{i}. {beat}" for i, beat in enumerate(x.outline.beats, 1))
    return f"{x.outline.synopsis}{beats}"


def check_continuity(
    model: BaseChatModel,
    x: TaskInput,
    facts: list[Fact],
    screenplay: str,
    *,
    prose: str | None = None,
    directives: str | None = None,
) -> ContinuityResult:
    """One structured call on the draft ``screenplay``; raises what :func:`invoke_structured` raises."""
    labels = labelled(facts)
    messages = prompt_messages(
        CONTINUITY_PROMPT, facts=labels, outline=outline_text(x), screenplay=screenplay
    )
    result = invoke_structured(model, messages, ContinuityVerdict)
    findings, dropped = cite(result.value, dict(labels), screenplay, prose=prose, directives=directives)
    cited = [f.evidence.split(" ", 1)[0] for f in findings]
    return ContinuityResult(findings, dropped, attempts=result.attempts, facts=len(labels), cited=cited)


def _line(quote: str, screenplay: str) -> tuple[int, str] | None:
    """(1-based line number, line) of the screenplay that holds the quote, or its best near match."""
    lines = [(n, line.strip()) for n, line in enumerate(screenplay.splitlines(), 1) if line.strip()]
    exact = [(n, line) for n, line in lines if quoted(quote, line)]
    if exact:
        return exact[0]
    if not quoted(quote, screenplay):  # a quote across lines: placed on the line that holds most of it
        return None
    return max(lines, key=lambda row: quote_share(quote, row[1]), default=None)


def blame(quote: str, prose: str | None, directives: str | None) -> Stage:
    """The earliest stage whose output already holds the quoted line."""
    if directives and quote_share(quote, directives) >= BLAME_SHARE:
        return "planner"
    if prose and quote_share(quote, prose) >= BLAME_SHARE:
        return "novelist"
    return "screenwriter"


def cite(
    verdict: ContinuityVerdict,
    facts: dict[str, Fact],
    screenplay: str,
    *,
    prose: str | None = None,
    directives: str | None = None,
) -> tuple[list[Finding], list[dict[str, str]]]:
    """Findings for the contradictions whose fact and line check out; the rest, with reasons."""
    findings: list[Finding] = []
    dropped: list[dict[str, str]] = []
    seen: set[tuple[str, int]] = set()
    for item in verdict.contradictions:
        fact = facts.get(item.fact.strip().upper())
        where = _line(item.quote, screenplay) if fact else None
        if fact is None or where is None:
            reason = "no such fact was shown" if fact is None else "the quote is not in the draft"
            dropped.append({"fact": item.fact, "quote": item.quote, "reason": reason})
            continue
        number, line = where
        if (fact.id, number) in seen:
            continue
        seen.add((fact.id, number))
        findings.append(
            Finding(
                check=CHECK,
                stage=blame(item.quote, prose, directives),
                message=f"the draft contradicts memory fact {fact.id} ({fact.where}, {fact.kind}): {fact.text}",
                evidence=f"{fact.id} line {number}: {line}"[:300],
                fix_hint=(
                    item.explanation.strip() or "keep to what the story established, or show the change"
                )[:200],
            )
        )
    return findings, dropped
