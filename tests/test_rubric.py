"""The shared 12-point rubric: tiers, the verdict schema and its lenient reading, the judge with real models,
and the rubric as the critic's router (scripted verdicts around the pass mark, a judge that fails)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import ValidationError

from dsr.contract.call_log import CALL_LOG, CallLog
from dsr.graph.builder import compile_episode_graph, compile_scene_graph
from dsr.judging.rubric import (
    CATEGORY_BLAME,
    CATEGORY_MEANING,
    ERROR_CATEGORIES,
    RUBRIC_TIERS,
    RubricVerdict,
    coercions_applied,
    judge_scene,
    tier,
)
from dsr.models.structured import parse_structured
from dsr.prompts import prompt_messages
from dsr.story.episode_spec import EpisodeSpec
from dsr.story.schemas import TaskInput, render_x
from tests.recording import RecordingModels, fake_models, rubric_reply, script_checks  # noqa: F401 - the fixture is used by name

DATA = Path(__file__).parent / "data" / "critic"


@pytest.fixture(scope="module")
def x() -> TaskInput:
    return TaskInput.model_validate(json.loads((DATA / "scene.json").read_text()))


@pytest.fixture(scope="module")
def scene() -> str:
    return (DATA / "good_scene.fountain").read_text()


def scripted(*replies: str) -> GenericFakeChatModel:
    """A model that answers with these texts in order (for aggregation logic only, never for quality)."""
    return GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies]))


VALID = json.dumps(
    {
        "score": 7,
        "errors": {
            "plot_coherence": [],
            "character_development": ["Tom is too calm"],
            "narrative_pacing": [],
        },
        "rationale": "All three beats land; Tom's fear is told more than shown.",
    }
)

# --- tiers ---------------------------------------------------------------------------------------------


def test_tiers_cover_one_to_twelve_without_gaps():
    scores = [s for t in RUBRIC_TIERS for s in range(t.low, t.high + 1)]
    assert scores == list(range(1, 13))
    assert [t.name for t in RUBRIC_TIERS] == [
        "Unacceptable",
        "Flawed",
        "Acceptable",
        "Good",
        "Excellent",
        "Exceptional",
    ]
    assert all(t.criteria for t in RUBRIC_TIERS)


@pytest.mark.parametrize(
    ("score", "name"),
    [
        (1, "Unacceptable"),
        (3, "Unacceptable"),
        (4, "Flawed"),
        (5, "Flawed"),
        (6, "Acceptable"),
        (7, "Acceptable"),
        (8, "Good"),
        (9, "Excellent"),
        (10, "Excellent"),
        (11, "Exceptional"),
        (12, "Exceptional"),
        (7.5, "Good"),
        (8.06, "Good"),
        (5.49, "Flawed"),
    ],
)
def test_tier_of_a_score(score, name):
    assert tier(score) == name


@pytest.mark.parametrize("score", [0, 12.5, 13, -1])
def test_tier_rejects_scores_off_the_scale(score):
    with pytest.raises(ValueError, match="outside 1..12"):
        tier(score)


# --- the verdict schema --------------------------------------------------------------------------------


def test_valid_verdict_fills_every_category_and_blames_the_story():
    verdict = parse_structured(VALID, RubricVerdict)
    assert verdict.score == 7
    assert set(verdict.errors) == set(ERROR_CATEGORIES) and verdict.errors["format"] == []
    assert verdict.blame == "novelist" and verdict.error_count() == 1


def test_default_blame_follows_the_category_with_most_errors():
    fmt = RubricVerdict(score=5, rationale="r", errors={"format": ["cue without dialogue", "no heading"]})
    assert fmt.blame == CATEGORY_BLAME["format"] == "screenwriter"
    tie = RubricVerdict(score=5, rationale="r", errors={"format": ["x"], "narrative_pacing": ["y"]})
    assert tie.blame == "novelist"  # story before format
    assert RubricVerdict(score=9, rationale="clean").blame is None
    named = RubricVerdict(score=5, rationale="r", errors={"format": ["x"]}, blame="planner")
    assert named.blame == "planner"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"score": "7/12", "rationale": "ok"}, 7),
        ({"score": "8", "rationale": "ok"}, 8),
        ({"score": "**9** (Excellent)", "rationale": "ok"}, 9),
        ({"score": 6.0, "rationale": "ok"}, 6),
        ({"Score": 5, "Reason": "ok"}, 5),
    ],
)
def test_lenient_reading_of_the_score(raw, expected):
    assert RubricVerdict.model_validate(raw).score == expected


def test_lenient_reading_of_categories_and_blame():
    verdict = RubricVerdict.model_validate(
        {
            "score": 4,
            "rationale": "r",
            "errors": {"Plot": "skips the rescue", "Character Development": None},
            "blame": "Screenwriter",
        }
    )
    assert verdict.errors["plot_coherence"] == ["skips the rescue"]
    assert verdict.errors["character_development"] == []
    assert verdict.blame == "screenwriter"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"score": 0, "rationale": "r"}, "greater than or equal to 1"),
        ({"score": 15, "rationale": "r"}, "less than or equal to 12"),
        ({"score": "7/10", "rationale": "r"}, "valid integer"),
        ({"score": 7.5, "rationale": "r"}, "fractional part"),
        ({"score": 7}, "Field required"),
        ({"score": 7, "rationale": "  "}, "real rationale"),
        ({"score": 7, "rationale": "<two or three sentences: what works>"}, "placeholder"),
        ({"score": 7, "rationale": "r", "errors": {"dialogue": ["x"]}}, "plot_coherence"),
        ({"score": 7, "rationale": "r", "errors": ["x"]}, "valid dictionary"),
        ({"score": 7, "rationale": "r", "blame": "director"}, "planner"),
    ],
)
def test_nothing_is_clamped_or_invented(raw, problem):
    """Off-scale, fractional or incomplete answers fail validation, which gives the model a repair turn."""
    with pytest.raises(ValidationError, match=problem):
        RubricVerdict.model_validate(raw)


def test_schema_example_puts_the_score_first():
    example = RubricVerdict.model_json_schema()["examples"][0]
    assert list(example)[0] == "score"
    assert list(RubricVerdict.model_json_schema()["properties"]) == ["score", "errors", "rationale", "blame"]


def test_coercions_are_reported():
    assert coercions_applied(VALID) == []
    notes = coercions_applied('{"score": "7/12", "reason": "ok", "errors": {"Plot": "x"}}')
    assert notes == [
        "score '7/12' read as a whole number",
        "rationale taken from another key",
        "error categories renamed: Plot",
        "an error given as text was wrapped in a list",
    ]


# --- aggregation (scripted model) ----------------------------------------------------------------------


def test_samples_are_aggregated_with_mean_variance_and_cost(x, scene):
    second = VALID.replace('"score": 7', '"score": "9/12"')
    result = judge_scene(scripted(VALID, second), x, scene, samples=2)
    assert [v.score for v in result.verdicts] == [7, 9]
    assert (result.score, result.variance, result.tier) == (8.0, 1.0, "Good")
    assert result.attempts == 2 and not result.failed and result.failures == []
    assert result.coercions == ["sample 2: score '9/12' read as a whole number"]
    assert result.prompt_version == "1"


def test_repair_turns_are_counted(x, scene):
    result = judge_scene(scripted('{"score": 14, "rationale": "great"}', VALID), x, scene)
    assert result.score == 7 and result.attempts == 2


def test_unusable_sample_is_recorded_not_dropped(x, scene):
    result = judge_scene(
        scripted("I think this scene is good.", "It deserves a high score!", VALID), x, scene, samples=2
    )
    assert [v.score for v in result.verdicts] == [7]
    assert result.variance == 0.0 and result.attempts == 3
    [failure] = result.failures
    assert failure.sample == 1 and failure.attempts == 2
    assert failure.raw_outputs == ["I think this scene is good.", "It deserves a high score!"]
    assert "no JSON object" in failure.reason
    assert result.summary()["valid_samples"] == 1


def test_all_samples_failing_gives_no_score(x, scene):
    result = judge_scene(scripted("no", "still no"), x, scene, max_repairs=0, samples=2)
    assert result.failed and result.score is None and result.variance is None and result.tier is None
    assert result.attempts == 2 and len(result.failures) == 2
    assert result.failure_reason.startswith("all 2 judge sample(s) failed; last: RubricVerdict")


def test_bare_score_answer_is_accepted_and_marked(x, scene):
    result = judge_scene(scripted("Score: 6/12", "6"), x, scene)
    [verdict] = result.verdicts
    assert verdict.score == 6 and "bare score" in verdict.rationale
    assert result.coercions == ["sample 1: the judge answered with a bare score, no rationale"]
    assert result.attempts == 2


def test_bare_score_off_the_scale_is_a_failure(x, scene):
    result = judge_scene(scripted("15", "15"), x, scene)
    assert result.failed and result.failures[0].raw_outputs == ["15", "15"]


def test_prompt_carries_brief_prose_reference_and_rubric(x, scene):
    system, user = prompt_messages(
        "judge",
        x_text=render_x(x),
        screenplay=scene,
        prose="PROSE-MARKER",
        reference="REFERENCE-MARKER",
        tiers=RUBRIC_TIERS,
        categories=CATEGORY_MEANING,
    )
    assert "script editor" in system.content
    text = user.content
    for needle in (
        "Mara spots a shape",
        "PROSE-MARKER",
        "REFERENCE-MARKER",
        "EXT. LIGHTHOUSE BASE - NIGHT",
        "11-12 Exceptional: Flawless",
        "8 Good:",
        "narrative_pacing:",
        '"blame"',
    ):
        assert needle in text


def test_samples_must_be_positive(x, scene):
    with pytest.raises(ValueError, match="at least 1"):
        judge_scene(scripted(VALID), x, scene, samples=0)


# --- the real embedded model ---------------------------------------------------------------------------


@pytest.mark.slow
def test_embedded_model_as_judge_is_honest(embedded_model, x, scene):
    """SmolLM2-135M rarely produces a valid verdict; whatever it does must be reported as it happened."""
    result = judge_scene(embedded_model, x, scene, samples=2, max_new_tokens=48)
    assert result.samples == 2
    assert len(result.verdicts) + len(result.failures) == 2
    assert result.attempts >= 2
    for verdict in result.verdicts:
        assert 1 <= verdict.score <= 12 and verdict.rationale.strip()
        assert set(verdict.errors) == set(ERROR_CATEGORIES)
    for failure in result.failures:
        assert failure.attempts == 2 and len(failure.raw_outputs) == 2  # the answer and one repair turn
        assert all(isinstance(raw, str) for raw in failure.raw_outputs)
        assert re.match(
            r"RubricVerdict: no valid JSON object after 2 attempts( \(truncated\))?; last problem: ",
            failure.reason,
        )
    if result.failed:
        assert result.score is None and result.failure_reason.startswith("all 2 judge sample(s) failed")
    else:
        assert result.score == sum(v.score for v in result.verdicts) / len(result.verdicts)
        assert result.tier == tier(result.score)
    summary = json.loads(json.dumps(result.summary()))
    assert summary["valid_samples"] == len(result.verdicts) and summary["attempts"] == result.attempts


# --- the rubric as a router (recording fake models; the critic's deterministic checks pass) -------------


ONE_SCENE = EpisodeSpec.model_validate(
    {
        "title": "T",
        "series": "s",
        "characters": [{"name": "MARA", "profile": "keeper"}, {"name": "TOM", "profile": "sailor"}],
        "scenes": [{"outline": "Mara finds a stranger, Tom, on the rocks."}],
    }
)


def write_episode(models: RecordingModels, run_dir: Path, **context: Any) -> dict[str, Any]:
    """One scene through the episode graph (fresh in-memory checkpointer); returns report.json as written."""
    graph = compile_episode_graph(InMemorySaver())
    first = {
        "spec": ONE_SCENE.model_dump(mode="json"),
        "scene_index": 0,
        "timings": [],
        "scenes": [],
    }
    config = {"configurable": {"thread_id": "ep"}, "callbacks": [CallLog(run_dir / CALL_LOG)]}
    graph.invoke(first, config, context=models.context(run_dir=str(run_dir), **context))
    return json.loads((run_dir / "report.json").read_text(encoding="utf-8"))


def critique_json(run_dir: Path) -> list[dict[str, Any]]:
    return json.loads((run_dir / "scenes" / "01" / "critique.json").read_text(encoding="utf-8"))


def first_verdict(models: RecordingModels, pass_score: int) -> dict[str, Any]:
    """The critic's first verdict on scene 1 (scene graph, in-memory checkpointer)."""
    graph = compile_scene_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "s"}}
    x = ONE_SCENE.task_input(0).model_dump(mode="json")
    graph.invoke(
        {"x": x, "timings": [], "scenes": []},
        config,
        context=models.context(pass_score=pass_score, max_retries_per_stage=1),
    )
    return graph.get_state(config).values["verdicts"][0]


@pytest.mark.parametrize(
    ("score", "pass_score", "decision"),
    [(6, 7, "revise"), (7, 7, "pass"), (9, 7, "pass"), (7, 8, "revise"), (1, 1, "pass")],
)
def test_pass_mark_decides(monkeypatch, fake_models, score, pass_score, decision):
    script_checks(monkeypatch, [])
    fake_models.script(
        "critic", rubric_reply(score, "Judged.", plot_coherence=["x"] if score < pass_score else [])
    )
    first = first_verdict(fake_models, pass_score)
    assert first["decision"] == decision
    assert first["rubric"]["status"] == "judged" and first["rubric"]["score"] == score
    assert first["rubric"]["pass_score"] == pass_score
    assert [f["check"] for f in first["findings"]] == (["H-rubric"] if decision == "revise" else [])


def test_low_score_sends_the_draft_back_with_the_judges_errors_and_report_shows_both_scores(
    monkeypatch,
    fake_models,
    tmp_path,
):
    script_checks(monkeypatch, [])
    fake_models.script(
        "critic",
        rubric_reply(
            4,
            "Tom never begs; the rescue is skipped.",
            character_development=["Tom is too calm"],
            plot_coherence=["the rescue is skipped"],
        ),
        rubric_reply(9, "Now the beats land."),
    )
    report = write_episode(fake_models, tmp_path)
    assert fake_models.calls == {"planner": 1, "novelist": 2, "screenwriter": 2, "critic": 2}
    first, rerun = fake_models.prompts("novelist")
    for needle in (
        "rubric score 4.0/12 is below 7",
        "character_development: Tom is too calm",
        "plot_coherence: the rescue is skipped",
        "Tom never begs; the rescue is skipped.",
    ):
        assert needle not in first and needle in rerun
    assert "## Revise:" not in fake_models.prompts("screenwriter")[1]
    # The judge saw the rerun's draft, not the first one.
    assert "Mara lifted her lantern." in fake_models.prompts("critic")[1]
    (scene,) = report["scenes"]
    assert scene["status"] == "passed" and scene["rubric_status"] == "judged"
    assert scene["rubric"]["score"] == 9.0 and scene["rubric"]["tier"] == "Excellent"
    assert [v["rubric_score"] for v in scene["critic_verdicts"]] == [4.0, 9.0]
    assert scene["retries"] == {
        "novelist": [{"attempt": 1, "reasons": ["H-rubric: rubric score 4.0/12 is below 7"]}]
    }
    assert scene["roles"]["critic"]["calls"] == 2 and scene["roles"]["critic"]["failed_calls"] == 0
    total = report["total"]
    assert (total["mean_rubric_score"], total["judged"], total["unjudged"], total["passed"]) == (9.0, 1, 0, 1)
    assert [v["rubric"]["status"] for v in critique_json(tmp_path)] == ["judged", "judged"]


@pytest.mark.parametrize(
    ("blame", "errors", "reruns"),
    [
        ("planner", {"plot_coherence": ["the climax is missing"]}, "planner"),
        (None, {"format": ["cue without dialogue", "two headings"]}, "screenwriter"),
    ],
)
def test_low_score_goes_to_the_stage_the_judge_blames(
    monkeypatch, fake_models, tmp_path, blame, errors, reruns
):
    script_checks(monkeypatch, [])
    fake_models.script("critic", rubric_reply(3, "Weak.", blame=blame, **errors), rubric_reply(8, "Better."))
    report = write_episode(fake_models, tmp_path)
    assert fake_models.calls[reruns] == 2
    rerun = fake_models.prompts(reruns)[1]
    assert all(f"{category}: {items[0]}" in rerun for category, items in errors.items())
    assert list(report["scenes"][0]["retries"]) == [reruns]


def test_low_score_past_the_cap_is_accepted_with_the_rubric_finding_open(monkeypatch, fake_models, tmp_path):
    script_checks(monkeypatch, [])
    fake_models.script(
        "critic",
        rubric_reply(3, "Weak.", plot_coherence=["a"]),
        rubric_reply(5, "Still weak.", plot_coherence=["b"]),
    )
    report = write_episode(fake_models, tmp_path, max_retries_per_stage=1, max_retries_per_scene=2)
    (scene,) = report["scenes"]
    assert scene["status"] == "accepted_with_findings" and scene["rubric_status"] == "judged"
    assert [f["check"] for f in scene["open_findings"]] == ["H-rubric"]
    assert scene["open_findings"][0]["message"] == "rubric score 5.0/12 is below 7"
    assert report["total"]["mean_rubric_score"] == 5.0 and report["total"]["passed"] == 0


@pytest.mark.parametrize(
    ("replies", "reason", "requests"),
    [
        (("I liked it.", "Really, I did."), "all 1 judge sample(s) failed; last: RubricVerdict", 2),
        ((RuntimeError("judge exploded"),), "RuntimeError: judge exploded", 1),
    ],
    ids=["invalid-output", "exception"],
)
def test_a_failed_judge_leaves_the_scene_unjudged_not_passed(
    monkeypatch,
    fake_models,
    tmp_path,
    replies,
    reason,
    requests,
):
    script_checks(monkeypatch, [])
    fake_models.script("critic", *replies)
    report = write_episode(fake_models, tmp_path)
    assert fake_models.calls == {"planner": 1, "novelist": 1, "screenwriter": 1, "critic": requests}
    (verdict,) = critique_json(tmp_path)
    assert verdict["decision"] == "pass" and verdict["findings"] == []  # routing goes on from the checks
    assert verdict["rubric"]["status"] == "unjudged" and verdict["rubric"]["score"] is None
    assert verdict["rubric"]["reason"].startswith(reason) and verdict["rubric"]["attempts"] == requests
    (scene,) = report["scenes"]
    assert scene["status"] == "unjudged" and scene["rubric_status"] == "unjudged"
    assert scene["roles"]["critic"] == scene["roles"]["critic"] | {"calls": requests, "failed_calls": 1}
    total = report["total"]
    assert (total["unjudged"], total["judged"], total["passed"], total["mean_rubric_score"]) == (
        1,
        0,
        0,
        None,
    )


def test_a_judge_that_fails_on_the_rerun_leaves_the_accepted_draft_unjudged(
    monkeypatch, fake_models, tmp_path
):
    script_checks(monkeypatch, [])
    fake_models.script("critic", rubric_reply(4, "Weak.", plot_coherence=["x"]), "no", "no")
    report = write_episode(fake_models, tmp_path)
    (scene,) = report["scenes"]
    assert scene["status"] == "unjudged" and [v["rubric_score"] for v in scene["critic_verdicts"]] == [
        4.0,
        None,
    ]
    assert report["total"]["mean_rubric_score"] is None, "the first draft's score is not the accepted draft's"


def test_an_unreachable_judge_pauses_the_run_instead(monkeypatch, fake_models):
    import httpx
    import openai

    from dsr.models.errors import ModelUnavailable

    script_checks(monkeypatch, [])
    fake_models.script(
        "critic", openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1"))
    )
    with pytest.raises(ModelUnavailable, match="role 'critic'"):
        first_verdict(fake_models, 7)


def test_rubric_off_is_neither_judged_nor_unjudged(monkeypatch, fake_models, tmp_path):
    script_checks(monkeypatch, [])
    report = write_episode(fake_models, tmp_path, use_rubric=False)
    assert "critic" not in fake_models.calls
    (scene,) = report["scenes"]
    assert scene["status"] == "passed" and scene["rubric_status"] == "off" and scene["rubric"] is None
    assert (report["total"]["judged"], report["total"]["unjudged"], report["total"]["passed"]) == (0, 0, 1)


def test_write_summary_shows_unjudged_scenes(monkeypatch, fake_models, tmp_path):
    from dsr.cli.console import console
    from dsr.cli.write import _summary

    script_checks(monkeypatch, [])
    fake_models.script("critic", "not a verdict", "not a verdict either")
    write_episode(fake_models, tmp_path)
    monkeypatch.setattr(console, "width", 200)
    with console.capture() as captured:
        _summary(tmp_path)
    text = captured.get()
    row = next(line for line in text.splitlines() if line.strip(" │|").startswith("1 "))
    assert row.count("unjudged") == 2, row  # the status and the rubric column
    assert "1 of 1 scene(s) unjudged" in text
