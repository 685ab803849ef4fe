"""Split decoding (DSR-SPEC 1): planner and novelist as one Stage 1 model decode one answer in two halves.

The routing tests use recording fakes (what each half is sent: the SFT prompt and the assistant prefix it
continues, with the continuation flag); the slow tests run the real embedded model in split mode, in
process (the KV cache of the planner's half is reused) and behind ``dsr serve`` over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from dsr.contract.call_log import CALL_LOG, CallLog, read_call_log
from dsr.contract.context import RunContext
from dsr.graph.builder import compile_scene_graph
from dsr.models.continuation import ContinuationUnsupported, continuation_kwargs, rejects_continuation
from dsr.models.settings import RoleConfig
from dsr.nodes.stage1_split import split_decoding
from dsr.story.episode_spec import EpisodeSpec
from dsr.story.findings import Finding
from dsr.story.schemas import CreativeDirectives
from tests.recording import DIRECTIVES, PROSE, RecordingChatModel, RecordingModels, script_checks

SPEC = EpisodeSpec.model_validate(
    {
        "title": "T",
        "series": "s",
        "characters": [{"name": "MARA", "profile": "keeper"}],
        "scenes": [{"outline": "Mara finds a stranger."}],
    }
)
STAGE1 = {"prompt": "stage1"}
SFT_SYSTEM = "You are a screen novelist."  # the first words of prompts/stage1.md's system turn


class KwargsRecordingModel(RecordingChatModel):
    """A recording fake that also keeps the keyword arguments of every call (the continuation flag)."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.recorder.kwargs.setdefault(self.role, []).append({"stop": stop, **kwargs})
        return super()._generate(messages, stop, run_manager, **kwargs)


class SplitModels(RecordingModels):
    def __init__(self) -> None:
        super().__init__()
        self.kwargs: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, role: str, config: Any = None) -> KwargsRecordingModel:
        return KwargsRecordingModel(role=role, recorder=self)

    def prefixes(self, role: str) -> list[str]:
        """The assistant prefix each call of ``role`` continued (its final message)."""
        out = []
        for request in self.requests.get(role, []):
            assert isinstance(request[-1], AIMessage), f"{role} was not asked to continue an assistant prefix"
            out.append(str(request[-1].content))
        return out


def split_context(models: SplitModels, **fields: Any) -> RunContext:
    roles = {"planner": RoleConfig().model_dump(), "novelist": RoleConfig(**STAGE1).model_dump()}
    return RunContext(model_factory=models, roles=roles, use_rubric=False, **fields)


def run_scene(context: RunContext, tmp_path: Path | None = None) -> tuple[Any, dict[str, Any]]:
    graph = compile_scene_graph(InMemorySaver())
    config: dict[str, Any] = {"configurable": {"thread_id": "split"}}
    if tmp_path is not None:
        config["callbacks"] = [CallLog(tmp_path / CALL_LOG)]
    x = SPEC.task_input(0).model_dump(mode="json")
    graph.invoke({"x": x, "timings": [], "scenes": []}, config, context=context)
    return graph, config


def blame(stage: str, what: str) -> Finding:
    return Finding(
        check="X1",
        stage=stage,
        message=f"{what} is wrong",
        evidence=f"evidence of {what}",
        fix_hint=f"repair {what}",
    )


# --- when the split applies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "planner", "novelist", "split"),
    [
        ("dsr", {}, STAGE1, True),  # both embedded, the novelist a Stage 1 model: one model
        ("dsr", {"temperature": 0.2, "max_new_tokens": 99}, STAGE1, True),  # sampling may differ
        ("dsr", {}, {}, False),  # no Stage 1 prompt: two ordinary roles
        ("dsr-nocot", {}, STAGE1, False),  # no planner
        (
            "dsr",
            {"provider": "hf", "model": "/m"},
            STAGE1 | {"provider": "hf", "model": "/m", "adapter": "/a"},
            False,
        ),
        (
            "dsr",
            {"provider": "hf", "model": "/m", "adapter": "/a"},
            STAGE1 | {"provider": "hf", "model": "/m", "adapter": "/a"},
            True,
        ),
        (
            "dsr",
            {"provider": "openai", "model": "stage1", "base_url": "http://127.0.0.1:1/v1"},
            STAGE1 | {"provider": "openai", "model": "stage1", "base_url": "http://127.0.0.1:2/v1"},
            False,
        ),
    ],
)
def test_split_applies_when_planner_and_novelist_are_one_stage1_model(mode, planner, novelist, split):
    roles = {"planner": RoleConfig(**planner).model_dump(), "novelist": RoleConfig(**novelist).model_dump()}
    assert split_decoding(RunContext(mode=mode, roles=roles)) is split


# --- routing: which half a finding reruns and what it is told -----------------------------------------


def test_first_pass_is_one_answer_in_two_halves(monkeypatch, tmp_path):
    script_checks(monkeypatch, [[]])
    models = SplitModels()
    graph, config = run_scene(split_context(models, run_dir=str(tmp_path)), tmp_path)
    assert models.calls == {"planner": 1, "novelist": 1, "screenwriter": 1}
    (planner_prompt,), (novelist_prompt,) = models.requests["planner"], models.requests["novelist"]
    # Both halves get the SFT prompt unchanged; the planner's ends at <directives>, the novelist's continues it.
    assert SFT_SYSTEM in str(planner_prompt[0].content) and planner_prompt[:2] == novelist_prompt[:2]
    assert models.prefixes("planner") == ["<directives>"]
    assert models.prefixes("novelist") == [f"<directives>{DIRECTIVES}</directives>\n<novel>"]
    for role, stop in (("planner", ["</directives>"]), ("novelist", ["</novel>"])):
        (kwargs,) = models.kwargs[role]
        assert kwargs["continue_final_message"] is True and kwargs["stop"] == stop
    state = graph.get_state(config).values
    own = CreativeDirectives.model_validate_json(DIRECTIVES).model_dump(mode="json")
    assert state["directives"] == own and state["prose"] == PROSE
    scene_dir = tmp_path / "scenes" / "01"
    assert json.loads((scene_dir / "directives.json").read_text()) == own  # the Stage 1 model's own
    answer = (scene_dir / "stage1_answer.txt").read_text()
    assert answer == f"<directives>{DIRECTIVES}</directives>\n<novel>{PROSE}</novel>\n"
    halves = [c for c in read_call_log(tmp_path / CALL_LOG) if c.get("split")]
    assert [(c["role"], c["split"]) for c in halves] == [("planner", "directives"), ("novelist", "novel")]
    assert halves[0]["answer"] == halves[1]["answer"] == state["stage1"]["answer"]


def test_planner_blamed_finding_regenerates_the_directives_then_the_prose(monkeypatch):
    finding = blame("planner", "the missing reveal")
    script_checks(monkeypatch, [[finding], []])
    models = SplitModels()
    second = DIRECTIVES.replace('"hook"', '"cliffhanger"')
    models.script("planner", DIRECTIVES, second).script("novelist", "First prose.", "Second prose.")
    graph, config = run_scene(split_context(models))
    assert models.calls == {"planner": 2, "novelist": 2, "screenwriter": 2}
    first, rerun = models.prefixes("planner")
    assert first == "<directives>"
    # The critique is a note inside the answer, before the directives it asks to change; the prompt is unchanged.
    assert rerun.startswith("<note>\n") and rerun.endswith("</note>\n<directives>")
    assert all(part in rerun for part in ("[X1]", finding.message, finding.evidence, finding.fix_hint))
    assert models.requests["planner"][1][:2] == models.requests["planner"][0][:2]
    # The prose is rewritten on the new directives, continuing the rerun's whole planner half (its note too).
    prose_first, prose_rerun = models.prefixes("novelist")
    assert prose_first == f"<directives>{DIRECTIVES}</directives>\n<novel>"
    assert prose_rerun == f"{rerun}{second}</directives>\n<novel>"
    state = graph.get_state(config).values
    assert state["prose"] == "Second prose." and state["directives"]["pacing"]["ending"] == "cliffhanger"
    assert state["retries"] == {"planner": 1}


def test_novelist_blamed_finding_keeps_the_directives_and_regenerates_the_prose(monkeypatch):
    finding = blame("novelist", "the absent rescue beat")
    script_checks(monkeypatch, [[finding], []])
    models = SplitModels().script("novelist", "First prose.", "Second prose.")
    graph, config = run_scene(split_context(models))
    assert models.calls == {"planner": 1, "novelist": 2, "screenwriter": 2}
    first, rerun = models.prefixes("novelist")
    directives_half = f"<directives>{DIRECTIVES}</directives>"
    assert first == directives_half + "\n<novel>"
    # Same directives, token for token; the note sits between them and <novel>.
    assert rerun.startswith(directives_half + "\n<note>\n") and rerun.endswith("</note>\n<novel>")
    assert all(part in rerun for part in ("[X1]", finding.message, finding.evidence, finding.fix_hint))
    assert not any(finding.message in p for p in models.prompts("planner"))
    state = graph.get_state(config).values
    assert state["prose"] == "Second prose." and state["retries"] == {"novelist": 1}


def test_directives_review_edit_is_what_the_novelist_continues(monkeypatch):
    script_checks(monkeypatch, [[]])
    models = SplitModels()
    ctx = split_context(models, review=["directives"])
    graph, config = run_scene(ctx)
    assert models.calls == {"planner": 1}
    edited = CreativeDirectives.model_validate_json(DIRECTIVES.replace('"hook"', '"a door slams"'))
    graph.invoke(Command(resume={"action": "edit", "value": edited.model_dump_json()}), config, context=ctx)
    # Serialized as the SFT targets are (synthesis/assemble.py: model_dump_json), then <novel>.
    assert models.prefixes("novelist") == [f"<directives>{edited.model_dump_json()}</directives>\n<novel>"]


def test_directives_review_reject_reruns_the_planner_half_with_the_note(monkeypatch):
    script_checks(monkeypatch, [[]])
    models = SplitModels()
    ctx = split_context(models, review=["directives"])
    graph, config = run_scene(ctx)
    graph.invoke(Command(resume={"action": "reject", "note": "open on the lantern"}), config, context=ctx)
    assert models.prefixes("planner") == [
        "<directives>",
        "<note>\n- [human] open on the lantern\n</note>\n<directives>",
    ]


def test_unusable_directives_half_leaves_the_novelist_the_whole_answer(monkeypatch):
    script_checks(monkeypatch, [[]])
    models = SplitModels().script("planner", "no json here", "still none")
    models.script("novelist", f"{DIRECTIVES}</directives>\n<novel>{PROSE}")
    graph, config = run_scene(split_context(models))
    assert models.calls["planner"] == 2  # resampled once, no repair turn (the SFT model never saw one)
    assert models.prefixes("novelist") == ["<directives>"]
    assert graph.get_state(config).values["prose"] == PROSE


# --- providers: how a continuation is asked for ------------------------------------------------------------


def test_openai_continuation_goes_in_the_extra_body_beside_the_roles_own():
    from dsr.models.openai_provider import build_openai

    cfg = RoleConfig(provider="openai", model="stage1", base_url="http://127.0.0.1:8000/v1")
    model = build_openai("novelist", cfg)
    body = continuation_kwargs(model, "novelist")["extra_body"]
    assert body == {
        "repetition_penalty": cfg.repetition_penalty,
        "continue_final_message": True,
        "add_generation_prompt": False,
    }


def test_an_endpoint_refusing_continuation_is_a_clear_error_naming_the_setting(monkeypatch):
    import openai

    class Refused(openai.BadRequestError):
        def __init__(self) -> None:
            self.status_code = 400
            Exception.__init__(
                self, "Error code: 400 - Unrecognized request argument supplied: continue_final_message"
            )

    assert rejects_continuation(Refused())

    def refuse(self, messages, stop=None, run_manager=None, **kwargs):
        raise Refused()

    monkeypatch.setattr(KwargsRecordingModel, "_generate", refuse)
    script_checks(monkeypatch, [[]])
    models = SplitModels()
    with pytest.raises(ContinuationUnsupported) as info:
        run_scene(split_context(models))
    message = str(info.value)
    assert "continue_final_message" in message and "DSR_NOVELIST__PROMPT=stage1" in message
    assert "DSR_PLANNER__MODEL" in message and "vLLM" in message


# --- the real embedded model -------------------------------------------------------------------------------


SCENE = Path(__file__).parent / "data" / "critic" / "scene.json"


def planner_error(run_dir: Path) -> str:
    """What the planner wrote to directives.json (the error, when it got no usable directives)."""
    return "".join(path.read_text() for path in run_dir.glob("scenes/*/directives.json"))


def _embedded_split_context(monkeypatch, run_dir: Path) -> RunContext:
    from dsr.contract.context import resolve_roles

    monkeypatch.delenv("DSR_CONFIG", raising=False)
    settings = {
        "PLANNER": {"MAX_NEW_TOKENS": "400", "TEMPERATURE": "0"},  # a plan per outline character
        "NOVELIST": {"PROMPT": "stage1", "MAX_NEW_TOKENS": "6", "TEMPERATURE": "0"},
    }
    for role, values in settings.items():
        for key, value in values.items():
            monkeypatch.setenv(f"DSR_{role}__{key}", value)
    return RunContext(run_dir=str(run_dir), roles=resolve_roles(["planner", "novelist"]))


@pytest.mark.slow
def test_embedded_model_decodes_split_and_reuses_the_planners_kv_cache(monkeypatch, tmp_path):
    from langchain_core.runnables import RunnableConfig
    from langchain_core.runnables.config import set_config_context

    from dsr.nodes.novelist import novelist_node
    from dsr.nodes.planner import planner_node

    context = _embedded_split_context(monkeypatch, tmp_path)
    assert split_decoding(context)
    state: dict[str, Any] = {"x": json.loads(SCENE.read_text()), "critique": {}}
    log = CallLog(tmp_path / CALL_LOG)
    with set_config_context(RunnableConfig(callbacks=[log])) as scoped:
        state |= scoped.run(planner_node, state, SimpleNamespace(context=context))
        assert state["directives"] is not None, planner_error(tmp_path)
        state |= scoped.run(novelist_node, state, SimpleNamespace(context=context))
    directives_call, novel_call = read_call_log(tmp_path / CALL_LOG)
    assert (directives_call["split"], novel_call["split"]) == ("directives", "novel")
    assert directives_call["answer"] == novel_call["answer"]
    # The novelist's half prefilled only what the planner's did not: the kept cache served the rest.
    assert novel_call["cached_tokens"] >= directives_call["input_tokens"] > 0
    assert novel_call["input_tokens"] - novel_call["cached_tokens"] <= 10  # "</directives>\n<novel>"
    assert 0 < novel_call["output_tokens"] <= 6
    answer = (tmp_path / "scenes" / "01" / "stage1_answer.txt").read_text()
    assert answer.startswith(f"<directives>{state['stage1']['json']}</directives>\n<novel>")
    assert state["prose"] and answer.rstrip().endswith(state["prose"] + "</novel>")


@pytest.mark.slow
def test_dsr_serve_continues_an_assistant_prefix_over_http(model_server):
    url, name = model_server.base_url, model_server.name
    messages = [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "My favourite colour is"},
    ]
    body = {"model": name, "messages": messages, "max_tokens": 4, "temperature": 0}
    continued = httpx.post(
        f"{url}/chat/completions",
        json=body | {"continue_final_message": True, "add_generation_prompt": False},
        timeout=600,
    ).json()
    # Prefix continued: the prompt ends in the open assistant turn, so it is shorter than a new turn's.
    new_turn = httpx.post(f"{url}/chat/completions", json=body, timeout=600).json()
    assert continued["usage"]["prompt_tokens"] < new_turn["usage"]["prompt_tokens"]
    assert continued["choices"][0]["message"]["content"]
    both = httpx.post(
        f"{url}/chat/completions",
        json=body | {"continue_final_message": True, "add_generation_prompt": True},
        timeout=60,
    )
    assert both.status_code == 400 and "cannot both be true" in both.json()["error"]["message"]
    no_prefix = body | {
        "messages": messages[:1],
        "continue_final_message": True,
        "add_generation_prompt": False,
    }
    refused = httpx.post(f"{url}/chat/completions", json=no_prefix, timeout=60)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "continue_final_message"


@pytest.mark.slow
def test_split_run_through_the_openai_provider_against_dsr_serve(model_server, monkeypatch, tmp_path):
    """Planner and novelist as one served Stage 1 model: both halves go over the wire as continuations."""
    from dsr.contract.context import resolve_roles
    from dsr.nodes.novelist import novelist_node
    from dsr.nodes.planner import planner_node
    from tests.servers import read_requests

    monkeypatch.delenv("DSR_CONFIG", raising=False)
    env = model_server.env("planner", "novelist", max_new_tokens=160) | {
        "DSR_NOVELIST__PROMPT": "stage1",
        "DSR_NOVELIST__MAX_NEW_TOKENS": "6",
        "DSR_PLANNER__TEMPERATURE": "0",
        "DSR_NOVELIST__TEMPERATURE": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    context = RunContext(run_dir=str(tmp_path), roles=resolve_roles(["planner", "novelist"]))
    assert split_decoding(context)
    model_server.log.unlink(missing_ok=True)
    state: dict[str, Any] = {"x": json.loads(SCENE.read_text()), "critique": {}}
    state |= planner_node(state, SimpleNamespace(context=context))
    assert state["directives"] is not None, planner_error(tmp_path)
    state |= novelist_node(state, SimpleNamespace(context=context))
    planner_req, novelist_req = (r["body"] for r in read_requests(model_server.log))
    for req in (planner_req, novelist_req):
        assert req["continue_final_message"] is True and req["add_generation_prompt"] is False
        assert req["messages"][-1]["role"] == "assistant"
    assert planner_req["messages"][-1]["content"] == "<directives>"
    assert planner_req["response_format"]["type"] == "json_schema"  # the directives held to their schema
    assert (
        novelist_req["messages"][-1]["content"]
        == f"<directives>{state['stage1']['json']}</directives>\n<novel>"
    )
    assert novelist_req["messages"][:2] == planner_req["messages"][:2]
