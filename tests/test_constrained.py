"""Constrained structured output with real models and real servers: every schema in use decodes to a
valid object under its grammar, a cut-off answer is reported as ``truncated``, ``dsr serve`` honours
``response_format`` json_schema, and an endpoint that rejects the field makes an ``auto`` role fall back
once for the process."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dsr.evaluation.calibration import StoryVerdict
from dsr.judging.pairwise import PairVerdict
from dsr.judging.rubric import RubricVerdict
from dsr.models import openai_provider
from dsr.models.openai_provider import build_openai, structured_mode
from dsr.models.settings import RoleConfig
from dsr.models.structured import StructuredOutputError, counting, invoke_structured, tally
from dsr.story.schemas import CreativeDirectives, ExpositionStrategy, NarrativePacing
from dsr.synthesis.cache import CallCache
from dsr.synthesis.drafts import (
    CharacterPlans,
    CharactersDraft,
    ContextDraft,
    FidelityVerdict,
    GuidelinesDraft,
    OutlineDraft,
)
from dsr.synthesis.teacher import Teacher, TeacherError
from tests.servers import free_port, wait_http

SCENE = """INT. HARBOR OFFICE - NIGHT

MARA (40s, harbor master) sorts wet papers. TOM, her brother, bursts in.

TOM
The Aurora never came back.

MARA
Then we go out and find her.
"""

#: Every schema a JSON role asks for: planner, critic rubric and judges, calibration, synthesis teacher.
SCHEMAS: list[type[BaseModel]] = [
    CreativeDirectives,
    RubricVerdict,
    PairVerdict,
    StoryVerdict,
    OutlineDraft,
    ContextDraft,
    CharactersDraft,
    GuidelinesDraft,
    ExpositionStrategy,
    NarrativePacing,
    CharacterPlans,
    FidelityVerdict,
]

pytestmark = pytest.mark.slow


def ask(schema: type[BaseModel]) -> list:
    return [
        SystemMessage("You analyse screenplay scenes."),
        HumanMessage(f"Scene:\n{SCENE}\nAnswer as {schema.__name__}."),
    ]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.__name__)
def test_every_schema_in_use_decodes_valid_json_under_its_grammar(embedded_model, schema):
    # Greedy: the session model samples at the critic's 0.1, and a sampled run may legally answer {}
    # for a schema without required fields; greedy gives one reproducible answer per schema, from a fresh prefill
    # (a prefix kept from an earlier test can move a long greedy answer: models/onnx_engine.py, _Slot.exact).
    if hasattr(embedded_model.loaded, "clear_cache"):
        embedded_model.loaded.clear_cache()
    result = invoke_structured(
        embedded_model, ask(schema), schema, max_repairs=1, max_new_tokens=320, temperature=0
    )
    assert result.mechanism == "grammar" and result.truncations == 0
    first = json.loads(
        result.raw_outputs[0]
    )  # parses by construction, even when a validator asked for a repair
    assert set(first) <= set(schema.model_json_schema()["properties"])
    assert re.match(r'^\{("\w+":|\}$)', result.raw_outputs[0])  # compact: no whitespace between tokens


def test_budget_too_small_is_reported_truncated_not_a_crash(embedded_model):
    with counting() as events, pytest.raises(StructuredOutputError) as info:
        invoke_structured(embedded_model, ask(RubricVerdict), RubricVerdict, max_repairs=1, max_new_tokens=6)
    assert info.value.reason == "truncated" and info.value.mechanism == "grammar"
    assert len(info.value.raw_outputs) == 2
    assert tally(events)["critic"] == {
        "mechanisms": {"grammar": 1},
        "calls": 1,
        "first_try_valid": 0,
        "repair_turns": 1,
        "truncations": 2,
        "failures": 1,
    }


def test_teacher_steps_go_through_the_grammar_and_the_cache(embedded_model, tmp_path):
    teacher = Teacher(
        embedded_model,
        {"max_new_tokens": 200, "llm_type": "dsr-embedded"},
        CallCache(tmp_path / "c.sqlite"),
        concurrency=1,
        seed=0,
        max_repairs=1,
    )
    messages = [
        {
            "role": "user",
            "content": f"Scene:\n{SCENE}\nDoes this prose carry the scene's events? 'Tom warns Mara.'",
        }
    ]
    got = asyncio.run(teacher.structured(messages, FidelityVerdict, "fidelity"))
    assert isinstance(got.value, FidelityVerdict) and teacher.usage.calls >= 1
    again = asyncio.run(teacher.structured(messages, FidelityVerdict, "fidelity"))
    assert again.value == got.value and teacher.usage.cache_hits >= 1
    cut = type(embedded_model)(
        loaded=embedded_model.loaded, config=RoleConfig(max_new_tokens=4), name="teacher"
    )
    tiny = Teacher(
        cut, {"max_new_tokens": 4}, CallCache(tmp_path / "t.sqlite"), concurrency=1, seed=0, max_repairs=0
    )
    with pytest.raises(TeacherError) as info:
        asyncio.run(tiny.structured(messages, FidelityVerdict, "fidelity"))
    assert info.value.reason == "truncated"


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """An ASGI app on a free local port in a thread, for the block."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=30)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def openai_role(base_url: str, **extra: object) -> object:
    cfg = RoleConfig(
        provider="openai", model="m", base_url=base_url, max_new_tokens=160, max_retries=0, **extra
    )
    model = build_openai("judge", cfg)
    model.name = "judge"
    return model


def test_dsr_serve_honours_json_schema(embedded_model):
    from dsr.models.server import create_app

    with serving(create_app(embedded_model, "m")) as url:  # the name the role asks for
        model = openai_role(url)
        result = invoke_structured(model, ask(PairVerdict), PairVerdict, max_repairs=1)
        assert result.mechanism == "json_schema"
        assert json.loads(result.raw_outputs[0])["winner"] in ("A", "B", "tie")


def test_endpoint_rejecting_response_format_falls_back_once_and_remembers():
    seen: list[dict] = []

    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(body)
        if "response_format" in body:
            return JSONResponse(
                {"error": {"message": "response_format is not supported", "type": "invalid_request_error"}},
                400,
            )
        content = '{"winner": "B", "rationale": "Scene B keeps the argument moving."}'
        return JSONResponse(
            {
                "id": "x",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22},
            }
        )

    app = Starlette(
        routes=[
            Route("/health", lambda r: JSONResponse({})),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )
    with serving(app) as url:
        model = openai_role(url)
        assert structured_mode(model) == "json_schema"
        first = invoke_structured(model, ask(PairVerdict), PairVerdict)
        kinds = [b.get("response_format", {}).get("type") for b in seen]
        assert kinds == ["json_schema", "json_object", None] and first.mechanism == "prompt"
        assert structured_mode(model) == "prompt"
        second = invoke_structured(
            openai_role(url), ask(PairVerdict), PairVerdict
        )  # a new client, same process
        assert len(seen) == 4 and "response_format" not in seen[-1] and second.value.winner == "B"
        forced = openai_role(url, structured="json_schema")  # an explicit setting is never downgraded
        with pytest.raises(Exception, match="response_format"):
            invoke_structured(forced, ask(PairVerdict), PairVerdict)
    openai_provider._FALLBACKS.clear()


def test_screenwriter_draft_under_the_fountain_grammar_has_the_scene_shape(embedded_model):
    from pathlib import Path

    from dsr.nodes.screenwriter import fountain_grammar, write_screenplay
    from dsr.story.checks import deterministic_checks
    from dsr.story.episode_spec import load_episode
    from dsr.story.fountain_text import heading_hint

    x = load_episode(Path(__file__).resolve().parents[1] / "examples" / "harbor-lights.yaml").task_input(0)
    cfg = RoleConfig(max_new_tokens=120, temperature=0.0)
    model = type(embedded_model)(loaded=embedded_model.loaded, config=cfg, name="screenwriter")
    assert fountain_grammar(model, x)["grammar"].kind == "ebnf"
    prose = "Mara hauls the stranger in from the rocks. 'Who are you?' she asks. Tom only shivers."
    draft = write_screenplay(model, prose, x).text
    assert draft.startswith(heading_hint(x) + "\n\n")
    shape = {"F1-parse", "F1-heading", "F1-cast", "F1-empty-dialogue"}
    assert not [f for f in deterministic_checks(x, prose, draft) if f.check in shape], draft
    off = type(embedded_model)(
        loaded=embedded_model.loaded, config=cfg.model_copy(update={"fountain_grammar": False})
    )
    assert fountain_grammar(off, x) == {}


def test_the_fountain_grammar_cannot_write_what_the_critic_rejects(embedded_model):
    """A lone name on an action line (read as a mixed-case cue), a wall of action prose and a speaker the prose
    never names are outside the grammar; the longest action paragraph it allows stays under the linter's error
    bound (SP040)."""
    from pathlib import Path

    import xgrammar as xgr

    from dsr.screenplay.lint import lint_text
    from dsr.story.episode_spec import load_episode
    from dsr.story.fountain_grammar import scene_grammar
    from dsr.story.fountain_text import heading_hint

    x = load_episode(Path(__file__).resolve().parents[1] / "examples" / "harbor-lights.yaml").task_input(0)
    head = heading_hint(x)
    tokenizer = embedded_model.loaded.tokenizer
    compiler = xgr.GrammarCompiler(xgr.TokenizerInfo.from_huggingface(tokenizer))

    def accepts(grammar: str, text: str) -> bool:
        matcher = xgr.GrammarMatcher(compiler.compile_grammar(grammar))
        return matcher.accept_string(text) and matcher.accept_token(tokenizer.eos_token_id)

    scene = scene_grammar(x, head)
    assert accepts(scene, f"{head}\n\nMara hauls the stranger in from the rocks.\n\nMARA\nWho are you?\n")
    assert not accepts(scene, f"{head}\n\nMara\nWho are you?\n"), "a lone name line reads as a mixed-case cue"
    long_line = "Abcdefghijklmn " + " ".join(["abcdefghijklmn"] * 13)
    widest = f"{head}\n\n" + "\n".join([long_line] * 3) + "\n"
    assert accepts(scene, widest)
    assert not [f for f in lint_text(widest) if f.rule == "SP040" and f.severity == "error"]
    assert not accepts(scene, f"{head}\n\n" + "\n".join([long_line] * 4) + "\n"), (
        "four lines: a new paragraph"
    )
    assert not accepts(scene, f"{head}\n\n{long_line} abcdefghijklmn\n"), "a fifteenth word: a new line"
    converting = scene_grammar(x, head, prose="Mara climbs the stairs alone. 'Nobody,' she says.")
    assert accepts(converting, f"{head}\n\nMARA\nNobody.\n")
    assert accepts(scene, f"{head}\n\nTOM\nNobody.\n")
    assert not accepts(converting, f"{head}\n\nTOM\nNobody.\n"), "Tom is not in the prose: he cannot speak"
