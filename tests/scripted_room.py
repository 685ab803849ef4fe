"""A scripted writers' room behind ``dsr serve``'s app: valid answers for every role, instantly.

Served over HTTP with a fixed latency (tests/servers.py ``served_chat_model(..., delay_s)``), it stands for
remote models in the season tests and benchmarks: the planner gets directives, the novelist prose, the
screenwriter a scene that passes the critic's checks for the harbour outline, the critic's rubric a 9, fact
extraction an empty list. A user prompt holding ``FAIL_MARK`` is answered with an error (HTTP 500), so one
episode of a season can fail while the others go on; the mark is ignored while the file named by
``DSR_ROOM_HEALED`` exists (the endpoint "comes back").
"""

from __future__ import annotations

import json
import os
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from dsr.models.messages import message_text, usage
from tests.served_models import DIRECTIVES as _DIRECTIVES

OUTLINE = "Mara finds a stranger washed up below the lighthouse and hides him from the harbour master."
_BEATS = [
    {
        "label": "Mara finds a stranger washed up",
        "purpose": "below the lighthouse",
        "intensity": 3,
        "weight": "medium",
    },
    {"label": "Mara hides him", "purpose": "from the harbour master", "intensity": 4, "weight": "medium"},
]
DIRECTIVES = {**_DIRECTIVES, "pacing": {**_DIRECTIVES["pacing"], "beats": _BEATS, "climax_beat": 1}}
PROSE = (
    "Night. Waves break white on the rocks below the lighthouse. Mara walks the tideline with her lantern "
    "and finds a stranger washed up on the stones, soaked, breathing, one hand still gripping a rope. She "
    "kneels, checks his pulse and looks up at the harbour road, where a torch is moving. She drags the "
    "stranger up the steps and into the lighthouse, lays him beside the stove and throws a tarpaulin over "
    'him. The harbour master knocks. Mara opens the door a crack. "Quiet night," Mara says. "Nothing '
    'washed up." The harbour master nods and walks on. Mara bolts the door.'
)
SCENE = (
    "EXT. LIGHTHOUSE BASE - NIGHT\n\n"
    "Waves break white on the rocks. Mara walks the tideline with her lantern and finds a stranger washed "
    "up on the stones, soaked, still gripping a rope.\n\n"
    "She kneels, checks his pulse, looks up at a torch moving along the harbour road.\n\n"
    "She drags the stranger up the steps into the lighthouse, lays him by the stove and throws a tarpaulin "
    "over him. A knock. Mara opens the door a crack to the harbour master.\n\n"
    "MARA\nQuiet night. Nothing washed up.\n\n"
    "The harbour master nods and walks on. Mara bolts the door.\n"
)
FAIL_MARK = "[room: fail this scene]"
RUBRIC = {
    "score": 9,
    "errors": {"plot_coherence": [], "character_development": [], "narrative_pacing": [], "format": []},
    "rationale": "Clear, filmable and faithful to the outline.",
    "blame": None,
}


class ScriptedRoom(BaseChatModel):
    """Every DSR role's answer, keyed on the system prompt of each task."""

    @property
    def _llm_type(self) -> str:
        return "scripted-room"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        system = message_text(messages[0])
        prompt = "\n".join(message_text(m) for m in messages[1:])
        healed = os.environ.get("DSR_ROOM_HEALED")
        if FAIL_MARK in prompt and not (healed and os.path.exists(healed)):
            raise RuntimeError("scripted failure for this scene")
        if "story editor" in system:
            answer = json.dumps(DIRECTIVES)
        elif "novelist" in system:
            answer = PROSE
        elif "script editor" in system:
            answer = json.dumps(RUBRIC)
        elif "continuity bible" in system:
            answer = json.dumps({"facts": []})
        else:
            answer = SCENE
        prompt_chars = sum(len(message_text(m)) for m in messages)
        message = AIMessage(content=answer, usage_metadata=usage(prompt_chars // 4, len(answer) // 4))
        return ChatResult(generations=[ChatGeneration(message=message)])


def episode_yaml(
    series: str, episode: int, scenes: int, *, title: str | None = None, fail: bool = False
) -> str:
    """An episode file of ``scenes`` scenes the room writes cleanly (``fail``: its last scene fails)."""
    lines = [
        f"title: {title or f'{series} {episode}'}",
        f"series: {series}",
        f"episode: {episode}",
        "characters:",
        "  - name: MARA",
        "    profile: Lighthouse keeper, 60s, dry humour.",
        "scenes:",
    ]
    for n in range(scenes):
        mark = f" {FAIL_MARK}" if fail and n == scenes - 1 else ""
        lines.append(f"  - outline: {json.dumps(OUTLINE + mark)}")
    return "\n".join(lines) + "\n"
