"""Judge-free metrics on real scenes, metrics.json assembly from contract files, records, verdict parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsr.common.errors import BadInput
from dsr.evaluation import records
from dsr.evaluation.judge_free import scene_metrics
from dsr.evaluation.metrics import compute_metrics
from dsr.evaluation.runs import load_systems_file, parse_system_option, unique_systems
from dsr.judging.pairwise import PairVerdict, shown_to_contract
from dsr.story.schemas import TaskInput
from dsr.synthesis.corpus import load_corpus

DATA = Path(__file__).parent / "data" / "critic"


@pytest.fixture(scope="module")
def x() -> TaskInput:
    return TaskInput.model_validate(json.loads((DATA / "scene.json").read_text(encoding="utf-8")))


# --- judge-free metrics --------------------------------------------------------------------------------


def test_judge_free_on_a_good_scene_and_the_models_prose_draft(x):
    good = scene_metrics(x, (DATA / "good_scene.fountain").read_text(encoding="utf-8"))
    prose = scene_metrics(x, (DATA / "prose_only.fountain").read_text(encoding="utf-8"))
    assert good["format_valid"] and good["lint_errors_per_scene"] == 0
    assert good["beat_coverage"] == 1.0 and good["prose_leakage"] == 0.0
    assert 0 < good["dialogue_share"] < 1 and good["words"] > 100
    # SmolLM2's Stage 2 draft: novel prose under a heading, no dialogue, beats missed.
    assert prose["prose_leakage"] > 0.5
    assert prose["dialogue_share"] == 0.0
    assert prose["beat_coverage"] < good["beat_coverage"]


def test_judge_free_flags_inner_monologue_and_unknown_speakers(x):
    inner = scene_metrics(
        x, "INT. LIGHTHOUSE - NIGHT\n\n" + (DATA / "inner_monologue_prose.md").read_text(encoding="utf-8")
    )
    assert inner["prose_leakage"] > 0.5
    unknown = scene_metrics(x, (DATA / "unknown_speaker.fountain").read_text(encoding="utf-8"))
    assert not unknown["format_valid"] and unknown["lint_errors_per_scene"] >= 1
    empty = scene_metrics(x, "")
    assert empty["format_valid"] is False and empty["parsed"] is False and empty["beat_coverage"] == 0.0


def test_judge_free_on_real_corpus_scenes(corpus_dir):
    """Human scenes from the corpus: parse, mostly lint-clean, little prose leakage."""
    scenes = load_corpus(corpus_dir).scenes[:6]
    assert scenes
    for scene in scenes:
        x = TaskInput.model_validate(
            {
                "outline": {
                    "synopsis": scene.text.split("\n")[2][:80] or "a scene",
                    "characters": scene.speakers,
                },
                "characters": [{"name": n} for n in scene.speakers],
                "meta": {"series": scene.series},
            }
        )
        got = scene_metrics(x, scene.text)
        assert got["parsed"] and got["words"] > 10
        assert got["prose_leakage"] is not None and got["prose_leakage"] <= 0.5, scene.id


# --- records -------------------------------------------------------------------------------------------


def test_records_readers_reject_bad_rows(tmp_path):
    path = tmp_path / "outputs" / "dsr.jsonl"
    path.parent.mkdir()
    path.write_text('{"item": "1"}\n', encoding="utf-8")
    with pytest.raises(BadInput, match=r"dsr.jsonl:1: missing field\(s\) system, ok"):
        records.read_outputs(tmp_path, "dsr")
    path.write_text("not json\n", encoding="utf-8")
    with pytest.raises(BadInput, match="not valid JSON"):
        records.read_outputs(tmp_path, "dsr")
    row = records.output_row("1", "dsr", ok=True, screenplay="x")
    records.write_outputs(tmp_path, "dsr", [row, row])
    with pytest.raises(BadInput, match="duplicate row for 1"):
        records.read_outputs(tmp_path, "dsr")
    bad_pair = records.pairwise_row("1", "dsr", "e2e", "j", shown_first="a", winner="x")
    records.write_pairwise(tmp_path, "j", [bad_pair])
    with pytest.raises(BadInput, match="winner must be"):
        records.read_all_pairwise(tmp_path)
    assert records.slug("human:R 01") == "human-R-01"


def test_systems_from_options_and_file(tmp_path):
    assert parse_system_option("dsr").mode == "dsr"
    mine = parse_system_option("tuned=dsr-nocot")
    assert (mine.name, mine.mode) == ("tuned", "dsr-nocot")
    with pytest.raises(BadInput, match="unknown mode 'mystery'"):
        parse_system_option("mystery")
    with pytest.raises(BadInput, match="reserved for the human reference"):
        parse_system_option("human=dsr")
    with pytest.raises(BadInput, match="given twice"):
        unique_systems([parse_system_option("dsr"), parse_system_option("dsr")])
    spec = tmp_path / "systems.yaml"
    spec.write_text(
        "systems:\n  - name: tuned\n    mode: dsr\n    roles:\n      novelist: {provider: hf, model: /models/m}\n",
        encoding="utf-8",
    )
    (tuned,) = load_systems_file(spec)
    assert tuned.roles == {"novelist": {"provider": "hf", "model": "/models/m"}} and tuned.rubric
    toml = tmp_path / "systems.toml"
    toml.write_text(
        '[systems.fast]\nmode = "e2e"\n[systems.fast.roles.screenwriter]\nbogus = 1\n', encoding="utf-8"
    )
    with pytest.raises(BadInput, match="unknown setting 'bogus'"):
        load_systems_file(toml)


# --- pairwise verdict parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "winner"),
    [("A", "A"), ("b", "B"), ("Scene A", "A"), ("tie", "tie"), ("Draw", "tie"), ("neither", "tie")],
)
def test_pair_verdict_reads_harmless_slips(given, winner):
    assert PairVerdict.model_validate({"Winner": given, "reason": "clearer beats"}).winner == winner


def test_pair_verdict_rejects_placeholders_and_unknown_winners():
    with pytest.raises(ValueError):
        PairVerdict.model_validate({"winner": "A", "rationale": "<two sentences: why this scene is better>"})
    with pytest.raises(ValueError):
        PairVerdict.model_validate({"winner": "C", "rationale": "because"})


def test_position_swap_maps_back_to_systems():
    assert shown_to_contract("A", "a") == "a" and shown_to_contract("B", "a") == "b"
    assert shown_to_contract("A", "b") == "b" and shown_to_contract("B", "b") == "a"
    assert shown_to_contract("tie", "b") == "tie"


# --- metrics assembly ------------------------------------------------------------------------------------


def _eval_dir(tmp_path: Path, x: TaskInput, *, e2e_items=("s1", "s2", "s3")) -> Path:
    """A complete EVAL_DIR written through the records module, with known scores and verdicts."""
    good = (DATA / "good_scene.fountain").read_text(encoding="utf-8")
    prose = (DATA / "prose_only.fountain").read_text(encoding="utf-8")
    set_dir, eval_dir = tmp_path / "set", tmp_path / "eval"
    ids = ["s1", "s2", "s3"]
    items = [
        {
            "id": i,
            "x": x.model_dump(mode="json"),
            "reference": good,
            "heading": "EXT.",
            "script": "demo",
            "series": "demo",
            "licence": "test",
        }
        for i in ids
    ]
    records.write_items(set_dir, items)
    records.write_eval_config(
        eval_dir,
        {
            "set_dir": str(set_dir),
            "systems": {"dsr": {"mode": "dsr"}, "e2e": {"mode": "e2e"}},
            "models": {"dsr": {"novelist": "embedded:SmolLM2"}, "e2e": {"screenwriter": "embedded:SmolLM2"}},
        },
    )
    records.write_outputs(eval_dir, "human", records.human_outputs(items))
    records.write_outputs(
        eval_dir,
        "dsr",
        [
            records.output_row("s1", "dsr", ok=True, screenplay=good, prose="p"),
            records.output_row("s2", "dsr", ok=True, screenplay=good, prose="p"),
            records.output_row(
                "s3", "dsr", ok=False, error="ModelUnavailable: role 'novelist': cannot reach"
            ),
        ],
    )
    records.write_outputs(
        eval_dir, "e2e", [records.output_row(i, "e2e", ok=True, screenplay=prose) for i in e2e_items]
    )
    j = "embedded-SmolLM2"
    errs = {"plot_coherence": 1, "character_development": 0, "narrative_pacing": 2, "format": 0}
    records.write_judgments(
        eval_dir,
        j,
        [
            records.judgment_row("s1", "human", j, score=10, variance=0.0),
            records.judgment_row("s2", "human", j, score=8, variance=0.0),
            records.judgment_row("s3", "human", j, score=9, variance=0.0),
            records.judgment_row("s1", "dsr", j, score=8, variance=1.0, errors=errs),
            records.judgment_row("s2", "dsr", j, score=6, variance=0.0, errors=errs),
            records.judgment_row(
                "s3", "dsr", j, score=None, failed=True, reason="no output to judge: the run failed"
            ),
            records.judgment_row("s1", "e2e", j, score=4, variance=0.0),
            records.judgment_row(
                "s2", "e2e", j, score=None, failed=True, reason="all 1 judge sample(s) failed; last: bad"
            ),
            records.judgment_row("s3", "e2e", j, score=3, variance=0.0),
        ],
    )
    records.write_pairwise(
        eval_dir,
        j,
        [
            records.pairwise_row("s1", "dsr", "e2e", j, shown_first="a", winner="a"),
            records.pairwise_row("s1", "dsr", "e2e", j, shown_first="b", winner="a"),
            records.pairwise_row("s2", "dsr", "e2e", j, shown_first="a", winner="tie"),
            records.pairwise_row("s2", "dsr", "e2e", j, shown_first="b", winner="b"),
            records.pairwise_row(
                "s3", "dsr", "e2e", j, shown_first="a", winner=None, failed=True, reason="no output"
            ),
            records.pairwise_row(
                "s3", "dsr", "e2e", j, shown_first="b", winner=None, failed=True, reason="no output"
            ),
        ],
    )
    return eval_dir


def test_metrics_counts_failures_and_computes_every_figure(tmp_path, x):
    m = compute_metrics(_eval_dir(tmp_path, x))
    assert m["judge"] == "embedded-SmolLM2" and m["items"] == 3
    dsr, e2e, human = m["systems"]["dsr"], m["systems"]["e2e"], m["systems"]["human"]
    assert (dsr["n_items"], dsr["n_scored"], dsr["n_failed"]) == (3, 2, 1)
    assert dsr["score"]["mean"] == 7.0 and dsr["variance"] == 1.0  # scores 8, 6
    assert dsr["sample_variance"] == 0.5
    # ratio on the items both have: (8 + 6) / (10 + 8)
    assert dsr["ratio_to_human"]["value"] == pytest.approx(14 / 18, abs=1e-4)
    assert dsr["errors"]["narrative_pacing"] == {"total": 4, "per_item": 2.0}
    assert e2e["score"]["mean"] == 3.5 and e2e["n_failed"] == 1
    assert human["ratio_to_human"] is None and human["score"]["mean"] == 9.0
    # judge-free metrics on the same items for every system; the failed run is excluded and counted
    assert dsr["judge_free"]["n"] == 2 and dsr["judge_free"]["n_run_failed"] == 1
    assert e2e["judge_free"]["n"] == 3 and e2e["judge_free"]["prose_leakage"] > 0.5
    assert human["judge_free"]["format_valid"] == 1.0 and human["judge_free"]["prose_leakage"] == 0.0
    pair = m["pairwise"]["dsr vs e2e"]
    assert (pair["n_pairs"], pair["n_failed"], pair["n_items"]) == (6, 2, 2)
    assert (pair["a_wins"], pair["b_wins"], pair["ties"]) == (2, 1, 1)
    # s1: a won both orders (1.0); s2: tie and b (0.25) -> (1 + 0.25) / 2
    assert pair["win_rate_a"]["value"] == 0.625 and pair["position_consistency"] == 0.5
    # best-of-2 over items both scored: only s1 (dsr 8 > e2e 4)
    assert m["best_of"]["n_items"] == 1 and m["best_of"]["systems"]["dsr"]["value"] == 1.0
    rows = {r["system"]: r for r in m["table1"]}
    assert m["baseline"] == "e2e" and rows["dsr"]["delta_vs_baseline"] == 3.5
    assert rows["dsr"]["win_pct"] == 100.0 and rows["human"]["win_pct"] is None
    assert rows["dsr"]["ratio_to_human_pct"] == pytest.approx(77.78, abs=0.01)
    assert [(r["pipeline"], r["cot"]) for r in m["ablation"]] == [("E2E", "w/o"), ("DSR", "w/")]
    notes = " ".join(m["coverage_notes"])
    assert "dsr: 2 of 3 items scored" in notes and "1 of 3 runs failed" in notes
    assert "pairwise dsr vs e2e: 2 of 6 judged orders failed" in notes
    assert m["calibration"] is None and m["human_ratings"] is None


def test_metrics_refuses_mismatched_items_unless_partial(tmp_path, x):
    eval_dir = _eval_dir(tmp_path, x, e2e_items=("s1", "s2"))
    with pytest.raises(BadInput, match="e2e lacks s3"):
        compute_metrics(eval_dir)
    m = compute_metrics(eval_dir, allow_partial=True)
    assert m["items"] == 2 and m["systems"]["dsr"]["n_items"] == 2
    assert any("--allow-partial" in n and "1 dropped" in n for n in m["coverage_notes"])


def test_metrics_with_human_raters_and_several_judges(tmp_path, x):
    eval_dir = _eval_dir(tmp_path, x)
    records.write_judgments(
        eval_dir,
        "human:R01",
        [
            records.judgment_row("s1", "dsr", "human:R01", score=7),
            records.judgment_row("s1", "human", "human:R01", score=10),
        ],
    )
    m = compute_metrics(eval_dir)
    ratings = m["human_ratings"]
    assert ratings["raters"] == ["human:R01"]
    assert (
        ratings["systems"]["dsr"]["n_scored"] == 1
        and ratings["systems"]["dsr"]["ratio_to_human"]["value"] == 0.7
    )
    records.write_judgments(eval_dir, "other", [records.judgment_row("s1", "dsr", "other", score=5)])
    with pytest.raises(BadInput, match="several judges present"):
        compute_metrics(eval_dir)
    assert compute_metrics(eval_dir, judge="other")["systems"]["dsr"]["n_scored"] == 1


def test_judge_pair_salvages_a_bare_verdict_and_records_unusable_ones(x):
    import itertools

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from dsr.judging.pairwise import judge_pair

    def model(text: str) -> GenericFakeChatModel:
        return GenericFakeChatModel(messages=itertools.repeat(AIMessage(text)))

    got = judge_pair(
        model("Scene B"), x, "INT. A - DAY\n\nOne.", "INT. B - DAY\n\nTwo.", shown_first="b", max_repairs=0
    )
    assert (
        got["winner"] == "a" and not got["failed"] and "bare verdict" in got["rationale"]
    )  # B shown second = a
    got = judge_pair(model('{"winner": "tie", "rationale": "Both thin."}'), x, "S1", "S2", shown_first="a")
    assert got["winner"] == "tie" and got["rationale"] == "Both thin." and got["attempts"] == 1
    got = judge_pair(
        model("I like stories about lighthouses."), x, "S1", "S2", shown_first="a", max_repairs=1
    )
    assert got["failed"] and got["winner"] is None and got["attempts"] == 2 and "PairVerdict" in got["reason"]


def test_prose_leakage_counts_unfilmable_lines_the_linter_flags(x):
    scene = (
        "EXT. LIGHTHOUSE BASE - NIGHT\n\nMara lifts her lantern.\n\nShe feels sad.\n\n"
        "She wonders if he will live.\n\nMARA\nWho is there?\n"
    )
    got = scene_metrics(x, scene)
    assert got["prose_leakage"] == round(2 / 3, 4)  # emotion statement (SP043) and inner thought (SP042)
    assert got["dialogue_share"] == round(3 / 16, 4)  # 3 spoken words of 16 action + dialogue words
