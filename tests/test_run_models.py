"""A run keeps the models it started with: resolved once by ``dsr write``, recorded in run.json (key names
only), used unchanged by ``dsr resume``; a changed configuration is refused unless ``--reconfigure``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dsr.cli.injection import Injected
from dsr.cli.main import app
from dsr.common.errors import BadInput
from tests.recording import RecordingModels, fake_models, script_checks  # noqa: F401 - the fixture is used by name
from tests.servers import is_user_setting

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "harbor-lights.yaml")


@pytest.fixture
def paused_run(tmp_path, monkeypatch, fake_models):
    """One scene written by `dsr write` and paused at scene review: (run dir, configs the models got, the
    ``obj`` every `dsr` invocation of the test passes to build its models the same way)."""
    for key in [k for k in __import__("os").environ if is_user_setting(k)]:
        monkeypatch.delenv(key)
    seen: list[dict[str, Any]] = []

    def factory(role: str, config: Any) -> Any:
        seen.append({"role": role, **config.model_dump()})
        return fake_models(role, config)

    script_checks(monkeypatch, [])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    run = tmp_path / "run"
    args = ["write", EXAMPLE, "-o", str(run), "--scenes", "1", "--no-rubric", "--review", "scene"]
    result = CliRunner().invoke(app, args, obj=Injected(model_factory=factory))
    assert result.exit_code == 3, result.output
    seen.clear()
    return run, seen, Injected(model_factory=factory)


def _record(run: Path) -> dict[str, Any]:
    return json.loads((run / "run.json").read_text())


def test_run_json_holds_every_role_the_run_calls_and_no_key(paused_run):
    run, _, _ = paused_run
    roles = _record(run)["context"]["roles"]
    assert set(roles) == {"planner", "novelist", "screenwriter", "memory"}
    assert roles["novelist"]["api_key_env"] == "OPENAI_API_KEY"
    assert "sk-secret-value" not in (run / "run.json").read_text()


def test_a_changed_model_is_refused_then_switched_with_reconfigure(paused_run, monkeypatch):
    run, seen, models = paused_run
    monkeypatch.setenv("DSR_NOVELIST__MODEL", "another-model")
    refused = CliRunner().invoke(app, ["resume", str(run), "--approve"], obj=models)
    message = str(refused.exception)  # BadInput: `dsr` prints it as one line, exit status 2
    assert "novelist.model: None -> 'another-model'" in message and "--reconfigure" in message
    assert not seen and _record(run)["context"]["roles"]["novelist"]["model"] is None
    switched = CliRunner().invoke(app, ["resume", str(run), "--approve", "--reconfigure"], obj=models)
    assert switched.exit_code == 0, switched.output
    record = _record(run)
    assert record["context"]["roles"]["novelist"]["model"] == "another-model"
    (entry,) = record["reconfigured"]
    assert entry["changes"] == ["novelist.model: None -> 'another-model'"] and entry["time"]


def test_an_unchanged_configuration_resumes_on_the_recorded_models(paused_run, monkeypatch):
    run, seen, models = paused_run
    monkeypatch.setenv("DSR_JUDGE__MODEL", "a-role-this-run-does-not-call")
    args = ["resume", str(run), "--reject", "more storm", "--stage", "novelist"]
    result = CliRunner().invoke(app, args, obj=models)
    assert result.exit_code in (0, 3), result.output
    assert {s["role"] for s in seen} >= {"novelist"} and all(s["model"] is None for s in seen)
    assert "reconfigured" not in _record(run)


def test_a_run_recorded_without_models_resumes_and_records_them(paused_run):
    run, _, models = paused_run
    record = _record(run)
    del record["context"]["roles"]
    (run / "run.json").write_text(json.dumps(record))
    result = CliRunner().invoke(app, ["resume", str(run), "--approve"], obj=models)
    assert result.exit_code == 0, result.output
    assert set(_record(run)["context"]["roles"]) == {"planner", "novelist", "screenwriter", "memory"}


def test_studio_shows_the_context_without_the_model_factory():
    from dsr.graph.builder import compile_episode_graph

    properties = compile_episode_graph().get_context_jsonschema()["properties"]
    assert "roles" in properties and "model_factory" not in properties


def test_x_and_the_directives_are_validated_once_per_scene_pass(monkeypatch, fake_models):
    """Every node reads X (and the directives) through one accessor: a scene pass with a rerun validates
    the scene's X once and each directives dump once, however many nodes read them."""
    from langgraph.checkpoint.memory import InMemorySaver

    from dsr.graph.builder import compile_scene_graph
    from dsr.story.episode_spec import load_episode
    from dsr.story.findings import Finding
    from dsr.story.schemas import CreativeDirectives, TaskInput

    x = load_episode(Path(EXAMPLE)).task_input(0).model_dump(mode="json")
    counts = {"x": 0, "directives": 0}
    for schema, key in ((TaskInput, "x"), (CreativeDirectives, "directives")):
        original = schema.model_validate.__func__

        def counting(cls, *args, _original=original, _key=key, **kwargs):  # type: ignore[no-untyped-def]
            counts[_key] += 1
            return _original(cls, *args, **kwargs)

        monkeypatch.setattr(schema, "model_validate", classmethod(counting))
    built = {"x": 0}
    init = TaskInput.__init__

    def counting_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        built["x"] += 1
        init(self, *args, **kwargs)

    monkeypatch.setattr(TaskInput, "__init__", counting_init)
    blame = Finding(
        check="N1-coverage", stage="novelist", severity="error", message="the rescue beat is missing"
    )
    script_checks(monkeypatch, [[blame], []])
    graph = compile_scene_graph(InMemorySaver())
    graph.invoke(
        {"x": x, "timings": [], "scenes": []},
        {"configurable": {"thread_id": "once"}},
        context=fake_models.context(use_rubric=False),
    )
    assert fake_models.calls["novelist"] == 2, "the pass includes a rerun, so X is read by many nodes"
    assert (counts["x"] + built["x"], counts["directives"]) == (1, 1), (counts, built)


def test_lost_checkpoints_are_refused_until_the_run_is_started_over(paused_run):
    """A checkpoints.sqlite that lost its contents (truncated, its -wal gone) after the run made calls: resume
    names the file and the two ways on instead of silently writing the episode again from scene 1."""
    run, seen, models = paused_run
    calls_before = (run / "calls.jsonl").read_text()
    for extra in ("-wal", "-shm"):
        (run / f"checkpoints.sqlite{extra}").unlink(missing_ok=True)
    (run / "checkpoints.sqlite").write_bytes(b"")
    refused = CliRunner().invoke(app, ["resume", str(run), "--approve"], obj=models)
    message = str(refused.exception)
    assert refused.exit_code != 0 and isinstance(refused.exception, BadInput)
    assert f"{run / 'checkpoints.sqlite'} holds no checkpoint of this run" in message
    assert "scene(s) 1" in message and "--start-over" in message and "\n" not in message
    assert not seen and (run / "calls.jsonl").read_text() == calls_before  # no model was built, no call made
    again = CliRunner().invoke(app, ["resume", str(run), "--start-over"], obj=models)
    assert again.exit_code == 3, again.output  # written again from scene 1, paused at its review as before
    assert {c["role"] for c in seen} >= {"planner", "novelist", "screenwriter"}


def test_a_run_into_a_pipe_logs_one_plain_line_per_node(tmp_path, monkeypatch, fake_models):
    """No terminal to draw a live bar on (CI, a log file): each finished node is one line on stdout."""
    script_checks(monkeypatch, [])
    run = tmp_path / "run"
    args = ["write", EXAMPLE, "-o", str(run), "--scenes", "1", "--no-rubric"]
    result = CliRunner().invoke(app, args, obj=fake_models.cli())
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("dsr: scene 1/1 ")]
    nodes = [line.split()[3] for line in lines]
    assert "planner" in nodes, result.stdout
    assert (
        nodes.index("planner") < nodes.index("novelist") < nodes.index("screenwriter") < nodes.index("commit")
    )
    critic = next(line for line in lines if " critic done " in line)
    assert ", verdict pass" in critic
    planner = next(line for line in lines if " planner done " in line)
    assert planner.endswith(", 1 model call(s)")


def test_a_moved_run_directory_resumes_into_itself(paused_run):
    """A paused run copied elsewhere and resumed writes its episode and its story memory into the copy; the
    original directory is left as it was."""
    import shutil

    run, _, models = paused_run
    moved = run.parent / "moved"
    shutil.copytree(run, moved)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    result = CliRunner().invoke(app, ["resume", str(moved), "--approve"], obj=models)
    assert result.exit_code == 0, result.output
    assert (moved / "report.json").is_file() and (moved / "episode.fountain").is_file()
    assert not (run / "report.json").exists() and not (run / "episode.fountain").exists()
    assert sorted(p.relative_to(run) for p in run.rglob("*") if p.name != ".lock") == [
        p for p in before if p.name != ".lock"
    ], "nothing written into the old directory"
