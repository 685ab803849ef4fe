"""The rules teacher (``dsr synthesize CORPUS --teacher rules``): reverse synthesis without a model.

An LLM teacher writes X, I_c and N from a real scene and must then be checked for what it got wrong. This
teacher derives all three from the scene's own elements, so the example is faithful by construction: N is
S rendered as prose (:mod:`dsr.synthesis.render`), the outline's beats are what happens and who speaks,
the profiles describe how each speaker talks, and the directives are read off the scene's structure
(answers to questions as reveals, pacing by position in the scene and the script, each character's plan
from their own lines and actions). Nothing is asked of a model and nothing is invented, so the data it
makes is plain but true; it is the floor an LLM teacher has to beat, and training data where none is
configured.

Every example then goes through the same validation as an LLM teacher's (:mod:`dsr.synthesis.steps`: no
copied dialogue in X or I_c, traceable beats, the critic's Stage 1 checks on N, directive beats realised
in N, I_c's share of N), with two differences written down in the datasheet: N's length is held to
``PROSE_RATIO`` (a rendering is about as long as S; the paper's 1.5-3x is an LLM's expansion), and the
LLM fidelity check is replaced by an exact one (every speech of S is quoted in N).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dsr.screenplay.fountain_reader import parse_fountain
from dsr.story.checks import LANGUAGES, deterministic_checks, sentences, stem
from dsr.story.schemas import (
    Beat,
    CharacterPlan,
    CharacterProfile,
    CreativeDirectives,
    ExpositionStrategy,
    Metadata,
    NarrativePacing,
    PreviousContext,
    Reveal,
    SceneOutline,
    TaskInput,
)
from dsr.synthesis.corpus import SourceScene, speakers
from dsr.synthesis.drafts import MAX_GUIDELINES, OutlineDraft
from dsr.synthesis.render import CastNames, Paragraph, Rendering, Speech, display_name, render_scene, setting
from dsr.synthesis.steps import (
    MAX_DIRECTIVES_SHARE,
    Draft,
    check_directives,
    check_prose,
    check_x,
    checked_outline,
    values_text,
)
from dsr.synthesis.teacher import Usage
from dsr.synthesis.validate import Invalid, copied_dialogue, dialogue_lines, scene_names

NAME = "rules"  # the reserved --teacher value; also what every record and the datasheet say
VERSION = 1  # bump when a rule changes what the teacher writes
PROSE_RATIO = (0.75, 3.0)  # |N| / |S| for a rendering (S's heading and cue lines fall away, "says" comes in)
MAX_BEATS = 5  # outline and pacing beats line up one to one; the planner's schema allows five
CHARS_PER_BEAT = 250
MAX_PLANS = 6
MAX_BEAT_CHARS = 150
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]*")
_STOP = LANGUAGES["en"].stopwords | frozenset(
    [
        "yeah",
        "okay",
        "just",
        "really",
        "know",
        "think",
        "going",
        "gonna",
        "want",
        "well",
        "right",
        "come",
        "look",
        "thing",
        "things",
        "something",
        "anything",
        "nothing",
        "maybe",
        "sure",
        "good",
        "time",
        "tell",
        "said",
        "says",
        "haha",
        "whatever",
        "might",
        "kind",
        "mean",
        "bout",
        "gotta",
        "guess",
        "please",
        "thanks",
        "actually",
        "totally",
    ]
)
MAX_KEYWORD = 12  # a longer word between spaces is already a 16-character "copy" of its line
_MOVES = re.compile(
    r"\b(?:enters?|arrives?|exits?|leaves?|bursts? in|walks? (?:in|out|away)|storms? (?:in|out|off))\b"
)


@dataclass
class _Unit:
    """A run of paragraphs that becomes one outline beat and one pacing beat."""

    paragraphs: list[Paragraph]
    start: int  # index of its first paragraph in the rendering

    @property
    def chars(self) -> int:
        return sum(len(p.text) for p in self.paragraphs)

    @property
    def speeches(self) -> list[Speech]:
        return [s for p in self.paragraphs for s in p.speeches]


class RulesTeacher:
    """Synthesis's teacher interface (``identity``, ``usage``, ``concurrency``, the three steps) by rules."""

    name = NAME

    def __init__(self) -> None:
        self.identity: dict[str, Any] = {
            "teacher": NAME,
            "version": VERSION,
            "prose_ratio": list(PROSE_RATIO),
        }
        self.usage = Usage()
        self.concurrency = 1
        self.max_repairs = 0
        self._work: dict[str, _Work] = {}

    async def reverse(self, draft: Draft) -> None:
        """X from S: setting and cast from the heading and cues, beats from the scene's units, P, C, M."""
        work = _Work(draft.source)
        self._work[draft.source.id] = work
        draft.x = work.task_input(draft.coercions)
        check_x(draft.x, draft.source)

    async def extract_directives(self, draft: Draft) -> None:
        """I_c from S's structure, cut to the share of N the planner's output may take."""
        work = self._work[draft.source.id]
        assert draft.x is not None
        draft.directives = work.directives(draft.x)
        check_directives(draft.directives, draft.source)

    async def forward(self, draft: Draft) -> None:
        """N is the rendering; checked like an LLM's N, and by an exact fidelity check."""
        work = self._work.pop(draft.source.id)
        assert draft.x is not None and draft.directives is not None
        prose = work.rendering.prose
        check_prose(draft.x, draft.directives, prose, draft.source, PROSE_RATIO)
        missing = [s.line for s in work.rendering.speeches if f'"{_quoted_core(s.line)}' not in prose]
        if missing:
            raise Invalid("prose-unfaithful", f"a speech of S is not quoted in N: {missing[0][:80]!r}")
        draft.prose = prose


def _quoted_core(line: str) -> str:
    """The part of a line N quotes unchanged (a closing full stop may become a comma)."""
    return line[:-1] if line.endswith(".") and not line.endswith("..") else line


def keywords(text: str, exclude: set[str], limit: int = 3) -> list[str]:
    """What a line is about, never the line itself: its ``limit`` longest content words from its first
    sentences (so N covers them in one window), in the order spoken."""
    found: list[str] = []
    seen: set[str] = set()
    for word in _WORD.findall(" ".join(sentences(text)[:4])):
        low = word.lower().strip("-")
        key = stem(low)
        if len(low) < 4 or len(low) > MAX_KEYWORD or low in _STOP or low in exclude or key in seen:
            continue
        seen.add(key)
        found.append(low)
    longest = set(sorted(found, key=len, reverse=True)[:limit])
    return [w for w in found if w in longest][:limit]


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word, ending on neither a comma nor a small word ('on an')."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    words = text[:limit].rsplit(" ", 1)[0].split()
    while len(words) > 2 and words[-1].lower().strip(",;:") in _STOP:
        words.pop()
    return " ".join(words).rstrip(",;:-—")


def _first_sentence(text: str) -> str:
    found = sentences(text)
    return found[0] if found else text


def _no_copy(words: list[str], lines: list[str]) -> list[str]:
    """Drop words from the end until their listing copies no line of dialogue."""
    while words and copied_dialogue(f"about {_listing(words)}", lines):
        words = words[:-1]
    return words


class _Work:
    """One scene's derivation: the rendering and everything read off it."""

    def __init__(self, source: SourceScene):
        self.source = source
        self.rendering: Rendering = render_scene(source.scene, source.speakers)
        self.lines = dialogue_lines(source.scene)
        self.names = scene_names(source.scene, source.speakers)
        self.name_words = {w.lower() for cue in source.speakers for w in re.findall(r"[A-Za-z]+", cue)}
        body = [p for p in self.rendering.paragraphs if p.kind != "setting"]
        self.units = _units(body, self.rendering.paragraphs)
        self.beats = [self._beat(u) for u in self.units]
        previous = source.previous_text
        self.earlier = parse_fountain(previous).scenes if previous.strip() else []

    # --- X ------------------------------------------------------------------------------------------
    def task_input(self, coercions: list[str]) -> TaskInput:
        src, heading = self.source, self.source.scene.heading
        outline = checked_outline(
            OutlineDraft(synopsis=self._synopsis([]), beats=self.beats),
            src.text,
            src.speakers,
            self.lines,
            coercions,
            self.names,
        )
        x = TaskInput(
            outline=SceneOutline(
                scene_id=src.id,
                location=heading.location,
                time_of_day=heading.time_of_day,
                int_ext=heading.int_ext,
                characters=src.speakers,
                synopsis=outline.synopsis,
                beats=outline.beats,
            ),
            previous=self._previous(),
            characters=[self._profile(cue) for cue in src.speakers],
            meta=Metadata(
                guidelines=self._guidelines(),
                language="en",
                target_len_chars=len(src.text),
                series=src.series,
                episode=src.episode,
                scene_no=src.scene_no,
            ),
        )
        # People S's action names who never speak: the synopsis names them, so N introduces no stranger.
        strangers = [
            f.evidence
            for f in deterministic_checks(x, self.rendering.prose, None)
            if f.check == "N4-unknown-name"
        ]
        if strangers:
            x.outline.synopsis = self._synopsis(strangers)
        return x

    def _beat(self, unit: _Unit) -> str:
        action = next((p for p in unit.paragraphs if p.kind in {"action", "cut", "card", "song"}), None)
        parts = []
        if action is not None:
            parts.append(_cut(_first_sentence(action.text), MAX_BEAT_CHARS).rstrip(".!?…"))
        talk = self._talk(unit.speeches)
        if talk and (not parts or len(parts[0]) + len(talk) + 2 <= MAX_BEAT_CHARS):
            parts.append(talk)
        beat = "; ".join(parts) if parts else "The scene goes on"
        return beat[:1].upper() + beat[1:] + "."

    def _talk(self, speeches: list[Speech]) -> str:
        """'Anna asks Ben about the boat, the storm and tonight': who speaks and what about, no line copied."""
        if not speeches:
            return ""
        main = max(speeches, key=lambda s: len(s.line))
        speakers = list(dict.fromkeys(s.speaker for s in speeches))
        others = [display_name(s) for s in speakers if s != main.speaker]
        who = display_name(main.speaker)
        about = _no_copy(keywords(main.line, self.name_words), self.lines)
        topic = f" about {_listing(about)}" if about else ""
        if main.line.rstrip("'\" ").endswith("?"):
            return f"{who} asks {_listing(others)}{topic}" if others else f"{who} asks{topic}"
        return f"{who} talks with {_listing(others)}{topic}" if others else f"{who} talks{topic}"

    def _synopsis(self, strangers: list[str]) -> str:
        place = setting(self.source.scene.heading, _names_for(self.source)).rstrip(".")
        cast = _listing([display_name(c) for c in self.source.speakers])
        text = f"{place}: {cast}." if place else f"{cast}."
        if self.beats:
            text += f" {self.beats[0]}"
        if len(self.beats) > 1:
            text += f" In the end: {self.beats[-1][:1].lower()}{self.beats[-1][1:]}"
        for name in strangers:
            where = next(
                (
                    _cut(s, 160)
                    for p in self.rendering.paragraphs
                    if p.kind == "action"
                    for s in sentences(p.text)
                    if name in s
                ),
                f"{name} is there",
            )
            text += f" Also: {where.rstrip('.')}."
        return text

    def _previous(self) -> PreviousContext:
        """P from the scenes before: where they were and who spoke, and how the last one ended."""
        if not self.source.previous_text.strip():
            return PreviousContext()
        earlier = []
        for scene in self.earlier:
            cast = speakers(scene)
            place = setting(scene.heading, _names_for(self.source)).rstrip(".")
            who = f" ({_listing([display_name(c) for c in cast])})" if cast else ""
            if place:
                earlier.append(f"{place}{who}")
        story = ""
        for item in reversed(earlier):
            candidate = f"{item}; {story}" if story else item
            if len(candidate) > 560:
                break
            story = candidate
        tail = None
        if self.earlier:
            last = render_scene(self.earlier[-1], speakers(self.earlier[-1]))
            ends = [p for p in last.paragraphs if p.kind in {"action", "cut", "card"}]
            if ends:
                tail = _cut(_first_sentence(ends[-1].text), 240)
        if tail and copied_dialogue(tail, self.lines, self.names):
            tail = None
        return PreviousContext(story_so_far=f"Earlier: {story}." if story else "", prev_scene_tail=tail)

    def _profile(self, cue: str) -> CharacterProfile:
        """C item: how this speaker talks in the scene, and whether they were in the scenes before."""
        own = [s for s in self.rendering.speeches if s.speaker == cue]
        words = [len(s.line.split()) for s in own]
        total = sum(len(s.line.split()) for s in self.rendering.speeches) or 1
        traits = []
        if own and sum(s.line.rstrip("'\" ").endswith("?") for s in own) * 2 >= len(own) and len(own) > 1:
            traits.append("asks questions")
        if own and sum("!" in s.line for s in own) * 2 >= len(own) and len(own) > 1:
            traits.append("exclaims")
        if words and sum(words) / len(words) <= 6:
            traits.append("speaks in short lines")
        elif words and sum(words) / len(words) >= 25:
            traits.append("speaks at length")
        if len(self.source.speakers) > 1 and sum(words) / total >= 0.6:
            traits.append("does most of the talking")
        elif len(self.source.speakers) > 1 and sum(words) / total <= 0.15:
            traits.append("says little")
        before = any(cue in speakers(scene) for scene in self.earlier)
        return CharacterProfile(
            name=cue,
            background="Also in the scenes before this one." if before else "",
            personality="; ".join(traits).capitalize() + "." if traits else "",
        )

    def _guidelines(self) -> list[str]:
        """M's guidelines from the scene's make-up: what carries it, voices heard but not seen."""
        speech = sum(len(p.text) for p in self.rendering.paragraphs if p.kind == "speech")
        share = speech / max(1, len(self.rendering.prose))
        out = []
        if share >= 0.65:
            out.append("Let the dialogue carry the scene.")
        elif share <= 0.35:
            out.append("Tell the scene mostly through action.")
        exts = {(s.extension or "").upper().rstrip(".") for s in self.rendering.speeches}
        if exts & {"V.O", "VO"}:
            out.append("Part of the scene is voice-over.")
        if exts & {"O.S", "OS", "O.C", "OC"}:
            out.append("Some voices come from off screen.")
        if any(s.dual for s in self.rendering.speeches):
            out.append("Two characters talk over each other.")
        return out[:MAX_GUIDELINES]

    # --- I_c ----------------------------------------------------------------------------------------
    def directives(self, x: TaskInput) -> CreativeDirectives:
        pacing = self._pacing()
        full = CreativeDirectives(exposition=self._exposition(), pacing=pacing, characters=self._plans())
        return _within_budget(full, len(self.rendering.prose))

    def _heat(self, unit: _Unit) -> float:
        """How charged a unit is: exclamations, questions, turns per character and pauses."""
        speeches = unit.speeches
        bangs = sum(s.line.count("!") for s in speeches)
        questions = sum(s.line.count("?") for s in speeches)
        turns = len(speeches) / max(unit.chars, 1) * 400
        pauses = sum(p.text.count(" pauses.") for p in unit.paragraphs)
        return bangs * 1.0 + questions * 0.5 + turns + pauses

    def _pacing(self) -> NarrativePacing:
        src = self.source
        position = src.scene_no / src.script_scenes if src.script_scenes else 0.5
        base = 2 if position <= 0.25 else 4 if position > 0.75 else 3
        total = sum(u.chars for u in self.units) or 1
        heats = [self._heat(u) for u in self.units]
        climax = max(range(len(heats)), key=lambda i: (heats[i], i)) if heats else 0
        beats = []
        for i, unit in enumerate(self.units):
            intensity = (
                base
                + (1 if i == climax and len(self.units) > 1 else 0)
                - (1 if i == 0 and climax != 0 else 0)
            )
            share = unit.chars / total
            weight = "brief" if share < 0.15 else "extended" if share > 0.35 else "medium"
            carried = (
                "dialogue" if unit.speeches and len(unit.speeches) * 2 >= len(unit.paragraphs) else "action"
            )
            if i == 0:
                purpose = f"opens the scene in {carried}"
            elif i == climax:
                purpose = f"the turn, in {carried}"
            elif i == len(self.units) - 1:
                purpose = f"closes the scene in {carried}"
            else:
                purpose = f"builds in {carried}"
            beats.append(
                Beat(
                    label=_label(self.beats[i]),
                    purpose=purpose,
                    intensity=max(1, min(5, intensity)),
                    weight=weight,
                )
            )
        return NarrativePacing(beats=beats, climax_beat=climax, ending=self._ending())

    def _ending(self) -> str:
        last = next((p for p in reversed(self.rendering.paragraphs) if p.kind != "setting"), None)
        if last is None:
            return ""
        if last.kind == "speech" and last.speaker:
            question = last.speeches and last.speeches[-1].line.rstrip("'\" ").endswith("?")
            return (
                f"ends on a question from {display_name(last.speaker)}"
                if question
                else f"ends on {display_name(last.speaker)}'s line"
            )
        return {"cut": "ends on a cut", "card": "ends on a title card"}.get(last.kind, "ends on action")

    def _unit_of(self, paragraph_index: int) -> int:
        for i, unit in reversed(list(enumerate(self.units))):
            if paragraph_index >= unit.start:
                return i
        return 0

    def _exposition(self) -> ExpositionStrategy:
        """Reveals: answers to questions (who tells whom, about what); turning points: entrances, exits."""
        paragraphs = self.rendering.paragraphs
        answers = []
        for i in range(1, len(paragraphs)):
            before, now = paragraphs[i - 1], paragraphs[i]
            if (
                before.kind == now.kind == "speech"
                and before.speaker != now.speaker
                and before.speeches
                and before.speeches[-1].line.rstrip("'\" ").endswith("?")
                and now.speeches
            ):
                answers.append((i, before, now))
        answers.sort(key=lambda a: -sum(len(s.line) for s in a[2].speeches))
        reveals = []
        for i, asked, told in sorted(answers[:3]):
            about = _no_copy(
                keywords(" ".join(s.line for s in told.speeches), self.name_words, 2), self.lines
            )
            topic = f" about {_listing(about)}" if about else ""
            reveals.append(
                Reveal(
                    info=f"{display_name(told.speaker or '')} answers {display_name(asked.speaker or '')}{topic}",
                    beat=min(self._unit_of(i), 20),
                    channel="dialogue",
                    carrier=told.speaker,
                )
            )
        turns = [
            _cut(_first_sentence(p.text), 80)
            for p in paragraphs
            if p.kind == "action" and _MOVES.search(_first_sentence(p.text))
        ]
        return ExpositionStrategy(reveals=reveals, turning_points=list(dict.fromkeys(turns))[:2])

    def _plans(self) -> list[CharacterPlan]:
        """One plan per speaker (the six who say most), each from that character's own lines and actions."""
        speeches = self.rendering.speeches
        order = sorted(
            self.source.speakers,
            key=lambda c: -sum(len(s.line) for s in speeches if s.speaker == c),
        )[:MAX_PLANS]
        return [self._plan(cue) for cue in self.source.speakers if cue in order]

    def _plan(self, cue: str) -> CharacterPlan:
        own = [s for s in self.rendering.speeches if s.speaker == cue]
        name = display_name(cue)
        main = max(own, key=lambda s: len(s.line)) if own else None
        about = _no_copy(keywords(main.line, self.name_words, 2), self.lines) if main else []
        topic = _listing(about)
        questions = sum(s.line.rstrip("'\" ").endswith("?") for s in own)
        bangs = sum("!" in s.line for s in own)
        if not topic:
            goal = "be heard"
        elif questions * 2 >= len(own):
            goal = f"get answers about {topic}"
        elif bangs * 2 >= len(own):
            goal = f"insist on {topic}"
        else:
            goal = f"talk about {topic}"
        blocks = [p for p in self.rendering.paragraphs if p.speaker == cue]
        arc = list(dict.fromkeys(e for p in blocks for e in p.emotions))
        if not arc:
            halves = [own[: max(1, len(own) // 2)], own[max(1, len(own) // 2) :]]
            arc = [_tone(h) for h in halves if h and _tone(h)]
            arc = list(dict.fromkeys(arc))
        actions = [
            _cut(s, 80)
            for p in self.rendering.paragraphs
            if p.kind == "action"
            for s in sentences(p.text)
            if re.search(rf"\b{re.escape(name)}\b", s)
        ]
        tells = list(dict.fromkeys(m for p in blocks for m in p.manners if len(m) <= 40))
        if not tells and own:
            mean = sum(len(s.line.split()) for s in own) / len(own)
            tells = ["short lines"] if mean <= 6 else ["long speeches"] if mean >= 25 else []
        return CharacterPlan(
            name=cue,
            scene_goal=_cut(goal, 80),
            emotion_arc=[_cut(a, 40) for a in arc[:3]],
            key_actions=list(dict.fromkeys(actions))[:3],
            tells=[_cut(t, 40) for t in tells[:2]],
        )


def _tone(speeches: list[Speech]) -> str:
    """A delivery read off punctuation alone: questions, exclamations, trailing off."""
    if not speeches:
        return ""
    if sum("!" in s.line for s in speeches) * 2 >= len(speeches):
        return "emphatic"
    if sum(s.line.rstrip("'\" ").endswith("?") for s in speeches) * 2 >= len(speeches):
        return "questioning"
    if any(s.line.endswith(("...", "…", "--", "—")) for s in speeches):
        return "hesitant"
    return ""


def _label(beat: str) -> str:
    """A pacing label: the beat's opening words, short enough for the planner's schema (40 characters),
    not ending on a small word ('on a')."""
    words = _cut(beat.rstrip(".").split(";")[0], 40).rstrip(";,").split()
    while len(words) > 2 and words[-1].lower().strip(",") in _STOP:
        words.pop()
    return " ".join(words).rstrip(",")


def _names_for(source: SourceScene) -> CastNames:
    return CastNames(source.speakers)


def _units(body: list[Paragraph], paragraphs: list[Paragraph]) -> list[_Unit]:
    """Split the scene's paragraphs into at most ``MAX_BEATS`` runs of about equal length, in order."""
    if not body:
        return []
    total = sum(len(p.text) for p in body)
    count = max(1, min(MAX_BEATS, round(total / CHARS_PER_BEAT), len(body)))
    target = total / count
    groups: list[list[Paragraph]] = [[]]
    done = 0
    for p in body:
        if groups[-1] and done >= target * len(groups) and len(groups) < count:
            groups.append([])
        groups[-1].append(p)
        done += len(p.text)
    position = {id(p): i for i, p in enumerate(paragraphs)}
    return [_Unit(g, position[id(g[0])]) for g in groups if g]


def _within_budget(directives: CreativeDirectives, prose_chars: int) -> CreativeDirectives:
    """I_c cut down, least essential first, until its words are within the planner's share of N."""
    budget = MAX_DIRECTIVES_SHARE * prose_chars
    data = directives.model_dump()

    def size() -> int:
        return len(values_text(CreativeDirectives.model_validate(data)))

    steps = [
        lambda: data["exposition"].update(turning_points=[]),
        lambda: data["exposition"].update(reveals=data["exposition"]["reveals"][:1]),
        lambda: [p.update(tells=[]) for p in data["characters"]],
        lambda: data["exposition"].update(reveals=[]),
        lambda: [p.update(key_actions=p["key_actions"][:1]) for p in data["characters"]],
        lambda: [p.update(emotion_arc=p["emotion_arc"][:1]) for p in data["characters"]],
        lambda: [b.update(purpose="") for b in data["pacing"]["beats"]],
        lambda: [p.update(key_actions=[]) for p in data["characters"]],
        lambda: [p.update(emotion_arc=[]) for p in data["characters"]],
        lambda: data["pacing"].update(ending=""),
        lambda: [p.update(scene_goal="") for p in data["characters"]],
        lambda: [b.update(label=" ".join(b["label"].split()[:3])) for b in data["pacing"]["beats"]],
        lambda: data.update(characters=data["characters"][:3]),
        lambda: data["pacing"].update(
            beats=data["pacing"]["beats"][:3], climax_beat=min(data["pacing"]["climax_beat"], 2)
        ),
    ]
    for step in steps:
        if size() <= budget:
            break
        step()
    return CreativeDirectives.model_validate(data)
