"""Graphs exported to ``langgraph dev`` / LangGraph Studio (compiled without a checkpointer: the server brings its own)."""

from dsr.graph.builder import compile_episode_graph, compile_scene_graph

scene_graph = compile_scene_graph()
episode_graph = compile_episode_graph()
