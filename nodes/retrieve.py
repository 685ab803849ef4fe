"""retrieve_context: completes X with what memory knows (P: story so far; C: profiles; facts)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import RunContext
from graph.state import SceneState
from memory import open_memory
from memory.context import build_previous_context, profiles_for
from nodes.runtime import remember, scene_no, timed_node, write_artefact
from story.schemas import CharacterProfile, TaskInput


def merge_profiles(given: list[CharacterProfile], remembered: list[dict[str, Any]]) -> list[CharacterProfile]:
    """The episode file's characters, each one memory knows replaced in place by its merged profile
    (``remembered``, from :func:`memory.context.profiles_for`); characters only memory knows come last."""
    merged = {p.name: p for p in (CharacterProfile.model_validate(r) for r in remembered)}
    kept = [merged.pop(p.name, p) for p in given]
    return [*kept, *merged.values()]


@timed_node("retrieve_context")
def retrieve_context_node(state: SceneState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    x = TaskInput.model_validate(state["x"])
    number = scene_no(state)
    facts: list[str] = []
    if ctx.memory_dir:
        mem = open_memory(ctx.memory_dir)
        meta, outline = x.meta, x.outline
        here = (meta.episode, meta.scene_no)
        story, tail, sources = build_previous_context(
            mem, meta.series, meta.episode, meta.scene_no, outline.synopsis, outline.characters,
            premise=x.previous.premise, budget_tokens=ctx.context_budget_tokens,
        )  # fmt: skip
        x.previous.story_so_far = story or x.previous.story_so_far
        x.previous.prev_scene_tail = tail or x.previous.prev_scene_tail
        x.previous.source_ids = sources
        given = [p.model_dump(mode="json") for p in x.characters]
        remembered = profiles_for(mem, meta.series, outline.characters, here, given)
        x.characters = merge_profiles(x.characters, remembered)
        facts = [f.text for f in mem.facts(meta.series, characters=outline.characters, before=here, k=10)]
    dumped = x.model_dump(mode="json")
    remember(dumped, x)  # the scene's one validation of X; later nodes reuse it
    write_artefact(ctx.run_dir, number, "inputs.json", dumped)
    return {"x": dumped, "known_facts": facts}
