"""The evaluation's statistics: bootstrap CIs over items, pairwise win rates, best-of-K, ratio to human.

Every interval resamples *items* (scenes), because items are the unit the test set samples: judge
samples and the two presentation orders of a pair belong to their item and move with it. Resampling is
a percentile bootstrap with a fixed seed, so the same data give the same interval on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0


def _interval(stats: np.ndarray, level: float) -> list[float]:
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return [round(float(lo), 4), round(float(hi), 4)]


def bootstrap(
    columns: Sequence[Sequence[float]],
    statistic: Callable[..., float],
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> dict[str, Any]:
    """``statistic(*columns)`` and its percentile CI, resampling rows (items) of aligned ``columns``.

    With no rows the value and interval are ``None``; with one row the interval is that single value
    (a bootstrap cannot show spread it never saw; the ``n`` beside every figure says why).
    """
    arrays = [np.asarray(c, dtype=float) for c in columns]
    n = len(arrays[0]) if arrays else 0
    if any(len(a) != n for a in arrays):
        raise ValueError("bootstrap columns must have the same length")
    if n == 0:
        return {"value": None, "ci": None, "n": 0}
    value = float(statistic(*arrays))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(resamples, n))
    stats = np.array([statistic(*(a[p] for a in arrays)) for p in picks], dtype=float)
    stats = stats[np.isfinite(stats)]
    ci = _interval(stats, level) if len(stats) else None
    return {"value": round(value, 4), "ci": ci, "n": n}


def mean_ci(values: Sequence[float], **kwargs: Any) -> dict[str, Any]:
    return bootstrap([values], np.mean, **kwargs)


def variance(values: Sequence[float]) -> float | None:
    """Population variance (the paper's 'Var' of per-item mean scores); ``None`` without values."""
    return round(float(np.var(np.asarray(values, dtype=float))), 4) if len(values) else None


def ratio_to_human(system: Mapping[str, float], human: Mapping[str, float], **kwargs: Any) -> dict[str, Any]:
    """mean(system) / mean(human) over the items both have, with a paired bootstrap CI."""
    common = sorted(set(system) & set(human))
    if not common:
        return {"value": None, "ci": None, "n": 0}

    def ratio(s: np.ndarray, h: np.ndarray) -> float:
        denominator = h.mean()
        return s.mean() / denominator if denominator else float("nan")

    return bootstrap([[system[i] for i in common], [human[i] for i in common]], ratio, **kwargs)


def outcome_for_a(winner: str | None, shown_first: str | None = None) -> float | None:
    """1 when ``a`` won, 0 when ``b`` won, 0.5 for a tie (ties count half); None for a failed judgment."""
    return {"a": 1.0, "b": 0.0, "tie": 0.5}.get(winner) if winner is not None else None


def win_rate(per_item: Mapping[str, Sequence[float]], **kwargs: Any) -> dict[str, Any]:
    """Win rate of ``a``: per item the mean of its judged orders' outcomes, then the mean over items.

    ``per_item`` maps an item to the outcomes (1 / 0.5 / 0) of its usable judgments (both presentation
    orders for an LLM judge). Items with no usable judgment are absent and counted by the caller.
    """
    scores = [float(np.mean(v)) for v in per_item.values() if len(v)]
    return mean_ci(scores, **kwargs)


def position_consistency(orders: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """Share of items whose verdict (a / b / tie) is the same in both presentation orders.

    ``orders``: item -> {"a": winner when a was shown first, "b": winner when b was shown first};
    only items with both orders judged count.
    """
    both = [o for o in orders.values() if "a" in o and "b" in o]
    if not both:
        return {"value": None, "n": 0}
    same = sum(o["a"] == o["b"] for o in both)
    return {"value": round(same / len(both), 4), "n": len(both)}


def best_of_k(scores: Mapping[str, Mapping[str, float]], **kwargs: Any) -> dict[str, Any]:
    """Per item, the best-scored system wins; ties split the win (DSR-SPEC 8.3; pass systems without human).

    Only items every system scored count (K is the same on every item). Returns the share of items each
    system won with a bootstrap CI over items; the shares sum to 1.
    """
    systems = sorted(scores)
    if not systems:
        return {"k": 0, "n_items": 0, "systems": {}}
    items = sorted(set.intersection(*(set(scores[s]) for s in systems)))
    matrix = np.array([[scores[s][i] for s in systems] for i in items], dtype=float).reshape(
        len(items), len(systems)
    )
    best = matrix.max(axis=1, keepdims=True) if len(items) else matrix
    wins = (matrix == best).astype(float)
    shares = wins / wins.sum(axis=1, keepdims=True) if len(items) else wins
    out = {s: mean_ci(shares[:, j], **kwargs) for j, s in enumerate(systems)}
    return {"k": len(systems), "n_items": len(items), "systems": out}
