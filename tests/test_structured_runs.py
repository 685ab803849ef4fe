"""Structured-output figures belong to a run, not to the process: report.json's come from the run's
calls.jsonl, an evaluation's from its own counting block, so two runs in one process never share them."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel

from dsr.contract.call_log import read_call_log, read_structured
from dsr.evaluation import records
from dsr.evaluation.calibration import calibrate
from dsr.evaluation.metrics import compute_metrics
from dsr.models.structured import counting, invoke_structured, tally
from tests.recording import DIRECTIVES, fake_models, script_checks  # noqa: F401
from tests.test_evaluation_metrics import _eval_dir, x  # noqa: F401

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "harbor-lights.yaml")


def figures(
    calls: int, first: int, repairs: int, failures: int = 0, mechanism: str = "prompt"
) -> dict[str, Any]:
    return {
        "mechanisms": {mechanism: calls},
        "calls": calls,
        "first_try_valid": first,
        "repair_turns": repairs,
        "truncations": 0,
        "failures": failures,
    }


class Judge(BaseChatModel):
    """A thread-safe story judge: a valid verdict, or prose that never parses."""

    valid: bool

    @property
    def _llm_type(self) -> str:
        return "story-judge"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        text = '{"score": 7, "rationale": "Clear stakes."}' if self.valid else "A fine story, I would say."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


def test_two_calibrations_in_one_process_get_their_own_figures():
    # Three stories on two pool threads each: the pool carries the run's count into its threads.
    good = calibrate(
        Judge(valid=True, name="judge"), judge_label="good", items=3, concurrency=2, max_repairs=1
    )
    bad = calibrate(
        Judge(valid=False, name="judge"), judge_label="bad", items=3, concurrency=2, max_repairs=1
    )
    assert good["structured"] == {"judge": figures(3, 3, 0)}
    assert bad["structured"] == {"judge": figures(3, 0, 3, failures=3)}


class Tiny(BaseModel):
    word: str


def test_concurrent_counting_blocks_stay_apart():
    def answer(text: str) -> BaseChatModel:
        from langchain_core.language_models.fake_chat_models import FakeListChatModel

        return FakeListChatModel(responses=[text] * 4, name="tiny")

    got: dict[str, dict[str, Any]] = {}
    barrier = threading.Barrier(2)

    def run(label: str, replies: int) -> None:
        with counting() as events:
            barrier.wait()
            for _ in range(replies):
                invoke_structured(answer('{"word": "x"}'), [HumanMessage("one word")], Tiny)
            got[label] = tally(events)

    threads = [threading.Thread(target=run, args=(label, n)) for label, n in (("a", 1), ("b", 3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {"a": {"tiny": figures(1, 1, 0)}, "b": {"tiny": figures(3, 3, 0)}}


@pytest.mark.slow  # two `dsr write` runs (Chroma memory, episode files): a few seconds
def test_two_runs_in_one_process_report_their_own_structured_figures(tmp_path, monkeypatch, fake_models):
    """report.json's figures are the run's: the second run's planner repair is its alone, the first run's
    calls are not counted again, and the figures match the structured lines of the run's calls.jsonl."""
    from typer.testing import CliRunner

    from dsr.cli.main import app

    script_checks(monkeypatch, [])
    reports = {}
    for name, planner in (("first", [DIRECTIVES]), ("second", ["Here are my directives!", DIRECTIVES])):
        fake_models.script("planner", *planner)
        run = tmp_path / name
        args = ["write", EXAMPLE, "-o", str(run), "--scenes", "1", "--mode", "dsr", "--max-retries", "0"]
        result = CliRunner().invoke(app, args, obj=fake_models.cli())
        assert result.exit_code == 0, result.output
        reports[name] = json.loads((run / "report.json").read_text())
        logged = read_structured(run / "calls.jsonl")
        assert (
            reports[name]["total"]["structured"] == tally(logged) == reports[name]["scenes"][0]["structured"]
        )
        assert {e["scene"] for e in logged} == {1} and len(read_call_log(run / "calls.jsonl")) == sum(
            r["calls"] for r in reports[name]["total"]["roles"].values()
        )  # structured lines are not model calls
    first, second = (reports[name]["total"]["structured"] for name in ("first", "second"))
    assert first["planner"] == figures(1, 1, 0) and second["planner"] == figures(1, 0, 1)
    assert first["critic"] == second["critic"] == figures(1, 1, 0)
    others = {"planner"}  # every other role (critic, memory, ...) did the same in both runs: not doubled
    assert {r: f for r, f in first.items() if r not in others} == {
        r: f for r, f in second.items() if r not in others
    }


def test_evaluation_metrics_carry_each_systems_and_the_judges_figures(tmp_path, x):
    """metrics.json: per system from its items' calls.jsonl, the judge's from its judging run."""
    eval_dir = _eval_dir(tmp_path, x)
    log = eval_dir / "runs" / "dsr" / "s1" / "calls.jsonl"
    log.parent.mkdir(parents=True)
    lines = [
        {
            "time": 1.0,
            "seconds": 0.5,
            "scene": 1,
            "role": "planner",
            "ok": True,
            "input_tokens": 9,
            "output_tokens": 9,
        },
        {
            "kind": "structured",
            "scene": 1,
            "role": "planner",
            "mechanism": "grammar",
            "attempts": 1,
            "valid": True,
            "truncations": 0,
        },
        {
            "kind": "structured",
            "scene": 1,
            "role": "critic",
            "mechanism": "grammar",
            "attempts": 2,
            "valid": False,
            "truncations": 2,
        },
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    config = records.read_eval_config(eval_dir)
    judged = {"judge": figures(4, 3, 1, mechanism="json_schema")}
    config["judges"] = {"embedded-SmolLM2": {"role": "judge", "structured": judged}}
    records.write_eval_config(eval_dir, config)
    got = compute_metrics(eval_dir)["structured"]
    critic = figures(1, 0, 1, failures=1, mechanism="grammar") | {"truncations": 2}
    assert got == {
        "systems": {"dsr": {"critic": critic, "planner": figures(1, 1, 0, mechanism="grammar")}, "e2e": {}},
        "judge": judged,
    }


def test_two_synthesis_runs_in_one_process_count_only_their_own_teacher_calls(tmp_path, corpus_dir):
    """run.json's figures come from the run's counting block, carried into the shared synthesis loop."""
    from dsr.synthesis.pipeline import synthesize
    from dsr.synthesis.records import RUN_FILE
    from tests.test_synthesis import scripted_factory

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(corpus_dir / "earthbound19__ASCENT_TO_GURU_PEAK.fountain", corpus / "guru.fountain")
    runs = []
    for name in ("one", "two"):
        synthesize(corpus, tmp_path / name, scripted_factory(), limit=2)
        runs.append(json.loads((tmp_path / name / RUN_FILE).read_text(encoding="utf-8")))
    ((role, first),) = runs[0]["structured"].items()
    assert (
        first["calls"] >= 2 * 4 and first["calls"] == first["mechanisms"]["prompt"]
    )  # several steps per scene
    assert runs[1]["structured"] == runs[0]["structured"]  # not doubled by the first run's calls
