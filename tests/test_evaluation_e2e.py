"""The whole harness on CPU through the real `dsr` command, with the real embedded model in every role it calls.

Set: the real corpus, reverse-synthesised by the rule-based teacher (the embedded model cannot write the
teacher's JSON; the second test shows that path). The systems ``dsr`` (planner, novelist, screenwriter)
and ``e2e`` (screenwriter), the rubric judge and pairwise judging all run SmolLM2-135M with tiny token
budgets; the critic's rubric is off (``--no-rubric``: with zero retries it could not change a scene; the
critic's rubric runs for real in tests/test_graph_e2e.py). The numbers are poor, the harness is real: every
system must produce a scene on at least one item, and the figures are checked against the files they are
computed from (outputs, judgments, pairwise verdicts), and caching against call logs.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dsr.evaluation import records
from dsr.evaluation.items import build_from_corpus
from tests.servers import VENV_BIN, is_user_setting
from tests.test_evaluation_sets import scripted

TINY = {
    "HF_HUB_OFFLINE": "1",
    "COLUMNS": "200",
    "DSR_PLANNER__MAX_NEW_TOKENS": "24",
    "DSR_NOVELIST__MAX_NEW_TOKENS": "32",
    "DSR_SCREENWRITER__MAX_NEW_TOKENS": "32",
    "DSR_JUDGE__MAX_NEW_TOKENS": "24",
    "DSR_TEACHER__MAX_NEW_TOKENS": "16",
}


def dsr(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not is_user_setting(k)} | TINY
    result = subprocess.run(
        [str(VENV_BIN / "dsr"), "evaluate", *args], capture_output=True, text=True, env=env, timeout=900
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


@pytest.mark.slow
def test_dsr_vs_e2e_end_to_end_with_the_embedded_model(tmp_path, corpus_dir):
    set_dir, eval_dir = tmp_path / "set", tmp_path / "eval"
    build_from_corpus(corpus_dir, set_dir, scripted, limit=2)
    items = records.read_items(set_dir)
    assert len(items) == 2

    common = ["--system", "dsr", "--system", "e2e", "--max-retries", "0", "--no-rubric"]
    first = dsr("all", str(set_dir), "-o", str(eval_dir), *common, "--samples", "1", "--max-repairs", "0")
    assert "Table 1" in first.stdout

    metrics = json.loads((eval_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["items"] == 2 and metrics["judge"] == "embedded-SmolLM2-135M-Instruct"
    outputs = {s: records.read_outputs(eval_dir, s) for s in ("dsr", "e2e", "human")}
    judgments = records.read_judgments(records.judgments_path(eval_dir, metrics["judge"]))
    for name in ("dsr", "e2e", "human"):
        block = metrics["systems"][name]
        # Every system wrote a scene for at least one item (a run that failed everywhere is a failure here).
        ok = [r for r in outputs[name] if r["ok"]]
        assert sorted(r["item"] for r in outputs[name]) == sorted(i["id"] for i in items)
        assert ok and all(r["screenplay"].strip() for r in ok), (name, [r["error"] for r in outputs[name]])
        # Coverage is honest: every item judged once, and the counts are the judgments file's.
        judged = [r for r in judgments if r["system"] == name]
        assert sorted(r["item"] for r in judged) == sorted(r["item"] for r in outputs[name])
        scored = [r for r in judged if not r["failed"]]
        assert block["n_items"] == 2 and block["n_scored"] == len(scored)
        assert all(r["reason"] for r in judged if r["failed"]) and all(1 <= r["score"] <= 12 for r in scored)
        if scored:
            assert block["score"]["mean"] == pytest.approx(
                sum(r["score"] for r in scored) / len(scored), abs=1e-2
            )
        # Judge-free metrics cover exactly the scenes that were written.
        free = block["judge_free"]
        assert free["n"] == len(ok) and free["n_run_failed"] == 2 - len(ok)
        assert free["format_valid"] is not None and free["beat_coverage"] is not None and free["words"] > 0
    assert metrics["systems"]["human"]["judge_free"]["format_valid"] == 1.0
    assert all(r["prose"] for r in outputs["dsr"] if r["ok"]) and all(
        r["prose"] is None for r in outputs["e2e"]
    )
    # Pairwise: each item judged in both orders, and the counts are the pairwise file's.
    pairs = [
        r
        for r in records.read_pairwise(records.pairwise_path(eval_dir, metrics["judge"]))
        if (r["a"], r["b"]) == ("dsr", "e2e")
    ]
    assert sorted((r["item"], r["shown_first"]) for r in pairs) == sorted(
        (i["id"], o) for i in items for o in "ab"
    )
    pair = metrics["pairwise"]["dsr vs e2e"]
    assert pair["n_pairs"] == len(pairs) == 4 and pair["n_failed"] == sum(r["failed"] for r in pairs)
    assert (pair["a_wins"], pair["b_wins"], pair["ties"]) == tuple(
        sum(not r["failed"] and r["winner"] == w for r in pairs) for w in ("a", "b", "tie")
    )
    assert {row["system"] for row in metrics["table1"]} == {"dsr", "e2e", "human"}
    assert [(r["pipeline"], r["cot"]) for r in metrics["ablation"]] == [("E2E", "w/o"), ("DSR", "w/")]
    assert (eval_dir / "report.md").is_file() and (eval_dir / "report.json").is_file()

    # Rerun: nothing is regenerated or re-judged.
    calls_before = {p: _lines(p) for p in (eval_dir / "runs").rglob("calls.jsonl")}
    judgments_before = records.judgments_path(eval_dir, metrics["judge"]).read_text(encoding="utf-8")
    outputs_before = (eval_dir / "outputs" / "dsr.jsonl").read_text(encoding="utf-8")
    dsr("run", str(set_dir), "-o", str(eval_dir), *common)
    assert {p: _lines(p) for p in (eval_dir / "runs").rglob("calls.jsonl")} == calls_before
    assert (eval_dir / "outputs" / "dsr.jsonl").read_text(encoding="utf-8") == outputs_before
    rejudge = dsr("judge", str(eval_dir), "--samples", "1", "--max-repairs", "0")
    assert "0 new judgments, 10 cached" in rejudge.stdout
    assert records.judgments_path(eval_dir, metrics["judge"]).read_text(encoding="utf-8") == judgments_before


@pytest.mark.slow
def test_build_set_with_the_embedded_teacher_ends_with_zero_items_and_says_why(tmp_path, corpus_dir):
    out = tmp_path / "set"
    result = dsr("build-set", str(corpus_dir), "-o", str(out), "--limit", "1", "--max-repairs", "0")
    assert "0 items" in result.stderr and "set.json" in result.stderr
    manifest = records.read_set_manifest(out)
    assert manifest["counts"]["items"] == 0 and manifest["counts"]["reverse_failed"] == 1
    (failure,) = [r for r in manifest["rejections"] if r["step"] == "reverse"]
    assert failure["reason"] and failure["detail"]
    assert records.read_items(out) == []
