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

from dsr.models.messages import message_text, usage

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
    from dsr.models.factory import get_chat_model
    from dsr.models.settings import load_settings

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


class ScriptedClerk(BaseChatModel):
    """A scripted-capable ``memory`` role: answers fact extraction and the continuity check the way a capable
    model would, from the prompt alone (what the server passes on), so the pipeline around it (prompt, wire,
    response_format, validation, grounding, citing, blame) is what a test measures.

    Extraction: where each listed character who appears in the scene is at its end (the heading's place),
    quoting the first line that names them. Continuity: the contradictions ``tests/data/continuity/items.yaml``
    plants, when the prompt shows that item's draft and fact; none otherwise.
    """

    @property
    def _llm_type(self) -> str:
        return "scripted-clerk"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        system, prompt = message_text(messages[0]), "\n".join(message_text(m) for m in messages[1:])
        if "continuity bible of a television series" in system:
            answer = {"facts": _scene_facts(prompt)}
        else:
            answer = {"contradictions": _planted(prompt)}
        text = json.dumps(answer)
        message = AIMessage(content=text, usage_metadata=usage(len(prompt) // 4, len(text) // 4))
        return ChatResult(generations=[ChatGeneration(message=message)])


def _section(prompt: str, title: str) -> str:
    """The text under a ``# title`` heading of a prompt, up to the next ``# `` heading."""
    start = prompt.find(f"# {title}")
    if start < 0:
        return ""
    body = prompt[prompt.index("\n", start) + 1 :]
    end = body.find("\n# ")
    return body if end < 0 else body[:end]


def _scene_facts(prompt: str) -> list[dict[str, str]]:
    import re

    cast = [n.strip() for n in _section(prompt, "Characters").strip().split(",") if n.strip()]
    scene = _section(prompt, "The scene")
    lines = [line.strip() for line in scene.splitlines() if line.strip()]
    heading = next((line for line in lines if re.match(r"^(INT|EXT)[./ ]", line)), "")
    place = re.sub(r"^(INT|EXT)[./ ]+\s*", "", heading).split(" - ")[0].strip().lower() or "the same place"
    facts = []
    for name in cast:
        said = next(
            (line for line in lines[1:] if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", line, re.I)), None
        )
        if said is None or any(f["subject"].casefold() == name.casefold() for f in facts):
            continue
        quote = said if len(said) <= 100 else said[:100].rsplit(" ", 1)[0]
        facts.append(
            {
                "kind": "location",
                "subject": name,
                "about": "",
                "fact": f"{name.title()} is at the {place} at the end of the scene.",
                "quote": quote,
            }
        )
    return facts[:6]


def _planted(prompt: str) -> list[dict[str, str]]:
    from dsr.evaluation.continuity_set import load_continuity_set

    bible, draft = _section(prompt, "Continuity bible"), _section(prompt, "The draft scene")
    labels = {}
    for line in bible.splitlines():
        label, _, rest = line.partition(" [")
        if rest:
            labels[rest.split("] ", 1)[-1].strip()] = label.strip()
    for item in load_continuity_set():
        hits = [
            (key, line)
            for key, line in item.lines.items()
            if line in draft and item.facts[key].text in labels
        ]
        if hits:
            return [
                {
                    "fact": labels[item.facts[key].text],
                    "quote": line,
                    "explanation": f"The draft goes against: {item.facts[key].text}"[:160],
                }
                for key, line in hits
            ]
    return []
