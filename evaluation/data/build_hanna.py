"""Extract HANNA's 96 human-written stories with their human ratings into ``hanna_human_stories.jsonl``.

HANNA (Chhun et al., COLING 2022 / TACL 2024, MIT licence, github.com/dig-team/hanna-benchmark-asg) rates
stories written for 96 WritingPrompts prompts on six criteria, three raters each, 1-5. Of what the
repository ships, only the 96 human-written stories have both their text (column ``Human`` of
``hanna_llm_stories.csv``) and their ratings (row ``Human`` of ``hanna_metric_scores_llm.csv``), so they
are the judge-calibration set. The ratings row holds Python-literal lists of 96 values, the i-th for the
human story of the i-th prompt in the order of the first model block (``Llama-7b``) of the stories file.
That alignment is checked, not assumed: HANNA's ``Text length`` list must track the stories' word counts
entry by entry.

Usage (reproducible; the output is sorted, deterministic JSON)::

    .venv/bin/python -m evaluation.data.build_hanna /path/to/hanna-benchmark-asg [-o evaluation/data]
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import shutil
import sys
from pathlib import Path

CRITERIA = ("Relevance", "Coherence", "Empathy", "Surprise", "Engagement", "Complexity")
CODES = {
    "Relevance": "RE",
    "Coherence": "CH",
    "Empathy": "EM",
    "Surprise": "SU",
    "Engagement": "EG",
    "Complexity": "CX",
}
STORIES = "hanna_llm_stories.csv"
SCORES = "hanna_metric_scores_llm.csv"
ORDER_BLOCK = "Llama-7b"
OUT_NAME = "hanna_human_stories.jsonl"
LENGTH_COLUMN_PREFIX = "Text length"


def _rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)  # the score lists are single cells of tens of kilobytes
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    for rank, i in enumerate(order):
        ranks[i] = float(rank)
    return ranks


def _check_alignment(lengths: list[float], stories: list[str]) -> None:
    """HANNA's text lengths (sub-word counts) must follow the word counts story by story."""
    words = [len(s.split()) for s in stories]
    ratios = [n / w for n, w in zip(lengths, words, strict=True)]
    if not all(0.95 <= r <= 1.8 for r in ratios):
        raise ValueError(
            f"text lengths do not match the stories (length/word ratios {min(ratios):.2f}..{max(ratios):.2f})"
        )
    a, b = _ranks([float(x) for x in lengths]), _ranks([float(w) for w in words])
    n = len(a)
    rho = 1 - 6 * sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) / (n * (n * n - 1))
    if rho < 0.98:
        raise ValueError(f"text lengths and word counts rank-correlate only {rho:.3f}: misaligned rows")


def build(source: Path) -> list[dict]:
    """The calibration records, one per human story, in HANNA's prompt order."""
    block = [r for r in _rows(source / STORIES) if r["Model"] == ORDER_BLOCK]
    human = next(r for r in _rows(source / SCORES) if r["Model"] == "Human")
    length_key = next(k for k in human if k.startswith(LENGTH_COLUMN_PREFIX))
    lists = {
        k: ast.literal_eval(v)
        for k, v in human.items()
        if k in CRITERIA or k.startswith("Human ") or k == length_key
    }
    if len(block) != 96 or any(len(v) != len(block) for v in lists.values()):
        raise ValueError(f"expected 96 stories and 96-long score lists, got {len(block)} stories")
    _check_alignment(lists[length_key], [r["Human"] for r in block])
    records = []
    for i, row in enumerate(block):
        ratings = {}
        for criterion in CRITERIA:
            raters = [lists[f"Human {k} {CODES[criterion]}"][i] for k in (1, 2, 3)]
            mean = lists[criterion][i]
            if abs(mean - sum(raters) / 3) > 1e-6:
                raise ValueError(f"story {i}: {criterion} mean {mean} is not the mean of the raters {raters}")
            ratings[criterion] = {"mean": round(mean, 6), "raters": raters}
        records.append(
            {
                "id": f"hanna-human-{i:03d}",
                "index": i,
                "prompt": row["Prompt"].strip(),
                "story": row["Human"].strip(),
                "words": len(row["Human"].split()),
                "ratings": ratings,
                "mean_overall": round(sum(r["mean"] for r in ratings.values()) / len(CRITERIA), 6),
            }
        )
    return records


def to_jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


def main() -> None:
    from dsr.common.fsutil import atomic_write

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a checkout (or copy) of hanna-benchmark-asg")
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    records = build(args.source)
    atomic_write(args.out / OUT_NAME, to_jsonl(records))
    shutil.copyfile(args.source / "LICENSE", args.out / "HANNA-LICENSE")
    print(f"wrote {len(records)} stories to {args.out / OUT_NAME}")


if __name__ == "__main__":
    main()
