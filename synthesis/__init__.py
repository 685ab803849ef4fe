"""Hybrid data synthesis (DSR-SPEC 6): real screenplays -> Stage 1 (X -> I_c + N) and Stage 2 (N + X -> S) data.

corpus (select, standardise, split, filter) -> steps (reverse S -> X, extract I_c, forward X + I_c -> N,
each validated) through teacher (async, bounded, cached) -> assemble (review decisions, splits by series)
-> datasheet. ``pipeline.synthesize`` runs it all; ``cli/synthesize.py`` is the command.
"""
