"""A fast rule-based teacher that answers every synthesis prompt validly, and the full pipeline with it.

The embedded model almost never returns valid JSON, so on its own it only exercises the rejection path.
This chat model reads the scene out of each prompt and answers the way a competent teacher would
(outline beats taken from the action lines, profiles for the listed names, prose that expands the
outline), so every step, filter, split and file of the pipeline runs for real. The synthesis benchmark
serves it over HTTP to measure orchestration rather than model speed.
"""

from __future__ import annotations

import json
import re
from contextlib import AbstractContextManager
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from dsr.models.messages import message_text, usage
from dsr.models.structured import extract_json
from dsr.screenplay.fountain_reader import parse_fountain
from dsr.screenplay.lint_rules.core import text_of
from dsr.screenplay.model import Action

_TITLE = re.compile(r'"title":\s*"(\w+)"')
_SECTION = re.compile(r"^## (.+)$", re.MULTILINE)


def _sections(text: str) -> dict[str, str]:
    parts = _SECTION.split(text)
    return {parts[i].strip(): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def _actions(fountain: str) -> list[str]:
    doc = parse_fountain(fountain)
    elements = [e for s in doc.scenes for e in s.elements] + list(doc.preamble)
    return [" ".join(text_of(e).split()) for e in elements if isinstance(e, Action) and text_of(e).strip()]


def _words(text: str, n: int) -> str:
    return " ".join(text.replace('"', "").split()[:n]).rstrip(".,;:!?")


class ScriptedTeacher(BaseChatModel):
    """Deterministic answers keyed on the JSON schema each prompt asks for."""

    @property
    def _llm_type(self) -> str:
        return "scripted-teacher"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        texts = [message_text(m) for m in messages]
        prompt = "\n".join(texts)
        titles = _TITLE.findall(texts[-1]) or _TITLE.findall(prompt)
        answer = self._answer(titles[-1] if titles else "", texts[1] if len(texts) > 1 else prompt)
        message = AIMessage(content=answer, usage_metadata=usage(len(prompt) // 4, len(answer) // 4))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _answer(self, schema: str, user: str) -> str:
        parts = _sections(user)
        scene = (
            parts.get("Scene") or parts.get("Finished scene") or parts.get("Original screenplay scene") or ""
        )
        actions = _actions(scene) if scene else []
        beats = [_words(a, 10) for a in actions[:4]] or ["the scene plays out"]
        names = re.search(r"^Characters(?: to profile)?: (.+)$", user, re.MULTILINE)
        cast = [n.strip() for n in names.group(1).split(",")] if names else []
        if schema == "OutlineDraft":
            return json.dumps({"synopsis": beats[0] + ".", "beats": beats})
        if schema == "ContextDraft":
            earlier = _actions(parts.get("Earlier scenes", "")) or ["Earlier events"]
            return json.dumps(
                {"premise": None, "story_so_far": _words(earlier[0], 12) + ".", "prev_scene_tail": None}
            )
        if schema == "CharactersDraft":
            profiles = [
                {"name": n, "background": "A regular in this story.", "personality": "Direct."} for n in cast
            ]
            return json.dumps({"characters": profiles})
        if schema == "GuidelinesDraft":
            return json.dumps({"guidelines": ["keep it visual"], "genre": "comedy", "tone": "dry"})
        if schema == "ExpositionStrategy":
            return json.dumps(
                {
                    "reveals": [{"info": _words(beats[0], 4), "beat": 0, "channel": "action"}],
                    "turning_points": [],
                }
            )
        if schema == "NarrativePacing":
            labels = [
                {"label": _words(b, 3), "purpose": "advance", "intensity": 3, "weight": "medium"}
                for b in beats[:3]
            ]
            return json.dumps({"beats": labels, "climax_beat": len(labels) - 1, "ending": "button"})
        if schema == "CharacterPlans":
            plans = [
                {
                    "name": n,
                    "scene_goal": "get through",
                    "emotion_arc": ["calm"],
                    "key_actions": [],
                    "tells": ["still"],
                }
                for n in cast
            ]
            return json.dumps({"characters": plans})
        if schema == "FidelityVerdict":
            return json.dumps({"missing_or_changed": [], "added": [], "carries_events": True})
        return self._prose(user)

    @staticmethod
    def _prose(user: str) -> str:
        """Prose that expands the outline and the directive beats to the length the prompt asks for."""
        outline = _sections(user).get("Outline", "")
        sentences = re.findall(r"^\d+\. (.+)$", outline, re.MULTILINE)
        directives = _sections(user).get("Creative directives", "{}")
        pacing = extract_json(directives).get("pacing", {}).get("beats", [])
        sentences += [b["label"] for b in pacing]
        target = (
            int(re.search(r"target length: about (\d+)", user).group(1)) if "target length" in user else 400
        )
        paragraphs, i = [], 0
        while sum(len(p) + 2 for p in paragraphs) < 2 * target:
            paragraphs.append(f"Then it happened: {sentences[i % len(sentences)].rstrip('.')}.")
            i += 1
        return "\n\n".join(paragraphs)


def scripted_server(delay_s: float) -> AbstractContextManager[str]:
    """The OpenAI-compatible app of ``dsr serve`` serving the scripted teacher in its own process."""
    from tests.servers import served_chat_model

    return served_chat_model("tests.test_synthesis_scripted:ScriptedTeacher", "scripted", delay_s)
