"""Training configuration and dataset checks that need no model: defaults, files, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsr import prompts
from dsr.common.errors import BadInput
from dsr.story.schemas import TaskInput, render_x
from dsr.story.stage1 import split_stage1
from dsr.training.config import CONFIG_DIR, resolve_config
from dsr.training.data import load_stage1


def test_defaults_are_the_papers_full_fine_tuning():
    cfg = resolve_config()
    assert (cfg.method, cfg.learning_rate, cfg.warmup_ratio, cfg.num_train_epochs) == ("full", 5e-6, 0.1, 1.0)
    assert (cfg.lr_scheduler, cfg.global_batch_size, cfg.adam_beta2) == ("cosine_with_min_lr", 32, 0.95)
    assert cfg.grad_accumulation(8) == 4 and cfg.grad_accumulation(1) == 32  # global batch kept
    assert resolve_config("lora").learning_rate == 1e-4


@pytest.mark.parametrize("name", ["full_8gpu.yaml", "lora_1gpu.yaml", "cpu_smoke.yaml"])
def test_shipped_configs_validate(name):
    cfg = resolve_config(None, CONFIG_DIR / name)
    assert cfg.method == ("full" if name.startswith("full") else "lora")
    if cfg.deepspeed:
        zero = json.loads((Path(__file__).parents[1] / cfg.deepspeed).read_text())["zero_optimization"]
        assert zero["stage"] == 3


def test_file_then_flag_precedence(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('method = "lora"\nlearning_rate = 3e-4\nmax_length = 512\n')
    assert resolve_config(None, toml).learning_rate == 3e-4
    full = resolve_config("full", toml)  # --full wins over the file's method, the file's values stay
    assert (full.method, full.learning_rate, full.max_length) == ("full", 3e-4, 512)


@pytest.mark.parametrize(
    ("text", "suffix", "needle"),
    [
        ("lerning_rate: 1\n", ".yaml", "'lerning_rate': Extra inputs"),
        ("max_length: [1\n", ".yaml", "not valid YAML"),
        ("- 1\n", ".yml", "expected a mapping"),
        ("learning_rate = -1\n", ".toml", "'learning_rate'"),
        ("{}", ".json", "must be .yaml, .yml or .toml"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path, text, suffix, needle):
    path = tmp_path / f"c{suffix}"
    path.write_text(text)
    with pytest.raises(BadInput) as err:
        resolve_config(None, path)
    assert needle in str(err.value) and "\n" not in str(err.value)


def _write_rows(data_dir: Path, lines: list[str]) -> None:
    (data_dir / "stage1").mkdir(parents=True)
    (data_dir / "stage1" / "train.jsonl").write_text("\n".join(lines) + "\n")


def test_dataset_problems_name_file_and_line(tmp_path):
    with pytest.raises(BadInput, match="dataset directory not found"):
        load_stage1(tmp_path / "nope")
    with pytest.raises(BadInput, match="no stage1/train.jsonl"):
        load_stage1(tmp_path)
    good = json.dumps(
        {"id": "a", "messages": [{"role": r, "content": "x"} for r in ("system", "user", "assistant")]}
    )
    _write_rows(tmp_path / "a", [good, "{not json"])
    with pytest.raises(BadInput, match=r"train.jsonl:2: not valid JSON"):
        load_stage1(tmp_path / "a")
    _write_rows(tmp_path / "b", [json.dumps({"messages": [{"role": "user", "content": "x"}]})])
    with pytest.raises(BadInput, match=r"train.jsonl:1: expected 'messages'"):
        load_stage1(tmp_path / "b")
    _write_rows(tmp_path / "c", [good])
    data = load_stage1(tmp_path / "c")  # no validation split: an empty one, not an error
    assert data.validation == [] and data.train[0]["completion"][0]["role"] == "assistant"


@pytest.mark.parametrize(
    ("answer", "directives", "prose"),
    [
        ('<directives>{"a": 1}</directives>\n<novel>She ran.</novel>', '{"a": 1}', "She ran."),
        ("<directives>{}</directives>\n<novel>She ran and", "{}", "She ran and"),  # cut off: keep what came
        ("<directives>{}</directives>\nShe ran.", "{}", "She ran."),
        ('<directives>{"a": ', '{"a":', ""),  # ran out of tokens inside the directives
        ("She ran.", None, "She ran."),
    ],
)
def test_split_stage1_answers(answer, directives, prose):
    assert split_stage1(answer) == (directives, prose)


def test_novelist_stage1_mode_with_a_scripted_model(monkeypatch, tmp_path):
    """prompt = stage1: the SFT prompt goes out, the prose is the <novel> part, the model's directives are kept."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.runnables import RunnableLambda

    from dsr.contract.call_log import CALL_LOG, CallLog, read_outcomes
    from dsr.contract.context import RunContext
    from dsr.models.settings import RoleConfig
    from dsr.nodes.novelist import novelist_node

    answer = '<directives>{"pacing": {"beats": []}}</directives>\n<novel>Mara lifts the lamp.</novel>'
    seen = []

    class Recording(GenericFakeChatModel):
        def _generate(self, messages, *args, **kwargs):
            seen.append(messages)
            return super()._generate(messages, *args, **kwargs)

    model = Recording(messages=iter([AIMessage(answer)]))
    context = RunContext(
        run_dir=str(tmp_path),
        roles={"novelist": RoleConfig(prompt="stage1").model_dump(mode="json")},
        model_factory=lambda role, config: model,
    )
    x = json.loads((Path(__file__).parent / "data" / "critic" / "scene.json").read_text())
    state = {"x": x, "directives": None, "critique": {"novelist": "ignored by the stage1 prompt"}}
    log = tmp_path / CALL_LOG  # the node's outcome goes to the run's calls.jsonl
    node = RunnableLambda(lambda s: novelist_node(s, type("R", (), {"context": context})()))
    update = node.invoke(state, {"callbacks": [CallLog(log)]})
    system, user = prompts.messages("stage1", x_text=render_x(TaskInput.model_validate(x)))
    # The answer continues an assistant prefix: the critique as a note, then the <directives> tag (split decoding).
    assert [m.content for m in seen[0]] == [
        system[1],
        user[1],
        "<note>\nignored by the stage1 prompt\n</note>\n<directives>",
    ]
    assert update["prose"] == "Mara lifts the lamp."
    (outcome,) = read_outcomes(log)
    assert outcome["note"].startswith("stage1@") and outcome["node"] == "novelist" and outcome["ok"]
    scene_dir = next((tmp_path / "scenes").iterdir())
    # The model's whole answer is kept (its directives half and its prose half).
    assert '{"pacing": {"beats": []}}' in (scene_dir / "stage1_answer.txt").read_text()
    assert (scene_dir / "prose.md").read_text() == "Mara lifts the lamp.\n"


def test_out_of_memory_is_bad_input_and_leaves_no_finished_dir(tmp_path, monkeypatch):
    """The OOM path is simulated (a real one would take the machine down); the marker logic is real."""
    from rich.console import Console

    import dsr.training.run as run
    from dsr.models.weights import TRAIN_MARKER, TRAIN_RUN

    data = tmp_path / "data"
    good = json.dumps(
        {"id": "a", "messages": [{"role": r, "content": "x"} for r in ("system", "user", "assistant")]}
    )
    _write_rows(data, [good])
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")

    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(run, "_train", oom)
    out = tmp_path / "model"
    with pytest.raises(BadInput, match="not enough memory to train .* lower them or use --lora"):
        run.train(
            data, out, base=str(base), config=resolve_config("lora"), cache_dir=tmp_path, console=Console()
        )
    assert (out / TRAIN_RUN).exists() and not (out / TRAIN_MARKER).exists()
    with pytest.raises(BadInput, match="exists and is not empty"):  # an unrelated directory is never reused
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "f").write_text("x")
        run.train(
            data,
            tmp_path / "other",
            base=str(base),
            config=resolve_config(),
            cache_dir=tmp_path,
            console=Console(),
        )


def test_deepspeed_config_needs_the_file_and_the_package(tmp_path, monkeypatch):
    from rich.console import Console

    import dsr.training.run as run

    data = tmp_path / "data"
    good = json.dumps(
        {"id": "a", "messages": [{"role": r, "content": "x"} for r in ("system", "user", "assistant")]}
    )
    _write_rows(data, [good])
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    monkeypatch.chdir(Path(__file__).parents[1])
    kwargs = {"base": str(base), "cache_dir": tmp_path, "console": Console()}
    with pytest.raises(BadInput, match="deepspeed config nope.json not found"):
        run.train(data, tmp_path / "m", config=resolve_config(deepspeed="nope.json"), **kwargs)
    full = resolve_config(None, CONFIG_DIR / "full_8gpu.yaml")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)  # as on a machine without DeepSpeed
    with pytest.raises(BadInput, match="DeepSpeed, which is not installed"):
        run.train(data, tmp_path / "m", config=full, **kwargs)
    assert not (tmp_path / "m").exists()
