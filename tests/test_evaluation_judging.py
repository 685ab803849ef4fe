"""The judge over an EVAL_DIR with a scripted judge model (logic only): rows, cache, position swap.

The real embedded judge runs the same code in tests/test_evaluation_e2e.py.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from dsr.evaluation import records
from dsr.evaluation.judging import judge_eval
from dsr.evaluation.metrics import compute_metrics
from tests.eval_dirs import CRITIC_DATA, GOOD_SCENE, write_eval_dir

DATA = CRITIC_DATA
VERDICT = {
    "score": 7,
    "errors": {"plot_coherence": ["drifts"], "format": []},
    "rationale": "Solid but drifts.",
}


class PositionBiased(GenericFakeChatModel):
    """Scores every scene 7 with one plot error; in a pair always prefers the scene shown first."""

    def _generate(self, messages, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.__dict__.setdefault("n", 0)
        self.__dict__["n"] += 1
        text = "\n".join(str(m.content) for m in messages)
        answer = {"winner": "A", "rationale": "Scene A is tighter."} if "# Scene B" in text else VERDICT
        self.messages = iter([AIMessage(json.dumps(answer))])
        return super()._generate(messages, *args, **kwargs)


@pytest.fixture
def judge():
    model = PositionBiased(messages=itertools.repeat(AIMessage("{}")))
    return model


@pytest.fixture
def eval_dir(tmp_path: Path) -> Path:
    prose = (DATA / "prose_only.fountain").read_text(encoding="utf-8")
    return write_eval_dir(
        tmp_path,
        {
            "dsr": [records.output_row(i, "dsr", ok=True, screenplay=GOOD_SCENE) for i in ("s1", "s2")],
            "e2e": [
                records.output_row("s1", "e2e", ok=True, screenplay=prose),
                records.output_row("s2", "e2e", ok=False, error="ModelUnavailable: down"),
            ],
        },
    )


def test_judging_writes_contract_rows_caches_and_exposes_position_bias(eval_dir, judge):
    summary = judge_eval(eval_dir, samples=2, label="scripted", model_factory=lambda role, cfg: judge)
    # 3 systems x 2 items scored; 1 pair x 2 items x 2 orders; the failed e2e run costs no model call
    assert summary["judged"] == 10 and summary["cached"] == 0
    assert judge.n == 2 * 5 + 2  # two samples for each of 5 real outputs, one call per usable pair order
    rows = {
        (r["item"], r["system"]): r
        for r in records.read_judgments(records.judgments_path(eval_dir, "scripted"))
    }
    assert rows[("s1", "dsr")]["score"] == 7 and rows[("s1", "dsr")]["variance"] == 0.0
    assert rows[("s1", "dsr")]["errors"] == {
        "plot_coherence": 1,
        "character_development": 0,
        "narrative_pacing": 0,
        "format": 0,
    }
    assert rows[("s1", "dsr")]["valid_samples"] == 2 and rows[("s1", "dsr")]["detail"]["verdicts"]
    assert rows[("s2", "e2e")]["failed"] and rows[("s2", "e2e")]["reason"].startswith("no output to judge")
    pairs = records.read_pairwise(records.pairwise_path(eval_dir, "scripted"))
    s1 = {r["shown_first"]: r["winner"] for r in pairs if r["item"] == "s1"}
    assert s1 == {"a": "a", "b": "b"}  # "A" both times = whichever system was shown first
    assert all(r["failed"] for r in pairs if r["item"] == "s2")

    again = judge_eval(eval_dir, samples=2, label="scripted", model_factory=lambda role, cfg: judge)
    assert again["judged"] == 0 and again["cached"] == 10 and judge.n == 12
    changed = judge_eval(
        eval_dir, samples=1, label="scripted", model_factory=lambda role, cfg: judge
    )  # other rubric samples: scores judged again,
    assert changed["judged"] == 6 and changed["cached"] == 4  # pair verdicts (one call per order) kept

    metrics = compute_metrics(eval_dir)
    pair = metrics["pairwise"]["dsr vs e2e"]
    assert pair["win_rate_a"]["value"] == 0.5 and pair["position_consistency"] == 0.0
    assert (pair["n_pairs"], pair["n_failed"], pair["n_items"]) == (4, 2, 1)
    assert (
        metrics["systems"]["e2e"]["n_failed"] == 1
        and metrics["systems"]["dsr"]["ratio_to_human"]["value"] == 1.0
    )
    assert records.read_eval_config(eval_dir)["judges"]["scripted"]["samples"] == 1
