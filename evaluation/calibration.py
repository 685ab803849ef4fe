"""Judge calibration: how well the configured judge agrees with people on HANNA's human-rated stories.

A judge's scores only mean something if they track human judgement. Every evaluation therefore reports,
beside its figures, the judge's agreement with human ratings on an openly licensed dataset (HANNA, MIT;
see ``evaluation/data/README.md``): Spearman's rho between the judge's 12-point score and the mean human
rating over HANNA's six criteria (bootstrap CI), pairwise accuracy on story pairs whose human means differ
by at least 0.5, and rho per criterion. Stories the judge could not score are counted as failed, never
dropped silently; metrics are computed on the scored ones and say how many that is.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables.config import ContextThreadPoolExecutor
from pydantic import ConfigDict, Field, model_validator

from dsr import prompts
from dsr.judging.rubric import MAX_SCORE, MIN_SCORE, RATIONALE_CHARS, RUBRIC_TIERS, bare_score
from dsr.judging.verdict import JudgeVerdict, common_slips, free_text
from dsr.models.structured import StructuredOutputError, counting, invoke_structured, tally
from dsr.prompts import prompt_messages

PROMPT = "judge_story"
DATA_FILE = Path(__file__).parent / "data" / "hanna_human_stories.jsonl"
DATASET = "HANNA human-written stories (Chhun et al., COLING 2022 / TACL 2024)"
LICENCE = "MIT (c) 2022 dig-team; see evaluation/data/HANNA-LICENSE"
CRITERIA = ("Relevance", "Coherence", "Empathy", "Surprise", "Engagement", "Complexity")
PAIR_MARGIN = 0.5
BOOTSTRAP = 1000


class StoryVerdict(JudgeVerdict):
    """One judge sample on a story: the rubric's 12-point score and a rationale (no screenplay categories)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {"score": 6, "rationale": "<two or three sentences: what works, what fails, why this tier>"}
            ]
        },
    )

    score: int = Field(ge=MIN_SCORE, le=MAX_SCORE, description="1-12 on the rubric")
    rationale: str = Field(
        min_length=1, description="why this score", json_schema_extra=free_text(RATIONALE_CHARS)
    )

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, data: Any) -> Any:
        """The same harmless slips the scene rubric accepts ('7/12', 'reason' for 'rationale')."""
        return common_slips(data) if isinstance(data, dict) else data


def load_stories(path: Path = DATA_FILE) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def truncate_words(text: str, max_words: int | None) -> tuple[str, bool]:
    """The first ``max_words`` words (whitespace kept inside the kept part); ``True`` when cut."""
    words = text.split()
    if max_words is None or len(words) <= max_words:
        return text, False
    return " ".join(words[:max_words]), True


def judge_story(
    model: BaseChatModel,
    story: dict[str, Any],
    *,
    samples: int = 1,
    max_words: int | None = None,
    max_repairs: int = 1,
    **invoke_kwargs: Any,
) -> dict[str, Any]:
    """Score one story ``samples`` times; a sample with unusable output is a recorded failure."""
    text, truncated = truncate_words(story["story"], max_words)
    messages = prompt_messages(
        PROMPT, prompt_text=story["prompt"], story=text, tiers=RUBRIC_TIERS, truncated=truncated
    )
    scores: list[int] = []
    rationales: list[str] = []
    failures: list[str] = []
    calls = 0
    started = time.perf_counter()
    for _ in range(samples):
        try:
            out = invoke_structured(model, messages, StoryVerdict, max_repairs=max_repairs, **invoke_kwargs)
        except StructuredOutputError as exc:
            calls += len(exc.raw_outputs)
            salvaged = bare_score(exc.raw_outputs)
            if salvaged is not None:
                scores.append(salvaged.score)
                rationales.append("(none given: the judge answered with a bare score)")
            else:
                failures.append(
                    f"{exc} (last answer: {exc.raw_outputs[-1][:160]!r})" if exc.raw_outputs else str(exc)
                )
            continue
        calls += out.attempts
        scores.append(out.value.score)
        rationales.append(out.value.rationale)
    failed = not scores
    return {
        "id": story["id"],
        "human": story["mean_overall"],
        "score": round(float(np.mean(scores)), 3) if scores else None,
        "variance": round(float(np.var(scores)), 3) if scores else None,
        "failed": failed,
        "reason": f"all {samples} sample(s) failed; last: {failures[-1]}" if failed else None,
        "samples": samples,
        "valid_samples": len(scores),
        "truncated": truncated,
        "calls": calls,
        "seconds": round(time.perf_counter() - started, 3),
        "rationales": rationales,
        "failures": failures,
    }


# --- agreement statistics (numpy only: small, and checked against hand-computed values in the tests) ---


def rank(values: list[float] | np.ndarray) -> np.ndarray:
    """Ranks 1..n with tied values sharing their average rank (as Spearman's rho needs)."""
    arr = np.asarray(values, dtype=float)
    _, inverse, counts = np.unique(arr, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)  # the rank of the last member of each group of equal values
    return (last - (counts - 1) / 2)[inverse]


def spearman(x: list[float] | np.ndarray, y: list[float] | np.ndarray) -> float | None:
    """Spearman's rho (Pearson on average ranks); None with fewer than 3 points or a constant side."""
    if len(x) < 3:
        return None
    rx, ry = rank(x), rank(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def pairwise_accuracy(
    judge: list[float], human: list[float], margin: float = PAIR_MARGIN
) -> tuple[float | None, int]:
    """Share of story pairs (human means differing by >= ``margin``) the judge orders the same way.

    A judge tie on such a pair counts half: it neither agrees nor disagrees. Returns (accuracy, n_pairs).
    """
    j, h = np.asarray(judge, dtype=float), np.asarray(human, dtype=float)
    iu = np.triu_indices(len(h), k=1)
    dh = (h[:, None] - h[None, :])[iu]
    dj = (j[:, None] - j[None, :])[iu]
    keep = np.abs(dh) >= margin - 1e-9
    if not keep.any():
        return None, 0
    agree = np.where(dj[keep] == 0, 0.5, (np.sign(dj[keep]) == np.sign(dh[keep])).astype(float))
    return float(agree.mean()), int(keep.sum())


def bootstrap_ci(
    stat: Callable[[np.ndarray], float | None],
    n: int,
    *,
    seed: int,
    rounds: int = BOOTSTRAP,
    level: float = 0.95,
) -> list[float] | None:
    """Percentile bootstrap over items (resampled with replacement); None when too few rounds are defined."""
    if n < 3:
        return None
    rng = np.random.default_rng(seed)
    values = [
        v for v in (stat(rng.integers(0, n, n)) for _ in range(rounds)) if v is not None and not math.isnan(v)
    ]
    if len(values) < rounds // 2:
        return None
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [round(float(lo), 4), round(float(hi), 4)]


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def agreement(
    items: list[dict[str, Any]], stories: dict[str, dict[str, Any]], *, seed: int = 0
) -> dict[str, Any]:
    """Spearman (CI), pairwise accuracy (CI, n_pairs) and per-criterion Spearman over the scored items."""
    scored = [it for it in items if not it["failed"]]
    judge = np.array([it["score"] for it in scored], dtype=float)
    human = np.array([it["human"] for it in scored], dtype=float)
    n = len(scored)

    def rho(idx: np.ndarray) -> float | None:
        return spearman(judge[idx], human[idx])

    def acc(idx: np.ndarray) -> float | None:
        return pairwise_accuracy(list(judge[idx]), list(human[idx]))[0]

    value, n_pairs = pairwise_accuracy(list(judge), list(human)) if n else (None, 0)
    per_criterion = {}
    for criterion in CRITERIA:
        crit = np.array([stories[it["id"]]["ratings"][criterion]["mean"] for it in scored], dtype=float)
        per_criterion[criterion] = {
            "value": _r(spearman(judge, crit)) if n else None,
            "ci": bootstrap_ci(lambda idx, c=crit: spearman(judge[idx], c[idx]), n, seed=seed),
            "n": n,
        }
    return {
        "spearman": {
            "value": _r(spearman(judge, human)) if n else None,
            "ci": bootstrap_ci(rho, n, seed=seed),
            "n": n,
        },
        "pairwise_accuracy": {"value": _r(value), "ci": bootstrap_ci(acc, n, seed=seed), "n_pairs": n_pairs},
        "per_criterion": per_criterion,
    }


def calibrate(
    model: BaseChatModel,
    *,
    judge_label: str,
    items: int | None = None,
    samples: int = 1,
    max_words: int | None = None,
    seed: int = 0,
    concurrency: int = 1,
    max_repairs: int = 1,
    data_file: Path = DATA_FILE,
    on_done: Callable[[], None] | None = None,
    **invoke_kwargs: Any,
) -> dict[str, Any]:
    """Judge the first ``items`` HANNA stories (all 96 by default) and report agreement with the people.

    The first N in HANNA's fixed order, not a random draw, so runs with different judges see the same
    stories. The result is ``calibration.json`` of the evaluation data contract, plus per-story records.
    """
    stories = load_stories(data_file)
    chosen = stories[:items] if items else stories
    started = time.perf_counter()

    def one(story: dict[str, Any]) -> dict[str, Any]:
        result = judge_story(
            model, story, samples=samples, max_words=max_words, max_repairs=max_repairs, **invoke_kwargs
        )
        if on_done:
            on_done()
        return result

    # The pool carries the context, so every judge call of this run lands in its count.
    with counting() as structured, ContextThreadPoolExecutor(max_workers=concurrency) as pool:
        records = list(pool.map(one, chosen))
    judge_seconds = time.perf_counter() - started
    n_failed = sum(r["failed"] for r in records)
    stats = agreement(records, {s["id"]: s for s in chosen}, seed=seed)
    n_scored = len(records) - n_failed
    note = (
        f"{n_scored} of {len(records)} stories scored ({n_failed} failed: no usable judge output); "
        f"Spearman against the mean of HANNA's six human criteria (1-5, 3 raters); pairwise accuracy on pairs "
        f"whose human means differ by >= {PAIR_MARGIN} (judge ties count half); 95% percentile bootstrap CIs "
        f"({BOOTSTRAP} resamples of stories)."
    )
    if max_words:
        note += f" Stories cut to their first {max_words} words ({sum(r['truncated'] for r in records)} cut)."
    if n_scored < 3:
        note += " Too few scored stories for a correlation: the judge is effectively uncalibrated."
    return {
        "dataset": DATASET,
        "licence": LICENCE,
        "judge": judge_label,
        "n_items": len(records),
        "n_failed": n_failed,
        **stats,
        "structured": tally(structured),
        "note": note,
        "samples": samples,
        "max_words": max_words,
        "max_repairs": max_repairs,
        "seed": seed,
        "prompt_version": prompts.version(PROMPT),
        "judge_calls": sum(r["calls"] for r in records),
        "judge_seconds": round(judge_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
        "items": records,
    }
