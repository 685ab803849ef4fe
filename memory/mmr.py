"""Maximal marginal relevance: relevant hits that are not near-copies of each other.

Scene summaries of a long series repeat themselves ("Mara climbs the tower again"); plain top-k would
spend the whole context budget on one situation.
"""

from __future__ import annotations

import numpy as np


def mmr(query: np.ndarray, candidates: np.ndarray, k: int, lambda_: float = 0.5) -> list[int]:
    """Indices of ``k`` candidates picked greedily by ``lambda*sim(q, d) - (1-lambda)*max sim(d, picked)``.

    Vectors must be unit-normalised (dot product = cosine). ``lambda_=1`` is plain similarity order.
    """
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError(f"mmr lambda must be in [0, 1], got {lambda_}")
    if k <= 0 or len(candidates) == 0:
        return []
    relevance = candidates @ query
    pairwise = candidates @ candidates.T
    picked = [int(np.argmax(relevance))]
    redundancy = pairwise[picked[0]].copy()
    available = np.ones(len(candidates), dtype=bool)
    available[picked[0]] = False
    while len(picked) < min(k, len(candidates)):
        score = np.where(available, lambda_ * relevance - (1.0 - lambda_) * redundancy, -np.inf)
        best = int(np.argmax(score))
        picked.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, pairwise[best])
    return picked
