"""The three teacher steps for one scene: reverse synthesis (S -> X), directive extraction (S, X -> I_c)
and forward synthesis (X, I_c -> N), each with its validation.

Independent calls of a step run concurrently (O, P, C; the three directive aspects), so one scene keeps
several requests in flight and the semaphore, not the scene order, bounds the load on the endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from dsr import prompts
from dsr.screenplay.lint_rules.cast import normalise_name
from dsr.story.checks import beat_coverage, deterministic_checks
from dsr.story.schemas import (
    CreativeDirectives,
    ExpositionStrategy,
    Metadata,
    NarrativePacing,
    PreviousContext,
    SceneOutline,
    TaskInput,
    render_x,
)
from dsr.synthesis.corpus import SourceScene
from dsr.synthesis.drafts import (
    MAX_GUIDELINES,
    CharacterPlans,
    CharactersDraft,
    ContextDraft,
    FidelityVerdict,
    GuidelinesDraft,
    OutlineDraft,
)
from dsr.synthesis.teacher import Teacher
from dsr.synthesis.validate import (
    Invalid,
    copied_dialogue,
    dialogue_lines,
    match_profiles,
    scene_names,
    traceable_beats,
)

PROSE_RATIO = (1.5, 3.0)  # |N| / |S| (DSR-SPEC 6 step 3)
MAX_DIRECTIVES_SHARE = 0.25  # I_c text at most ~25% of N (DSR-SPEC 3.1)
MIN_DIRECTIVE_BEATS_REALISED = 0.5


@dataclass
class Draft:
    """One scene on its way through the steps; ``coercions`` records every lenient fix applied."""

    source: SourceScene
    coercions: list[str] = field(default_factory=list)
    x: TaskInput | None = None
    directives: CreativeDirectives | None = None
    prose: str = ""


async def settled(*calls: Awaitable[Any]) -> list[Any]:
    """Await every call, then raise the first failure in argument order.

    Plain ``gather`` raises whichever call fails first in time and leaves the others running; waiting for
    all keeps the cache and the recorded reason the same from run to run.
    """
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def chat(name: str, **variables: object) -> list[dict[str, str]]:
    return [{"role": role, "content": text} for role, text in prompts.messages(name, **variables)]


def _outline_text(outline: OutlineDraft) -> str:
    beats = "\n".join(f"{i}. {b}" for i, b in enumerate(outline.beats, 1))
    return f"{outline.synopsis}\n{beats}".strip()


def checked_outline(
    o: OutlineDraft,
    scene_text: str,
    cast: list[str],
    lines: list[str],
    coercions: list[str],
    names: list[str] | None = None,
) -> OutlineDraft:
    """O without copied dialogue and with only beats traceable to S; untraceable as a whole is an error.
    ``names`` (default: the cast) may be repeated from a line: a name is not copied dialogue."""
    names = cast if names is None else names
    copied = copied_dialogue(o.synopsis, lines, names)
    if copied:
        raise Invalid("outline-copies-dialogue", f"synopsis repeats the line fragment '{copied}'")
    beats = [b for b in o.beats if b.strip() and not copied_dialogue(b, lines, names)]
    if len(beats) < len([b for b in o.beats if b.strip()]):
        coercions.append("dropped outline beats that copy dialogue")
    beats, untraceable = traceable_beats(beats, scene_text, cast)
    if untraceable:
        coercions.append(f"dropped outline beats with no trace in the scene: {len(untraceable)}")
    if not traceable_beats([o.synopsis], scene_text, cast)[0] and not beats:
        raise Invalid(
            "outline-untraceable",
            f"neither the synopsis nor any beat is traceable to the scene: {o.synopsis[:120]!r}",
        )
    return OutlineDraft(synopsis=o.synopsis, beats=beats)


async def reverse(teacher: Teacher, draft: Draft) -> None:
    """R-O first, then R-P and R-C concurrently, then R-M from S and O; validated into X."""
    src = draft.source
    cast = src.speakers

    async def context() -> ContextDraft | None:
        if not src.previous_text.strip():
            return None  # the first scene of a script has no earlier events to summarise
        got = await teacher.structured(
            chat("reverse_context", previous=src.previous_text, title=src.title),
            ContextDraft,
            "reverse_context",
        )
        draft.coercions += got.coercions
        return got.value

    async def outline() -> OutlineDraft:
        got = await teacher.structured(
            chat("reverse_outline", scene=src.text), OutlineDraft, "reverse_outline"
        )
        draft.coercions += got.coercions
        return got.value

    async def characters() -> CharactersDraft:
        got = await teacher.structured(
            chat("reverse_characters", scene=src.text, names=cast, previous=src.previous_text),
            CharactersDraft,
            "reverse_characters",
        )
        draft.coercions += got.coercions
        return got.value

    # The outline first, validated at once: it fails most often with weak teachers, and P and C would be
    # wasted calls.
    lines = dialogue_lines(src.scene)
    names = scene_names(src.scene, cast)
    o = checked_outline(await outline(), src.text, cast, lines, draft.coercions, names)
    p, c = await settled(context(), characters())
    profiles, notes = match_profiles(c.characters, cast)
    draft.coercions += notes
    m = await teacher.structured(
        chat("reverse_guidelines", scene=src.text, outline=_outline_text(o)),
        GuidelinesDraft,
        "reverse_guidelines",
    )
    draft.coercions += m.coercions
    guidelines = [g for g in m.value.guidelines if g.strip() and not copied_dialogue(g, lines, names)]
    if len(guidelines) > MAX_GUIDELINES:
        draft.coercions.append(f"kept the first {MAX_GUIDELINES} guidelines: {len(guidelines)} given")
        guidelines = guidelines[:MAX_GUIDELINES]
    heading = src.scene.heading
    draft.x = TaskInput(
        outline=SceneOutline(
            scene_id=src.id,
            location=heading.location,
            time_of_day=heading.time_of_day,
            int_ext=heading.int_ext,
            characters=cast,
            synopsis=o.synopsis,
            beats=o.beats,
        ),
        previous=PreviousContext(**p.model_dump()) if p else PreviousContext(),
        characters=profiles,
        meta=Metadata(
            guidelines=guidelines,
            genre=m.value.genre,
            tone=m.value.tone,
            language="en",
            target_len_chars=len(src.text),
            series=src.series,
            episode=src.episode,
            scene_no=src.scene_no,
        ),
    )
    check_x(draft.x, src)


def check_x(x: TaskInput, src: SourceScene) -> None:
    """X may summarise the scene but never hand Stage 1 its finished dialogue."""
    names = scene_names(src.scene, src.speakers)
    copied = copied_dialogue(render_x(x), dialogue_lines(src.scene), names)
    if copied:
        raise Invalid("x-copies-dialogue", f"X repeats the line fragment '{copied}' of the scene")


def directives_text(directives: CreativeDirectives) -> str:
    return directives.model_dump_json(indent=1)


def values_text(directives: CreativeDirectives) -> str:
    """The words of I_c without JSON keys: what the ~25%-of-N budget is about."""

    def walk(node: object) -> list[str]:
        if isinstance(node, dict):
            return [s for v in node.values() for s in walk(v)]
        if isinstance(node, list):
            return [s for v in node for s in walk(v)]
        return [str(node)] if isinstance(node, str) else []

    return " ".join(walk(directives.model_dump()))


async def extract_directives(teacher: Teacher, draft: Draft) -> None:
    """I-E, I-P, I-A on the real scene (concurrently), assembled into the planner's schema."""
    src, x = draft.source, draft.x
    assert x is not None
    exposition, pacing, plans = await settled(
        teacher.structured(
            chat("extract_exposition", scene=src.text, x_text=render_x(x)),
            ExpositionStrategy,
            "extract_exposition",
        ),
        teacher.structured(chat("extract_pacing", scene=src.text), NarrativePacing, "extract_pacing"),
        teacher.structured(
            chat("extract_characters", scene=src.text, names=x.character_names()),
            CharacterPlans,
            "extract_characters",
        ),
    )
    for got in (exposition, pacing, plans):
        draft.coercions += got.coercions
    known = {normalise_name(n): n for n in x.character_names()}
    kept = []
    for plan in plans.value.characters:
        name = known.get(normalise_name(plan.name))
        if name is None:
            draft.coercions.append(f"dropped character plan for someone not in X: {plan.name}")
        elif name != plan.name:
            draft.coercions.append(f"renamed character plan to its canonical name: {plan.name} -> {name}")
            kept.append(plan.model_copy(update={"name": name}))
        else:
            kept.append(plan)
    if not kept:
        raise Invalid("directives-unknown-characters", "no character plan names a character of X")
    try:
        directives = CreativeDirectives(exposition=exposition.value, pacing=pacing.value, characters=kept)
    except ValueError as exc:
        raise Invalid("directives-empty", str(exc)[:200]) from None
    check_directives(directives, src)
    draft.directives = directives


def check_directives(directives: CreativeDirectives, src: SourceScene) -> None:
    """I_c plans the scene; finished dialogue in it would be the answer, not the plan."""
    names = scene_names(src.scene, src.speakers)
    copied = copied_dialogue(values_text(directives), dialogue_lines(src.scene), names)
    if copied:
        raise Invalid("directives-copy-dialogue", f"I_c contains finished dialogue: '{copied}'")


async def forward(teacher: Teacher, draft: Draft) -> None:
    """F-N from X and I_c, then the post-filters and the LLM fidelity check."""
    src, x, directives = draft.source, draft.x, draft.directives
    assert x is not None and directives is not None
    low, high = (int(r * len(src.text)) for r in PROSE_RATIO)
    messages = chat(
        "forward_novel",
        x_text=render_x(x),
        directives_text=directives_text(directives),
        min_chars=low,
        max_chars=high,
    )
    prose = (await teacher.text(messages, "forward_novel")).output.strip()
    check_prose(x, directives, prose, src)
    verdict = await teacher.structured(
        chat("fidelity_check", scene=src.text, prose=prose), FidelityVerdict, "fidelity_check"
    )
    if not verdict.value.carries_events:
        problems = [*verdict.value.missing_or_changed, *verdict.value.added]
        raise Invalid(
            "prose-unfaithful",
            "; ".join(problems)[:200] or "the fidelity check says N does not carry S's events",
        )
    draft.prose = prose


def check_prose(
    x: TaskInput,
    directives: CreativeDirectives,
    prose: str,
    src: SourceScene,
    ratio: tuple[float, float] = PROSE_RATIO,
) -> None:
    """The rule post-filters on N: its length against S, the critic's Stage 1 checks, the directive beats
    realised in it and I_c's share of it (every teacher's N passes these; the LLM's also a fidelity check)."""
    low, high = (int(r * len(src.text)) for r in ratio)
    if not low <= len(prose) <= high:
        raise Invalid(
            "prose-length",
            f"|N| = {len(prose)} characters, outside {ratio[0]}-{ratio[1]}x |S| = {len(src.text)}",
        )
    findings = [
        f
        for f in deterministic_checks(x, prose, None)
        if f.stage == "novelist" and (f.severity == "error" or f.check == "N4-unknown-name")
    ]
    if findings:
        first = findings[0]
        raise Invalid(f"prose-{first.check}", f"{first.message} {first.evidence[:80]!r}".strip())
    labels = [b.label for b in directives.pacing.beats if b.label.strip()]
    realised = [c.covered for c in beat_coverage(labels, prose, "en", x.character_names())]
    if realised and sum(realised) / len(realised) < MIN_DIRECTIVE_BEATS_REALISED:
        raise Invalid(
            "prose-directives-unrealised", f"{sum(realised)} of {len(realised)} directive beats found in N"
        )
    share = len(values_text(directives)) / max(len(prose), 1)
    if share > MAX_DIRECTIVES_SHARE:
        raise Invalid("directives-too-long", f"I_c is {share:.0%} of |N|, over {MAX_DIRECTIVES_SHARE:.0%}")
