"""Chat models that tests serve over ``dsr serve``'s OpenAI-compatible app (see tests/servers.py).

``embedded_model`` is the real packaged model, as ``dsr serve`` builds it. ``ScriptedWriter`` answers
each DSR stage with a fixed, well-formed text, for tests whose point is the transport (endpoint
failures, keys), not the writing.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from models.messages import message_text, usage

DIRECTIVES = {
    "exposition": {"reveals": [], "turning_points": []},
    "pacing": {
        "beats": [{"label": "Mara finds a stranger", "purpose": "setup", "intensity": 3, "weight": "medium"}],
        "climax_beat": 0,
        "ending": "hook",
    },
    "characters": [
        {"name": "MARA", "scene_goal": "hide him", "emotion_arc": ["wary"], "key_actions": [], "tells": []}
    ],
}
PROSE = (
    "Mara found a stranger washed up below the lighthouse. She dragged him into the lamp room and hid him "
    'from the harbour master. "Not a word," Mara said.'
)
SCENE = (
    "EXT. LIGHTHOUSE BASE - NIGHT\n\nMara finds a stranger washed up on the rocks and drags him inside.\n\n"
    "MARA\nNot a word to the harbour master.\n"
)


def embedded_model() -> BaseChatModel:
    """The real embedded model configured for the novelist, exactly what ``dsr serve`` serves."""
    from models.factory import get_chat_model
    from models.settings import load_settings

    return get_chat_model("novelist", load_settings())


class ScriptedWriter(BaseChatModel):
    """Planner, novelist and screenwriter answers keyed on the system prompt of each stage."""

    @property
    def _llm_type(self) -> str:
        return "scripted-writer"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        system = message_text(messages[0])
        if "story editor" in system:
            answer = json.dumps(DIRECTIVES)
        elif "novelist" in system:
            answer = PROSE
        else:
            answer = SCENE
        prompt_chars = sum(len(message_text(m)) for m in messages)
        message = AIMessage(content=answer, usage_metadata=usage(prompt_chars // 4, len(answer) // 4))
        return ChatResult(generations=[ChatGeneration(message=message)])
