"""Fountain parsing: this project's parser against screenplain, side by side in one run.

    .venv/bin/python benchmarks/parse.py [--corpus DIR] [--rounds N]

Prints (1) speed: milliseconds per pass over every ``*.fountain`` file of the corpus, for
screenplain's ``parse`` and ours, interleaved round by round so machine load hits both alike, and
the ratio of medians (target: ours >= 3x faster). screenplain turns emphasis into rich strings
while parsing; ours keeps the markup in the text and converts it on demand, so a second row times
ours plus :func:`dsr.screenplay.inline.to_runs` on every text, the like-for-like amount of work.
(2) Element-type agreement per file: both documents flattened to a sequence of (type, first printed
line) pairs (notes and boneyard left out: screenplain drops them) and aligned with difflib; aligned
elements of the same type agree; every disagreement is listed with the rule that explains it.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from difflib import SequenceMatcher
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from screenplain.parsers import fountain as screenplain_fountain  # noqa: E402
from screenplain.types import Action as SPAction  # noqa: E402
from screenplain.types import Dialog, DualDialog, PageBreak, Section, Slug, Transition  # noqa: E402

from dsr.screenplay.fountain_reader import parse_fountain  # noqa: E402
from dsr.screenplay.inline import plain, to_runs  # noqa: E402
from dsr.screenplay.model import Character, Screenplay  # noqa: E402

# Why the two parsers disagree: (ours, screenplain, text both sides' snippets contain or "", reason);
# "-" = no element on that side. The first matching rule explains a difference.
RULES = [
    (
        "-",
        "action",
        "Title:",
        "screenplain accepts a title page only on line 1; here a [[note]] comes first, "
        "so it reads the title page as body text",
    ),
    (
        "-",
        "action",
        "<in our boneyard>",
        "nested boneyard /* /* */ */: screenplain's is not nesting-aware, so the text after "
        "the inner */ leaks out as action",
    ),
    (
        "-",
        "action",
        "",
        "a paragraph of [[notes]] only: screenplain removes the notes and keeps an empty action",
    ),
    (
        "action",
        "character",
        "(or any age)",
        "'NAME, 40 (or any age), an ageless,': screenplain checks only the "
        "text before '(' for caps; the spec needs the whole cue line in caps (so ours: action)",
    ),
    ("-", "dialogue", "", "the lines under that false cue, which screenplain reads as dialogue"),
    ("lyrics", "action", "", "'~' lyrics: screenplain has no lyrics element and keeps the line as action"),
    (
        "action",
        "-",
        "",
        "an action line between '~' lyric lines: screenplain makes the paragraph one action, "
        "we split it at the lyric lines",
    ),
    (
        "lyrics",
        "dialogue",
        "",
        "'~' lyrics inside a speech: screenplain has no lyrics and keeps the line as dialogue",
    ),
    (
        "lyrics",
        "-",
        "",
        "'~' lyrics: screenplain has no lyrics element and merges the line into the "
        "neighbouring action or dialogue",
    ),
    ("dialogue", "-", "", "a speech split around a '~' lyric line (ours: dialogue, lyrics, dialogue)"),
    (
        "transition",
        "action",
        "",
        "typewriter layout: an all-caps line indented to the transition column "
        "(FADE TO BLACK., FADE IN:) is a transition for us; screenplain needs '>' for it",
    ),
    (
        "synopsis",
        "-",
        "",
        "'= synopsis' after another synopsis: screenplain keeps only one synopsis per "
        "section or heading and drops the rest",
    ),
]


def _explain(ours: str, theirs: str, snippets: str) -> str:
    for left, right, needle, reason in RULES:
        if (left, right) == (ours, theirs) and needle in snippets:
            return escape(reason)
    return "[red]unexplained[/]"


def _snippet(text: str) -> str:
    """First line as printed, whitespace collapsed: both parsers' elements are aligned on it."""
    lines = plain(text).strip().split("\n")
    return " ".join(lines[0].split())[:40]


def _ours_types(doc: Screenplay) -> list[tuple[str, str]]:
    def item(element) -> tuple[str, str]:  # noqa: ANN001
        text = element.cue if isinstance(element, Character) else getattr(element, "text", "")
        return element.type, _snippet(text)

    out = [item(e) for e in doc.preamble]
    for scene in doc.scenes:
        out.append(("heading", _snippet(scene.heading.text)))
        out.extend(item(e) for e in scene.elements)
    return [pair for pair in out if pair[0] not in ("note", "boneyard")]


def _dialog_types(dialog: Dialog) -> list[tuple[str, str]]:
    out = [("character", _snippet(str(dialog.character).rstrip("^ ")))]
    previous = None
    for parenthetical, line in dialog.blocks:
        kind = "parenthetical" if parenthetical else "dialogue"
        if kind != previous or kind == "parenthetical":
            out.append((kind, _snippet(str(line))))
        previous = kind
    return out


def _screenplain_types(paragraphs: list) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for para in paragraphs:
        text = _snippet("\n".join(str(line) for line in getattr(para, "lines", [])))
        if isinstance(para, Slug):
            out.append(("heading", _snippet(str(para.line))))
        elif isinstance(para, Section):
            out.append(("section", _snippet(str(para.text))))
        elif isinstance(para, SPAction):
            out.append(("centered" if para.centered else "action", text))
        elif isinstance(para, DualDialog):
            out.extend(_dialog_types(para.left) + _dialog_types(para.right))
        elif isinstance(para, Dialog):
            out.extend(_dialog_types(para))
        elif isinstance(para, Transition):
            out.append(("transition", text))
        elif isinstance(para, PageBreak):
            out.append(("page_break", ""))
        if getattr(para, "synopsis", None):
            out.append(("synopsis", _snippet(str(para.synopsis))))
    return out


def _screenplain(text: str):
    return screenplain_fountain.parse(io.StringIO(text))


def _ours_with_runs(text: str) -> Screenplay:
    doc = parse_fountain(text)
    for element in doc.all_elements():
        to_runs(element.name if isinstance(element, Character) else getattr(element, "text", ""))
    for scene in doc.scenes:
        to_runs(scene.heading.text)
    return doc


def _time(
    parsers: dict[str, Callable[[str], object]], texts: list[str], rounds: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in parsers}
    for _ in range(rounds):
        for name, parse in parsers.items():
            start = time.perf_counter()
            for text in texts:
                parse(text)
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "corpus")
    parser.add_argument("--rounds", type=int, default=30, help="passes over the corpus per parser")
    args = parser.parse_args()
    console = Console()
    files = sorted(args.corpus.glob("*.fountain"))
    if not files:
        console.print(f"no .fountain files in {args.corpus}")
        raise SystemExit(2)
    texts = [f.read_text(encoding="utf-8") for f in files]
    size = sum(len(t.encode()) for t in texts)
    lines = sum(t.count("\n") + 1 for t in texts)

    parsers = {"screenplain": _screenplain, "ours": parse_fountain, "ours + emphasis runs": _ours_with_runs}
    _time(parsers, texts, 3)  # warm-up: imports, regex caches
    times = _time(parsers, texts, args.rounds)
    base = statistics.median(times["screenplain"])
    speed = Table(
        title=f"Parse speed: {len(files)} files, {size / 1024:.0f} KiB, {lines} lines, {args.rounds} rounds"
    )
    for column in ("parser", "median ms/pass", "min ms/pass", "MB/s", "speed-up vs screenplain"):
        speed.add_column(column, justify="right" if column != "parser" else "left")
    for name, samples in times.items():
        median = statistics.median(samples)
        speed.add_row(
            name,
            f"{median * 1e3:.2f}",
            f"{min(samples) * 1e3:.2f}",
            f"{size / median / 1e6:.1f}",
            f"{base / median:.2f}x",
        )
    console.print(speed)
    ratio = base / statistics.median(times["ours"])
    verdict = "[green]meets[/]" if ratio >= 3 else "[red]misses[/]"
    console.print(f"ours is {ratio:.2f}x faster than screenplain: {verdict} the 3x target")

    agree = Table(title="Element-type agreement with screenplain (notes and boneyard excluded)")
    for column in ("file", "ours", "screenplain", "agreement"):
        agree.add_column(column, justify="left" if column == "file" else "right")
    why = Table(title="Every difference (ours -> screenplain) and why")
    for column in ("file", "ours", "screenplain", "explanation"):
        why.add_column(column, overflow="fold")
    matched_total = elements_total = 0
    for path, text in zip(files, texts, strict=True):
        doc = parse_fountain(text)
        ours = _ours_types(doc)
        bones = " ".join(e.text for e in doc.all_elements() if e.type == "boneyard")
        theirs = _screenplain_types(_screenplain(text).paragraphs)
        a, b = (
            [(kind, text[:24].lower()) for kind, text in ours],
            [(kind, text[:24].lower()) for kind, text in theirs],
        )
        matcher = SequenceMatcher(None, a, b, autojunk=False)
        matched = 0
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                matched += i2 - i1
                continue
            for k in range(max(i2 - i1, j2 - j1)):
                left = ours[i1 + k] if i1 + k < i2 else ("-", "")
                right = theirs[j1 + k] if j1 + k < j2 else ("-", "")
                if left[0] == right[0]:  # same type, text differs (screenplain drops escaped '*')
                    matched += 1
                    continue
                leaked = right[1] and (right[1] in bones or right[1] == "*/")
                reason = _explain(
                    left[0], right[0], f"{left[1]} | {right[1]}" + (" <in our boneyard>" if leaked else "")
                )
                why.add_row(
                    path.stem, escape(f"{left[0]} {left[1]!r}"), escape(f"{right[0]} {right[1]!r}"), reason
                )
        total = max(len(a), len(b), 1)
        matched_total += matched
        elements_total += total
        agree.add_row(path.name, str(len(a)), str(len(b)), f"{matched / total:.1%}")
    console.print(agree)
    console.print(
        f"overall element-type agreement: {matched_total / elements_total:.1%} ({matched_total}/{elements_total})"
    )
    if why.row_count:
        console.print(why)


if __name__ == "__main__":
    main()
