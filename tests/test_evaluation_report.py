"""Reports from a hand-made metrics dict: Table 1 / Table 2 layout, n's and failures, real PNGs, HTML self-contained."""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from pathlib import Path

import pytest
from PIL import Image

from dsr.evaluation.report import write_report

ERRORS = {"plot_coherence": 1, "character_development": 0, "narrative_pacing": 2, "format": 0}


def _system(mean: float, n_scored: int, n_failed: int, ratio: float | None) -> dict:
    return {
        "n_items": n_scored + n_failed,
        "n_scored": n_scored,
        "n_failed": n_failed,
        "score": {"mean": mean, "ci": [mean - 0.5, mean + 0.5]},
        "variance": 0.25,
        "sample_variance": 0.1,
        "ratio_to_human": None if ratio is None else {"value": ratio, "ci": [ratio - 0.05, ratio + 0.05]},
        "errors": {c: {"total": 3 * i, "per_item": 3 * i / n_scored} for i, c in enumerate(ERRORS)},
        "per_item": {f"it{i}": mean + (0.5 if i % 2 else -0.5) for i in range(n_scored)},
        "judge_free": {
            "format_valid": 0.75,
            "lint_errors_per_scene": 1.5,
            "beat_coverage": 0.6,
            "prose_leakage": 0.1,
            "dialogue_share": 0.4,
            "words": 300.0,
            "n": n_scored + n_failed,
        },
    }


def hand_metrics() -> dict:
    return {
        "judge": "embedded:test-judge",
        "items": 4,
        "systems": {
            "e2e": _system(4.0, 3, 1, 0.5),
            "dsr": _system(7.0, 4, 0, 0.875),
            "human": _system(8.0, 4, 0, None),
        },
        "pairwise": {
            "dsr vs e2e": {
                "n_pairs": 4,
                "n_failed": 1,
                "a_wins": 2,
                "b_wins": 0,
                "ties": 1,
                "win_rate_a": {"value": 0.833, "ci": [0.5, 1.0]},
                "position_consistency": 0.75,
            }
        },
        "best_of": {
            "k": 2,
            "systems": {"dsr": {"value": 0.75, "ci": [0.25, 1.0]}, "e2e": {"value": 0.25, "ci": [0.0, 0.75]}},
            "n_items": 4,
        },
        "coverage_notes": ["e2e: 1 of 4 items failed to judge (invalid judge output)"],
        "calibration": None,
        "human_ratings": None,
        "table1": [],
        "ablation": [
            {
                "pipeline": "E2E",
                "model": "smollm2",
                "cot": False,
                "score": {"mean": 4.0, "ci": [3.5, 4.5]},
                "var": 0.25,
                "system": "e2e",
                "n_scored": 3,
                "n_items": 4,
            },
            {
                "pipeline": "DSR",
                "model": "smollm2",
                "cot": True,
                "score": {"mean": 7.0, "ci": [6.5, 7.5]},
                "var": 0.25,
                "system": "dsr",
                "n_scored": 4,
                "n_items": 4,
            },
        ],
    }


def _is_png(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_report_from_hand_made_metrics(tmp_path: Path) -> None:
    metrics = hand_metrics()
    paths = write_report(tmp_path, metrics)
    md = paths["report.md"].read_text(encoding="utf-8")
    # Table 1 layout, Δ vs the e2e baseline, ratio and win as %, n scored / failed per system
    assert "| System | Score (Δ vs baseline) | Var | Ratio to human % | Win % | n scored / failed |" in md
    assert "| dsr | 7.00 [6.50, 7.50] (+3.00) | 0.25 | 87.5 [82.5, 92.5] | 75.0 [25.0, 100.0] | 4 / 0 |" in md
    assert "| e2e | 4.00 [3.50, 4.50] | 0.25 | 50.0 [45.0, 55.0] | 25.0 [0.0, 75.0] | 3 / 1 |" in md
    assert "| human | 8.00 [7.50, 8.50] | 0.25 | — | — | 4 / 0 |" in md
    # Table 2 layout
    assert "| Pipeline | Model | CoT | Score | Var | System | n scored / items |" in md
    assert "| DSR | smollm2 | w/ | 7.00 [6.50, 7.50] | 0.25 | dsr | 4 / 4 |" in md
    assert "| E2E | smollm2 | w/o | 4.00 [3.50, 4.50] | 0.25 | e2e | 3 / 4 |" in md
    assert "| dsr vs e2e | 4 | 1 | 2 | 0 | 1 | 83.3 [50.0, 100.0] | 75% |" in md
    assert "judge uncalibrated" in md and "UNCALIBRATED" in md
    assert "e2e: 1 of 4 items failed" in md
    assert "no human ratings imported" in md
    # figures: real PNGs whose titles carry the n's; the failed e2e judgment is counted, not dropped
    expected = {
        "plots/score_distributions.png",
        "plots/win_rates.png",
        "plots/pairwise_win_rates.png",
        "plots/error_counts.png",
    }
    assert expected <= set(paths)
    for name in expected:
        width, height = _is_png(paths[name].read_bytes())
        assert width > 300 and height > 200
    assert "![Score distributions](plots/score_distributions.png)" in md
    html = paths["report.html"].read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(expected)
    for b64 in images:
        _is_png(base64.b64decode(b64))
    assert "<td>dsr</td><td>7.00 [6.50, 7.50] (+3.00)</td>" in html
    assert not re.search(r'src="(?!data:)', html), "the HTML must not reference external files"
    assert json.loads(paths["report.json"].read_text(encoding="utf-8")) == metrics


def test_report_with_calibration_and_no_judgments(tmp_path: Path) -> None:
    """calibration.json beside the evaluation is reported; missing judgments are said, not drawn empty."""
    from dsr.evaluation.calibration import agreement

    items = [
        {"id": f"s{i}", "human": h, "score": j, "failed": j is None}
        for i, (h, j) in enumerate([(2.0, 3), (3.0, 5), (4.0, 9), (4.5, 8), (1.5, None)])
    ]
    stories = {
        it["id"]: {
            "ratings": {
                c: {"mean": it["human"]}
                for c in ("Relevance", "Coherence", "Empathy", "Surprise", "Engagement", "Complexity")
            }
        }
        for it in items
    }
    cal = {
        "dataset": "HANNA test",
        "licence": "MIT",
        "judge": "j",
        "n_items": 5,
        "n_failed": 1,
        **agreement(items, stories),
        "note": "hand-made",
        "items": items,
    }
    (tmp_path / "calibration.json").write_text(json.dumps(cal), encoding="utf-8")
    metrics = hand_metrics()
    for block in metrics["systems"].values():
        block["per_item"] = {}
        block["n_scored"], block["n_failed"] = 0, 4
    paths = write_report(tmp_path, metrics)
    md = paths["report.md"].read_text(encoding="utf-8")
    assert "judge uncalibrated" not in md
    assert "| Spearman ρ (vs human mean) | 0.800" in md and "| 4 |" in md
    assert "| Pairwise accuracy | 0.833" in md and "6 pairs" in md
    assert "HANNA test (MIT); judge j; 5 stories, 1 failed." in md
    assert "WARNING: measured for judge j, but this evaluation was judged by embedded:test-judge" in md
    assert _is_png(paths["plots/calibration.png"].read_bytes())
    assert "plots/score_distributions.png" not in paths
    assert "_not drawn: no scored items by judge embedded:test-judge" in md


@pytest.mark.parametrize("missing", ["best_of", "pairwise", "ablation"])
def test_report_says_what_is_missing(tmp_path: Path, missing: str) -> None:
    metrics = hand_metrics()
    metrics[missing] = None
    md = write_report(tmp_path, metrics)["report.md"].read_text(encoding="utf-8")
    phrase = {
        "best_of": "no best-of-K win rates",
        "pairwise": "no pairwise judgments",
        "ablation": "needs the systems dsr",
    }[missing]
    assert phrase in md


@pytest.mark.slow
def test_report_from_real_metrics_of_a_served_judge(
    tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Judge role -> real OpenAI-compatible server on 127.0.0.1 (scripted judge) -> judge_eval -> metrics -> report."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.evaluate import judge_server, make_eval
    from dsr.evaluation import records
    from dsr.evaluation.judging import judge_eval
    from dsr.evaluation.metrics import compute_metrics

    monkeypatch.delenv("DSR_CONFIG", raising=False)
    eval_dir = make_eval(corpus_dir, 3, tmp_path)
    with judge_server(0.0) as base_url:
        for key, value in {
            "PROVIDER": "openai",
            "BASE_URL": base_url,
            "MODEL": "scripted-judge",
            "API_KEY_ENV": "DSR_TEST_KEY",
        }.items():
            monkeypatch.setenv(f"DSR_JUDGE__{key}", value)
        monkeypatch.setenv("DSR_TEST_KEY", "dummy")
        summary = judge_eval(eval_dir, samples=2, pairwise=True, concurrency=4)
    metrics = compute_metrics(eval_dir)
    records.write_metrics(eval_dir, metrics)
    paths = write_report(eval_dir, metrics)
    md = paths["report.md"].read_text(encoding="utf-8")
    label = summary["label"]
    assert f"Judge: `{label}` · items: 3" in md
    for row in metrics["table1"]:
        assert f"| {row['system']} | {row['score']:.2f}" in md
        assert f"| {row['n_scored']} / {row['n_failed']} |" in md
    assert "(Δ vs baseline e2e)" in md and "| E2E |" in md and "| DSR |" in md
    assert "| dsr vs e2e | 6 | 0 |" in md  # 3 items x both orders
    for name in (
        "plots/score_distributions.png",
        "plots/win_rates.png",
        "plots/pairwise_win_rates.png",
        "plots/error_counts.png",
    ):
        _is_png(paths[name].read_bytes())
    assert "UNCALIBRATED" in md
