"""Step 0 of synthesis (DSR-SPEC 6): select scripts, standardise them, split scenes, filter scenes.

Every file and scene that does not make it is returned as a :class:`Rejection` with a stable reason code,
because the datasheet must say what was dropped and why (a research team runs this on thousands of
scripts and has to trust the counts). Numbers are ours: the paper names the steps but no thresholds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dsr.screenplay.errors import ScreenplayError
from dsr.screenplay.fountain_writer import write_fountain
from dsr.screenplay.io import READ_SUFFIXES, read_document
from dsr.screenplay.lint_rules.cast import normalise_name
from dsr.screenplay.lint_rules.core import text_of
from dsr.screenplay.model import Action, Character, Dialogue, Scene, Screenplay
from dsr.story.checks import prose_only_reason, word_count
from dsr.synthesis.dedupe import near_duplicates
from dsr.synthesis.licences import licence_for, read_licences

MIN_SCENE_CHARS = 200
MAX_SCENE_CHARS = 6000
MIN_ELEMENTS = 2
MAX_SPEAKERS = 8
MAX_DIALOGUE_SHARE = 0.92  # talking heads without a single action line teach no choreography
PREVIOUS_CONTEXT_CHARS = 3000
_NON_SCENE_HEADING = re.compile(r"\b(MONTAGE|RECAP|CREDITS|PREVIOUSLY ON|TITLE SEQUENCE)\b", re.IGNORECASE)
# 'Show_ep00003', 'Show - Episode 2', 'Show_S01E03', 'episode_01_title'; not the 'e' ending a word
_EPISODE = re.compile(r"(?<![A-Za-z])(?:ep|episode|e)[ _-]?0*(\d{1,4})(?!\d)", re.IGNORECASE)
# named episodes: 'Cyber_Bob_epLocalTransDimensionalRift', 'Show_Episode_Finale'
# (camel case only: 'epic' and 'EPIC' are words)
_NAMED_EPISODE = re.compile(r"(?<![A-Za-z])[Ee]p(?=[A-Z][a-z])|(?<![A-Za-z])[Ee]pisode[ _-]+(?=[A-Za-z])")


@dataclass(frozen=True)
class Rejection:
    """Why an input (a file, a scene, an example) was dropped; ``step`` is the pipeline stage."""

    step: str
    reason: str
    item: str
    detail: str = ""
    script: str = ""


@dataclass
class SourceScene:
    """One kept scene with what reverse synthesis needs: its Fountain text and what came before it."""

    id: str
    script: str
    series: str
    episode: int
    scene_no: int
    licence: str
    title: str | None
    scene: Scene
    text: str
    previous_text: str
    speakers: list[str] = field(default_factory=list)
    script_scenes: int = 0  # scenes in the whole script: where this one sits (the rules teacher's pacing)


@dataclass
class Corpus:
    files: list[str]
    scripts: list[str]
    scenes_split: int
    scenes: list[SourceScene]
    rejections: list[Rejection]
    licences: dict[str, str]


def scene_text(scene: Scene) -> str:
    """The scene standardised as Fountain (one schema for every source style, DSR-SPEC 6 step 0)."""
    return write_fountain(Screenplay(scenes=[scene])).strip() + "\n"


def speakers(scene: Scene) -> list[str]:
    """Canonical cue names in order of first line (extensions and dual-dialogue marks removed)."""
    seen: dict[str, None] = {}
    for element in scene.elements:
        if isinstance(element, Character):
            seen.setdefault(normalise_name(element.name), None)
    return [name for name in seen if name]


def source_of(file_name: str) -> str | None:
    """The source (author or upstream repository) of a corpus file named ``<source>__<name>``, or None."""
    source, sep, _ = file_name.partition("__")
    return (source.strip().lower() or None) if sep else None


def series_and_episode(stem: str) -> tuple[str, int]:
    """Series key and episode number from a file name like ``source__Show_ep00003``.

    Splits hold out whole series, so every episode of one show must map to the same key: the name
    before the episode marker (numbered ``ep00003`` or named ``epLocalTransDimensionalRift``; the
    episode's own title after it is not part of the series). A name that starts with its episode
    (``barrier15__episode_01_the_phoenix_child``) belongs to its source's series. Named episodes
    have no number: 1.
    """
    name = stem.split("__", 1)[-1]
    numbered = _EPISODE.search(name)
    match = numbered or _NAMED_EPISODE.search(name)
    if not match:
        return name.lower(), 1
    series = name[: match.start()].strip(" _-.").lower() or source_of(stem) or name.lower()
    return series, int(numbered.group(1)) if numbered else 1


def scene_problem(scene: Scene, text: str) -> tuple[str, str] | None:
    """The first filter a scene fails, as (reason code, detail), or None when it is kept."""
    if len(text) < MIN_SCENE_CHARS:
        return "too-short", f"{len(text)} characters, under {MIN_SCENE_CHARS}"
    if len(text) > MAX_SCENE_CHARS:
        return "too-long", f"{len(text)} characters, over {MAX_SCENE_CHARS}"
    body = [e for e in scene.elements if text_of(e).strip()] if scene.elements else []
    if len(body) < MIN_ELEMENTS:
        return "too-few-elements", f"{len(body)} element(s), under {MIN_ELEMENTS}"
    if _NON_SCENE_HEADING.search(scene.heading.text):
        return "non-story-scene", f"heading '{scene.heading.text}' marks a montage, recap or credits"
    if not any(isinstance(e, Action | Dialogue) for e in body):
        return "non-story-scene", "no action or dialogue (transitions, notes or centered text only)"
    cast = speakers(scene)
    if not cast:
        return "no-speakers", "no character speaks; X's character profiles would be empty"
    if len(cast) > MAX_SPEAKERS:
        return "too-many-speakers", f"{len(cast)} speaking characters, over {MAX_SPEAKERS}"
    action = sum(word_count(text_of(e)) for e in body if isinstance(e, Action))
    dialogue = sum(word_count(text_of(e)) for e in body if isinstance(e, Dialogue))
    if action + dialogue and dialogue / (action + dialogue) > MAX_DIALOGUE_SHARE:
        return "dialogue-only", f"dialogue is {dialogue / (action + dialogue):.0%} of the words"
    prose = prose_only_reason(Screenplay(scenes=[scene]))
    if prose:
        return "broken-format", f"reads as prose, not a screenplay: {prose}"
    return None


def _script_scenes(path: Path, doc: Screenplay, licence: str) -> tuple[list[SourceScene], list[Rejection]]:
    script = path.name  # the name with its extension: a script's .fdx and .fountain twins stay distinct
    series, episode = series_and_episode(path.stem)
    kept, rejected, previous = [], [], ""
    for number, scene in enumerate(doc.scenes, start=1):
        text = scene_text(scene)
        scene_id = f"{script}-{number:03d}"
        problem = scene_problem(scene, text)
        if problem:
            rejected.append(Rejection("filter", problem[0], scene_id, problem[1], script))
        else:
            kept.append(
                SourceScene(
                    scene_id,
                    script,
                    series,
                    episode,
                    number,
                    licence,
                    doc.title(),
                    scene,
                    text,
                    previous[-PREVIOUS_CONTEXT_CHARS:],
                    speakers(scene),
                    len(doc.scenes),
                )
            )
        previous = f"{previous}\n{text}" if previous else text
    return kept, rejected


def load_corpus(corpus_dir: Path) -> Corpus:
    """Read every screenplay under ``corpus_dir`` (recursively) into filtered scenes with reasons."""
    licences = read_licences(corpus_dir)
    files = sorted(p for p in corpus_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    rejections: list[Rejection] = []
    scripts: list[str] = []
    scenes: list[SourceScene] = []
    split = 0
    used_licences: dict[str, str] = {}
    for path in files:
        item = str(path.relative_to(corpus_dir))
        if path.suffix.lower() not in READ_SUFFIXES:
            if path.name not in {"LICENSES.md", "MANIFEST.md"}:
                rejections.append(Rejection("select", "not-a-screenplay", item, f"extension {path.suffix!r}"))
            continue
        try:
            doc = read_document(path)
        except ScreenplayError as exc:
            rejections.append(Rejection("select", "unreadable", item, str(exc), path.name))
            continue
        if not doc.scenes:
            reason = "stage play or fragment: no scene headings" if doc.preamble else "no content"
            rejections.append(Rejection("select", "no-scenes", item, reason, path.name))
            continue
        licence = licence_for(path.name, doc, licences)
        scripts.append(path.name)
        used_licences[path.name] = licence
        split += len(doc.scenes)
        kept, rejected = _script_scenes(path, doc, licence)
        scenes += kept
        rejections += rejected
    duplicates = near_duplicates([(s.id, s.text) for s in scenes])
    if duplicates:
        rejections += [
            Rejection("filter", "near-duplicate", s.id, f"near-duplicate of {duplicates[s.id]}", s.script)
            for s in scenes
            if s.id in duplicates
        ]
        scenes = [s for s in scenes if s.id not in duplicates]
    return Corpus(
        [str(p.relative_to(corpus_dir)) for p in files], scripts, split, scenes, rejections, used_licences
    )
