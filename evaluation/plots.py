"""The report's figures (matplotlib, Agg backend): every figure says in its title how many items it covers.

One function per figure; each writes a PNG and returns its path, or ``None`` when there is nothing to
draw (the report then says why instead of showing an empty chart).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dsr.common.fsutil import atomic_write  # noqa: E402
from dsr.judging.rubric import ERROR_CATEGORIES, MAX_SCORE, MIN_SCORE  # noqa: E402

DPI = 110


def _save(fig: plt.Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return atomic_write(path, buffer.getvalue())


def score_distributions(
    scores: dict[str, list[float]], failed: dict[str, int], path: Path, *, title: str
) -> Path | None:
    """Per-item scores per system as box plots with the points over them, on the full 1-12 scale."""
    systems = [s for s in scores if scores[s]]
    if not systems:
        return None
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(systems) + 2), 4))
    ax.boxplot([scores[s] for s in systems], showmeans=True)
    ax.set_xticks(range(1, len(systems) + 1))
    rng = np.random.default_rng(0)  # fixed jitter: the same data draws the same figure
    for i, system in enumerate(systems, start=1):
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(scores[system])), scores[system], s=12, alpha=0.6)
    ax.set_xticklabels([f"{s}\nn={len(scores[s])}, failed={failed.get(s, 0)}" for s in systems], fontsize=8)
    ax.set_ylim(MIN_SCORE - 0.5, MAX_SCORE + 0.5)
    ax.set_ylabel("score (1-12, per-item mean)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def win_rate_bars(
    bars: list[tuple[str, float, list[float] | None, str]], path: Path, *, title: str, ylabel: str
) -> Path | None:
    """Bars of win rates (0-100 %) with their confidence intervals as error bars; labels carry the n."""
    bars = [b for b in bars if b[1] is not None]
    if not bars:
        return None
    labels = [f"{name}\n{note}" for name, _, _, note in bars]
    values = np.array([100 * v for _, v, _, _ in bars])
    lows = np.array([100 * (v - ci[0]) if ci else 0.0 for _, v, ci, _ in bars])
    highs = np.array([100 * (ci[1] - v) if ci else 0.0 for _, v, ci, _ in bars])
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(bars) + 2), 4))
    ax.bar(
        range(len(bars)), values, yerr=np.vstack([lows.clip(0), highs.clip(0)]), capsize=5, color="#4c72b0"
    )
    ax.set_xticks(range(len(bars)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def error_counts(systems: dict[str, dict[str, Any]], path: Path, *, title: str) -> Path | None:
    """Grouped bars: labelled errors per scored item, per category, per system (the paper's Fig 4)."""
    names = [s for s, block in systems.items() if block.get("errors") and block.get("n_scored")]
    if not names:
        return None
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(ERROR_CATEGORIES))
    for i, name in enumerate(names):
        errors = systems[name]["errors"]
        values = [errors.get(c, {}).get("per_item", 0.0) or 0.0 for c in ERROR_CATEGORIES]
        ax.bar(
            x + i * width - 0.4 + width / 2,
            values,
            width,
            label=f"{name} (n={systems[name].get('n_scored', 0)})",
        )
    ax.set_xticks(x)
    ax.set_xticklabels([c.replace("_", " ") for c in ERROR_CATEGORIES], fontsize=8)
    ax.set_ylabel("errors per scored item")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def calibration_scatter(items: list[dict[str, Any]], path: Path, *, title: str) -> Path | None:
    """Judge score against the human mean rating, one point per scored story."""
    scored = [it for it in items if not it.get("failed") and it.get("score") is not None]
    if not scored:
        return None
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter([it["human"] for it in scored], [it["score"] for it in scored], s=18, alpha=0.7)
    ax.set_xlabel("human mean rating (HANNA, 1-5)")
    ax.set_ylabel("judge score (1-12)")
    ax.set_xlim(0.8, 5.2)
    ax.set_ylim(MIN_SCORE - 0.5, MAX_SCORE + 0.5)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return _save(fig, path)
