"""Graph builders: the scene graph (one scene from X) and the episode graph (every scene, then assembly).

Both share the node functions; the episode graph is flat (its scene loop is an edge, not a subgraph)
so every node is its own checkpoint and ``dsr resume`` repeats no finished model call.
"""

from __future__ import annotations

from typing import TypeVar

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from dsr.contract.context import RunContext
from dsr.contract.state import EpisodeState, SceneState
from dsr.graph.routing import (
    route_after_commit,
    route_after_critic,
    route_after_novelist,
    route_after_planner,
    route_after_retrieve,
    route_after_review_directives,
    route_after_review_prose,
    route_after_review_scene,
)
from dsr.nodes.commit import commit_node
from dsr.nodes.critic import critic_node
from dsr.nodes.episode import assemble_node, start_scene_node
from dsr.nodes.novelist import novelist_node
from dsr.nodes.planner import planner_node
from dsr.nodes.retrieve import retrieve_context_node
from dsr.nodes.review import review_directives_node, review_prose_node, review_scene_node
from dsr.nodes.screenwriter import screenwriter_node

StateT = TypeVar("StateT", bound=SceneState)


def _add_scene_nodes(builder: StateGraph[StateT, RunContext, StateT, StateT]) -> None:
    """The scene nodes, each reading the whole state of the graph it is in (its routers read the episode's
    fields too), whatever the narrower SceneState its signature declares."""
    schema = builder.state_schema
    builder.add_node("retrieve_context", retrieve_context_node, input_schema=schema)
    builder.add_node("planner", planner_node, input_schema=schema)
    builder.add_node("review_directives", review_directives_node, input_schema=schema)
    builder.add_node("novelist", novelist_node, input_schema=schema)
    builder.add_node("review_prose", review_prose_node, input_schema=schema)
    builder.add_node("screenwriter", screenwriter_node, input_schema=schema)
    builder.add_node("critic", critic_node, input_schema=schema)
    builder.add_node("review_scene", review_scene_node, input_schema=schema)
    builder.add_node("commit", commit_node, input_schema=schema)
    builder.add_conditional_edges("retrieve_context", route_after_retrieve)
    builder.add_conditional_edges("planner", route_after_planner)
    builder.add_conditional_edges("review_directives", route_after_review_directives)
    builder.add_conditional_edges("novelist", route_after_novelist)
    builder.add_conditional_edges("review_prose", route_after_review_prose)
    builder.add_edge("screenwriter", "critic")
    builder.add_conditional_edges("critic", route_after_critic)
    builder.add_conditional_edges("review_scene", route_after_review_scene)


def build_scene_graph() -> StateGraph[SceneState, RunContext, SceneState, SceneState]:
    """X in, accepted scene out."""
    builder = StateGraph(SceneState, context_schema=RunContext)
    _add_scene_nodes(builder)
    builder.add_edge(START, "retrieve_context")
    builder.add_edge("commit", END)
    return builder


def build_episode_graph() -> StateGraph[EpisodeState, RunContext, EpisodeState, EpisodeState]:
    """Episode spec in; scenes in order; episode files and report out."""
    builder = StateGraph(EpisodeState, context_schema=RunContext)
    _add_scene_nodes(builder)
    builder.add_node("start_scene", start_scene_node)
    builder.add_node("assemble", assemble_node)
    builder.add_edge(START, "start_scene")
    builder.add_edge("start_scene", "retrieve_context")
    builder.add_conditional_edges("commit", route_after_commit)
    builder.add_edge("assemble", END)
    return builder


def compile_scene_graph(
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph[SceneState, RunContext, SceneState, SceneState]:
    return build_scene_graph().compile(checkpointer=checkpointer, name="dsr-scene")


def compile_episode_graph(
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph[EpisodeState, RunContext, EpisodeState, EpisodeState]:
    return build_episode_graph().compile(checkpointer=checkpointer, name="dsr-episode")
