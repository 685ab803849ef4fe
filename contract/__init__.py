"""The run's contract: graph state, runtime context, the records nodes add, the call log and report.json.

Below both ``dsr.nodes`` and ``dsr.graph`` (it imports neither), so a node and the graph that wires it
agree on one definition of what a run holds.
"""
