"""evaluation.stats against hand-computed values."""

from __future__ import annotations

import pytest

from dsr.evaluation import stats


def test_mean_ci_value_and_interval_bounds():
    got = stats.mean_ci([2.0, 4.0, 6.0, 8.0])
    assert got["value"] == 5.0 and got["n"] == 4
    lo, hi = got["ci"]
    # Resampled means of 2,4,6,8 lie in [2, 8]; the 95% interval is strictly inside and around 5.
    assert 2.0 <= lo < 5.0 < hi <= 8.0
    assert stats.mean_ci([2.0, 4.0, 6.0, 8.0]) == got  # fixed seed: the same interval every run


def test_bootstrap_edge_cases():
    assert stats.mean_ci([]) == {"value": None, "ci": None, "n": 0}
    assert stats.mean_ci([7.0]) == {"value": 7.0, "ci": [7.0, 7.0], "n": 1}
    with pytest.raises(ValueError):
        stats.bootstrap([[1.0], [1.0, 2.0]], lambda a, b: 0.0)


def test_variance_is_population_variance():
    assert stats.variance([1.0, 3.0]) == 1.0  # mean 2, squared deviations 1 and 1
    assert stats.variance([]) is None


def test_ratio_to_human_on_common_items_only():
    system = {"a": 4.0, "b": 6.0, "c": 12.0}
    human = {"a": 8.0, "b": 12.0, "d": 1.0}
    got = stats.ratio_to_human(system, human)
    assert got["n"] == 2
    assert got["value"] == pytest.approx(10.0 / 20.0)  # (4+6) / (8+12), items c and d ignored
    assert got["ci"] == [0.5, 0.5]  # ratio is 0.5 on every item, so every resample gives 0.5
    assert stats.ratio_to_human({"a": 1.0}, {"b": 1.0})["value"] is None


def test_outcomes_and_win_rate_with_ties_and_position_swap():
    assert [stats.outcome_for_a(w) for w in ("a", "b", "tie", None)] == [1.0, 0.0, 0.5, None]
    # item 1: a wins both orders (1.0); item 2: a wins one order, b the other (0.5); item 3: ties (0.5)
    # item 4: b wins both (0.0) -> win rate (1 + .5 + .5 + 0) / 4 = 0.5
    per_item = {"1": [1.0, 1.0], "2": [1.0, 0.0], "3": [0.5, 0.5], "4": [0.0, 0.0]}
    got = stats.win_rate(per_item)
    assert got["value"] == 0.5 and got["n"] == 4
    consistency = stats.position_consistency(
        {"1": {"a": "a", "b": "a"}, "2": {"a": "a", "b": "b"}, "3": {"a": "tie", "b": "tie"}, "5": {"a": "a"}}
    )
    assert consistency == {"value": round(2 / 3, 4), "n": 3}  # item 5 has one order only: not counted
    assert stats.position_consistency({}) == {"value": None, "n": 0}


def test_best_of_k_splits_ties_and_uses_common_items():
    scores = {
        "dsr": {"1": 8.0, "2": 5.0, "3": 6.0, "4": 9.0},
        "e2e": {"1": 4.0, "2": 7.0, "3": 6.0},
        "nocot": {"1": 3.0, "2": 7.0, "3": 2.0},
    }
    got = stats.best_of_k(scores)
    assert got["k"] == 3 and got["n_items"] == 3  # item 4 lacks e2e and nocot scores
    # item 1: dsr; item 2: e2e and nocot tie (1/2 each); item 3: dsr and e2e tie (1/2 each)
    assert got["systems"]["dsr"]["value"] == pytest.approx((1 + 0 + 0.5) / 3, abs=1e-4)
    assert got["systems"]["e2e"]["value"] == pytest.approx((0 + 0.5 + 0.5) / 3, abs=1e-4)
    assert got["systems"]["nocot"]["value"] == pytest.approx((0 + 0.5 + 0) / 3, abs=1e-4)
    assert sum(v["value"] for v in got["systems"].values()) == pytest.approx(1.0, abs=1e-3)
