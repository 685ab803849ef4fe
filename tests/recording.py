"""A recording fake chat model for routing tests, kept in one place so the way tests swap models can change once.

Each role answers from its own script and keeps every request it was sent, so a test can read what a rerun
was told (the critique in its prompt), not only count calls. Fine for routing logic; never for quality:
the real models run in tests/test_graph_e2e.py and tests/test_evaluation_e2e.py.

Models reach nodes through the run's context: a :class:`RecordingModels` is a ``model_factory``
(``RunContext(model_factory=fake_models)``, ``run_systems(..., model_factory=fake_models)``,
``create_app(..., model_factory=fake_models)``), passed the way any caller passes one; for ``dsr`` commands run
in-process, :meth:`RecordingModels.cli` is the invocation's ``obj`` (``CliRunner().invoke(app, args,
obj=fake_models.cli())``). Nothing is patched into the driver.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from dsr.cli.injection import Injected
from dsr.contract.context import RunContext
from dsr.story.findings import Finding

DIRECTIVES = '{"pacing": {"beats": [{"label": "find"}], "ending": "hook"}, "characters": [{"name": "MARA"}]}'
PROSE = "Mara lifted her lantern."
SCENE = "EXT. LIGHTHOUSE BASE - NIGHT\n\nMara lifts her lantern.\n\nMARA\nWho's there?\n"


def rubric_reply(
    score: int, rationale: str = "The beats land.", blame: str | None = None, **errors: list[str]
) -> str:
    """A rubric verdict as the judge would write it (JSON text)."""
    return json.dumps({"score": score, "errors": errors, "rationale": rationale, "blame": blame})


DEFAULTS: dict[str, str] = {
    "planner": DIRECTIVES,
    "novelist": PROSE,
    "screenwriter": SCENE,
    "critic": rubric_reply(9, "Clean and on the outline."),
}

#: A scripted reply: text, or an exception the model raises instead of answering.
Reply = str | BaseException


class RecordingChatModel(BaseChatModel):
    """One role's model: the next scripted reply (the role's default once the script is used up)."""

    role: str
    recorder: Any

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self.recorder.answer(self.role, messages)
        if isinstance(reply, BaseException):
            raise reply
        usage = {
            "input_tokens": sum(len(str(m.content)) for m in messages),
            "output_tokens": len(reply),
            "total_tokens": 0,
        }
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply, usage_metadata=usage))])


class RecordingModels:
    """A run's ``model_factory``: scripted replies per role, every request kept per role."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.requests: dict[str, list[list[BaseMessage]]] = {}

    def script(self, role: str, *replies: Reply) -> RecordingModels:
        """Replies ``role`` gives in order, before it falls back to its default."""
        self.scripts[role] = list(replies)
        return self

    def answer(self, role: str, messages: list[BaseMessage]) -> Reply:
        self.requests.setdefault(role, []).append(list(messages))
        queue = self.scripts.get(role)
        return queue.pop(0) if queue else DEFAULTS.get(role, "{}")

    def __call__(self, role: str, config: Any = None) -> BaseChatModel:
        return RecordingChatModel(role=role, recorder=self)

    def context(self, **fields: Any) -> RunContext:
        """A run context whose models are these."""
        return RunContext(model_factory=self, **fields)

    def cli(self) -> Injected:
        """What ``dsr`` run in-process takes as click's ``obj`` to build every run's models with these."""
        return Injected(model_factory=self)

    @property
    def calls(self) -> dict[str, int]:
        """Requests per role (roles never called are absent)."""
        return {role: len(reqs) for role, reqs in self.requests.items()}

    def prompts(self, role: str) -> list[str]:
        """The full text of every request ``role`` got, in order (all turns joined)."""
        return ["\n".join(str(m.content) for m in request) for request in self.requests.get(role, [])]


@pytest.fixture
def fake_models() -> RecordingModels:
    """Recording fakes for every role, for the test to pass where runs take their models."""
    return RecordingModels()


def script_checks(monkeypatch: pytest.MonkeyPatch, per_call: list[list[Finding]]) -> list[list[Finding]]:
    """The critic's deterministic checks return these findings, one list per critic call, then none.

    Returns the queue, so a test can see how many critic calls consumed it.
    """
    queue = list(per_call)
    fake: Callable[..., list[Finding]] = lambda *a, **k: queue.pop(0) if queue else []  # noqa: E731
    monkeypatch.setattr("dsr.nodes.critic.deterministic_checks", fake)
    return queue


GOOD_SCENE_FILE = Path(__file__).parent / "data" / "critic" / "good_scene.fountain"


class GoodScene(BaseChatModel):
    """Always answers with a hand-written scene for harbor-lights scene 1 that passes every deterministic
    check in ``e2e`` mode; served over ``dsr serve``'s app so a real run's critic goes on to the rubric."""

    @property
    def _llm_type(self) -> str:
        return "good-scene"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = GOOD_SCENE_FILE.read_text(encoding="utf-8")
        usage = {
            "input_tokens": sum(len(str(m.content)) for m in messages) // 4,
            "output_tokens": len(text) // 4,
            "total_tokens": 0,
        }
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text, usage_metadata=usage))])
