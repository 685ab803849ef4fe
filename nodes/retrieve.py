"""retrieve_context: completes X with what memory knows (P: story so far; C: profiles with each character's
state as the facts have it; the facts in force, for the critic)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from dsr.contract.context import RunContext
from dsr.contract.state import SceneState
from dsr.memory import StoryMemory
from dsr.memory.context import build_previous_context, profiles_for
from dsr.memory.records import name_key
from dsr.memory.state import character_states, in_priority
from dsr.nodes.runtime import remember, scene_no, story_memory, timed_node, write_artefact
from dsr.story.schemas import CharacterProfile, TaskInput


def merge_profiles(given: list[CharacterProfile], remembered: list[dict[str, Any]]) -> list[CharacterProfile]:
    """The episode file's characters, each one memory knows replaced in place by its merged profile
    (``remembered``, from :func:`dsr.memory.context.profiles_for`); characters only memory knows come last."""
    merged = {p.name: p for p in (CharacterProfile.model_validate(r) for r in remembered)}
    kept = [merged.pop(p.name, p) for p in given]
    return [*kept, *merged.values()]


def story_states(
    mem: StoryMemory, x: TaskInput, here: tuple[int, int]
) -> tuple[dict[str, list[str]], list[dict[str, Any]], set[str]]:
    """``(states, facts, shown)`` for the scene's characters (the outline's, or the whole cast when it names
    none): each one's state as of ``here`` from memory's typed facts, every detail with the episode and scene
    that established it; the facts in force about them (dumps, most important first) for the continuity
    check; and the ids of the facts the states show. Superseded facts are resolved away; memory keeps them."""
    names = x.outline.characters or x.character_names()
    current = mem.facts_in_force(x.meta.series, characters=names, before=here)
    if not current:
        return {}, [], set()
    cast = {
        p.name: {name_key(n) for n in [p.name, *p.aliases] if n.strip()}
        for p in x.characters
        if p.name in names or not x.outline.characters
    }
    derived = character_states(current, cast)
    shown = {fact.id for state in derived.values() for _, fact in state.ranked()}
    states = {name: state.lines() for name, state in derived.items()}
    return states, [f.model_dump(mode="json") for f in in_priority(current)], shown


@timed_node("retrieve_context")
def retrieve_context_node(state: SceneState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    x = TaskInput.model_validate(state["x"])
    number = scene_no(state)
    facts: list[str] = []
    in_force: list[dict[str, Any]] = []
    if ctx.memory_dir:
        mem = story_memory(ctx)
        meta, outline = x.meta, x.outline
        here = (meta.episode, meta.scene_no)
        given = [p.model_dump(mode="json") for p in x.characters]
        remembered = profiles_for(mem, meta.series, outline.characters, here, given)
        x.characters = merge_profiles(x.characters, remembered)
        states, in_force, shown = story_states(mem, x, here)
        for profile in x.characters:
            profile.story_state = states.get(profile.name, [])
        story, tail, sources = build_previous_context(
            mem,
            meta.series,
            meta.episode,
            meta.scene_no,
            outline.synopsis,
            outline.characters,
            premise=x.previous.premise,
            budget_tokens=ctx.context_budget_tokens,
            shown=shown,
        )
        x.previous.story_so_far = story or x.previous.story_so_far
        x.previous.prev_scene_tail = tail or x.previous.prev_scene_tail
        x.previous.source_ids = [*sources, *sorted(shown)]  # the state's facts are memory's too
        facts = [f.text for f in mem.facts(meta.series, characters=outline.characters, before=here, k=10)]
    dumped = x.model_dump(mode="json")
    remember(ctx, dumped, x)  # the scene's one validation of X; later nodes reuse it
    write_artefact(ctx.run_dir, number, "inputs.json", dumped)
    return {"x": dumped, "known_facts": facts, "continuity_facts": in_force}
