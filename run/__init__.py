"""The run layer above the graphs: driving a run to completion (``runner``), checkpoints, seasons, forks
and history of writers' edits, the run lock. ``dsr.cli`` and ``dsr.room`` call this; the graphs never do.
"""
