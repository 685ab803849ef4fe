"""The critic's verdict and training's reward are one measurement (story/checks/verdict.py).

Real drafts of tests/data/critic go through the critic node (rubric off, then a scripted judge) and through
:class:`dsr.training.reward.CriticReward`: the same findings blame the screenwriter, the same ones block,
and the reward is the one :func:`draft_reward` gives the critic's verdict. The Stage 2 training prompt is
checked against the request the screenwriter node sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from dsr.contract.context import RunContext
from dsr.nodes.critic import critic_node
from dsr.story.checks.verdict import PASS_REWARD, SEVERITY_WEIGHT, blocking, draft_reward
from dsr.story.findings import Finding
from dsr.story.fountain_text import clean_fountain
from dsr.story.schemas import TaskInput
from dsr.training.reward import CriticReward, completion_text, reward_stats
from tests.recording import RecordingModels, rubric_reply

DATA = Path(__file__).parent / "data" / "critic"
X = json.loads((DATA / "scene.json").read_text())
STAGE2 = ("screenwriter",)

DRAFTS = [
    ("good_prose.md", "good_scene.fountain"),
    ("smollm2_prose.md", "prose_only.fountain"),
    ("good_prose.md", "unknown_speaker.fountain"),
    ("good_prose.md", "prose_only.fountain"),
    ("missing_beats_prose.md", "good_scene.fountain"),
    ("inner_monologue_prose.md", "good_scene.fountain"),
]


def _critic(prose: str, screenplay: str, run_dir: Path, models: RecordingModels | None = None) -> dict:
    fields = {"run_dir": str(run_dir), "use_rubric": models is not None}
    context = models.context(**fields) if models else RunContext(**fields)
    state = {"x": X, "prose": prose, "screenplay": screenplay, "critique": {}}
    return critic_node(state, SimpleNamespace(context=context))["verdicts"][-1]


@pytest.mark.parametrize(("prose_file", "scene_file"), DRAFTS)
def test_the_critic_and_the_reward_agree_on_real_drafts(prose_file, scene_file, tmp_path):
    prose, answer = (DATA / prose_file).read_text(), (DATA / scene_file).read_text()
    x = TaskInput.model_validate(X)
    verdict = _critic(prose, clean_fountain(answer, x), tmp_path)  # as the screenwriter node hands it on
    findings = [Finding.model_validate(f) for f in verdict["findings"]]
    scored = CriticReward(stage=2).score(X, answer, prose)
    assert scored.checks == [f.check for f in findings if f.stage == "screenwriter"]
    assert scored.reward == draft_reward(findings, STAGE2)
    screenwriter_errors = any(f.severity == "error" and f.stage == "screenwriter" for f in findings)
    assert blocking(scored.findings) == screenwriter_errors
    if verdict["decision"] == "pass":
        assert scored.reward == PASS_REWARD - sum(SEVERITY_WEIGHT[f.severity] for f in scored.findings)
    if screenwriter_errors:  # the critic sends it back; the reward is below any draft it would pass
        assert scored.reward <= -SEVERITY_WEIGHT["error"]


def test_the_drafts_get_different_rewards():
    rewards = {
        pair: CriticReward(stage=2)
        .score(X, (DATA / pair[1]).read_text(), (DATA / pair[0]).read_text())
        .reward
        for pair in DRAFTS
    }
    assert rewards[DRAFTS[0]] == PASS_REWARD  # the hand-written faithful scene passes every check
    assert len(set(rewards.values())) >= 3, rewards


@pytest.mark.parametrize(("score", "blame"), [(5, "screenwriter"), (9, None), (4, "novelist")])
def test_with_a_judge_the_rubric_counts_as_the_critic_counts_it(score, blame, tmp_path):
    prose, answer = (DATA / "good_prose.md").read_text(), (DATA / "good_scene.fountain").read_text()
    errors = {"format": ["x"]} if score < 7 else {}
    critic_models = RecordingModels().script("critic", rubric_reply(score, "Judged.", blame=blame, **errors))
    verdict = _critic(prose, answer, tmp_path, critic_models)
    findings = [Finding.model_validate(f) for f in verdict["findings"]]
    assert verdict["rubric"]["score"] == score
    judge = RecordingModels().script("critic", rubric_reply(score, "Judged.", blame=blame, **errors))
    scored = CriticReward(stage=2, judge=judge("critic")).score(X, answer, prose)
    assert scored.rubric_score == score
    assert scored.checks == [f.check for f in findings if f.stage == "screenwriter"]
    assert scored.reward == draft_reward(findings, STAGE2, score)
    assert ("H-rubric" in scored.checks) == (score < 7 and blame == "screenwriter")


def test_the_reward_function_takes_trl_completions():
    prose, answer = (DATA / "good_prose.md").read_text(), (DATA / "good_scene.fountain").read_text()
    reward = CriticReward(stage=2)
    got = reward(
        prompts=[[], []],
        completions=[[{"role": "assistant", "content": answer}], [{"role": "assistant", "content": prose}]],
        x=[json.dumps(X)] * 2,
        prose=[prose] * 2,
    )
    assert got[0] == PASS_REWARD and got[1] < got[0]
    assert completion_text("plain") == "plain"
    assert reward_stats(reward.history)["distinct"] == 2
    with pytest.raises(ValueError, match="needs the row's X"):
        reward(prompts=[[]], completions=["a"])


def test_stage1_answers_are_rewarded_for_plan_and_prose():
    reward = CriticReward(stage=1)
    prose = (DATA / "good_prose.md").read_text()
    no_plan = reward.score(X, f"<novel>{prose}</novel>")
    assert no_plan.checks[0] == "P1-no-directives" and no_plan.reward < 0
    chat = reward.score(X, "Sure! Here is the scene.")
    assert chat.reward < no_plan.reward  # the prose checks add their own errors


def test_the_stage2_training_prompt_is_the_screenwriter_nodes_request():
    from dsr.nodes.screenwriter import write_screenplay
    from dsr.training.data import stage2_row

    x = TaskInput.model_validate(X)
    prose = (DATA / "good_prose.md").read_text()
    models = RecordingModels()
    write_screenplay(models("screenwriter"), prose, x)
    (request,) = models.requests["screenwriter"]
    row = stage2_row("s1", x, prose, "INT. X - DAY\n")
    assert [m["content"] for m in row["prompt"]] == [m.content for m in request]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert TaskInput.model_validate_json(row["x"]) == x and row["prose"] == prose
