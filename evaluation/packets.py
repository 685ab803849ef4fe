"""Blind human-evaluation packets (DSR-SPEC 8.3): anonymised scripts, shuffled pairs, a rating sheet per rater.

Model identity is stripped: every system's screenplay, the human reference included, is parsed and
re-rendered through the one Fountain -> PDF path (:mod:`dsr.screenplay.pdf`) with the same title page, a
neutral code ("Script 4F7Q") and nothing else (title-page fields, notes and boneyard of the source are
dropped). Codes are drawn per rater, so two raters' codes say nothing about each other. Nothing tells
raters that a human script is in the pool.

Layout (two PDFs per pair: each script is one file, and a script that appears in several pairs of one
rater keeps its file and code, so a rater reads it once)::

    PACKET_DIR/key.json                       the un-blinding key: NOT FOR RATERS
    PACKET_DIR/raters/R01/README.txt          instructions with the 12-point rubric
    PACKET_DIR/raters/R01/sheet.csv           one row per pair, to fill in
    PACKET_DIR/raters/R01/briefs/brief-01.pdf the task X of each item, rendered readably
    PACKET_DIR/raters/R01/scripts/Script-4F7Q.pdf

Pairs are every pair of the chosen systems per item; which system is Script A is balanced: half of
each rater's pairs each way, and the opposite way for the next rater.
"""

from __future__ import annotations

import csv
import io
import itertools
import random
from pathlib import Path
from typing import Any

from fpdf import FPDF
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from dsr.common.errors import BadInput
from dsr.common.fsutil import PRIVATE, atomic_write, write_json
from dsr.evaluation import records
from dsr.judging.rubric import CATEGORY_MEANING, RUBRIC_TIERS
from dsr.screenplay.fountain_reader import parse_fountain
from dsr.screenplay.model import Boneyard, Note, Screenplay, TitleField
from dsr.screenplay.pdf import FONT_DIR, render_pdf
from dsr.story.schemas import TaskInput, render_x

HUMAN = records.HUMAN
KEY_FILE = "key.json"
SHEET = "sheet.csv"
#: Sheet columns; ``errors_<side>_<short>`` are counts for the rubric's categories (short names below).
ERROR_SHORT = {
    "plot": "plot_coherence",
    "character": "character_development",
    "pacing": "narrative_pacing",
    "format": "format",
}
COLUMNS = (
    ["pair_id", "item_brief_file", "script_a", "script_b", "score_a", "score_b", "preferred"]
    + [f"errors_{side}_{short}" for side in "ab" for short in ERROR_SHORT]
    + ["notes"]
)
_CODE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY3479"  # no look-alikes (0/O, 1/I, 5/S, 8/B, 2/Z)


def load_outputs(
    eval_dir: Path, systems: list[str] | None
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, Any]]:
    """Screenplays per system per item (the human reference as system ``human``) and the set's items.

    A requested system without a run, or systems that cover different item ids, is bad input: a
    comparison over different items would be silently unfair.
    """
    config = records.read_eval_config(eval_dir)
    items = {row["id"]: row for row in records.read_items(Path(config["set_dir"]))}
    available = records.output_systems(eval_dir)
    chosen = systems or [*available, *([HUMAN] if HUMAN not in available else [])]
    missing = [s for s in chosen if s != HUMAN and s not in available]
    if missing:
        raise BadInput(
            f"{eval_dir / 'outputs'}: no run for system(s) {', '.join(missing)} (have: {', '.join(available) or 'none'})"
        )
    if len(set(chosen)) < 2:
        raise BadInput(f"need at least two systems to pair, got {chosen}")
    outputs: dict[str, dict[str, dict[str, Any]]] = {}
    for system in chosen:
        rows = (
            records.read_outputs(eval_dir, system)
            if system in available
            else records.human_outputs(items.values())
        )
        outputs[system] = {row["item"]: row for row in rows}
    first = chosen[0]
    for system in chosen[1:]:
        if set(outputs[system]) != set(outputs[first]):
            only_a = sorted(set(outputs[first]) - set(outputs[system]))[:3]
            only_b = sorted(set(outputs[system]) - set(outputs[first]))[:3]
            raise BadInput(
                f"systems {first} and {system} cover different items (only {first}: {only_a}; only {system}: {only_b})"
            )
    unknown = sorted(set(outputs[first]) - set(items))[:3]
    if unknown:
        raise BadInput(f"outputs name items not in the test set: {unknown}")
    return outputs, items


def anonymised_pdf(fountain: str, code: str) -> bytes:
    """The screenplay re-rendered with a neutral title page; source title page, notes and boneyard dropped."""
    doc = parse_fountain(fountain)
    hidden = (Note, Boneyard)
    clean = Screenplay(
        title_page=[TitleField(key="Title", value=f"Script {code}")],
        preamble=[e for e in doc.preamble if not isinstance(e, hidden)],
        scenes=[
            s.model_copy(update={"elements": [e for e in s.elements if not isinstance(e, hidden)]})
            for s in doc.scenes
        ],
    )
    return render_pdf(clean)


def text_pdf(title: str, body: str) -> bytes:
    """Plain text (the brief) as a readable PDF, in the bundled Courier Prime so any Latin text prints.

    Hand-written on fpdf2 (already the screenplay renderer) rather than adding a document library.
    """
    pdf = FPDF(format="letter", unit="pt")
    pdf.set_creator("DSR Screenwriter")
    pdf.set_title(title)
    pdf.add_font("CourierPrime", "", str(FONT_DIR / "CourierPrime-Regular.ttf"))
    pdf.add_font("CourierPrime", "B", str(FONT_DIR / "CourierPrime-Bold.ttf"))
    pdf.set_margins(54, 54, 54)
    pdf.add_page()
    pdf.set_font("CourierPrime", "B", 13)
    pdf.multi_cell(0, 18, title)
    pdf.ln(6)
    pdf.set_font("CourierPrime", "", 10.5)
    printable = "".join(ch if ch in _charset() or ch in "\n " else "?" for ch in body)
    pdf.multi_cell(0, 13.5, printable)
    return bytes(pdf.output())


def _charset() -> frozenset[str]:
    from dsr.screenplay.pdf import prime_charset

    return prime_charset()


def _codes(rng: random.Random, n: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < n:
        codes.add("".join(rng.choice(_CODE_ALPHABET) for _ in range(4)))
    return rng.sample(sorted(codes), n)


def _readme(rater: str, n_pairs: int) -> str:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).with_name("templates")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    text = env.get_template("rater_readme.txt").render(
        rater=rater,
        n_pairs=n_pairs,
        tiers=RUBRIC_TIERS,
        categories={s: CATEGORY_MEANING[c] for s, c in ERROR_SHORT.items()},
    )
    return text + "\n"


def _sheet(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def build_packets(
    eval_dir: Path, out_dir: Path, *, raters: int = 1, seed: int = 0, systems: list[str] | None = None
) -> dict[str, Any]:
    """Write one folder per rater plus the key; returns the key (also written to ``out_dir/key.json``)."""
    if raters < 1:
        raise BadInput("--raters must be at least 1")
    outputs, items = load_outputs(eval_dir, systems)
    chosen = list(outputs)
    rng = random.Random(seed)
    item_ids = sorted(outputs[chosen[0]])
    excluded = [
        {"item": i, "system": s, "reason": row.get("error") or "the system produced no screenplay"}
        for s in chosen
        for i in item_ids
        if not ((row := outputs[s][i]).get("ok", True) and (row.get("screenplay") or "").strip())
    ]
    unusable = {(e["item"], e["system"]) for e in excluded}
    pairs = [
        (i, a, b)
        for i in item_ids
        for a, b in itertools.combinations(chosen, 2)
        if (i, a) not in unusable and (i, b) not in unusable
    ]
    if not pairs:
        raise BadInput("no pair of usable outputs to compare (every pair has a failed output)")
    flips = [k % 2 == 1 for k in range(len(pairs))]
    rng.shuffle(flips)  # half the pairs each way, at random; the next rater sees each the other way
    key: dict[str, Any] = {
        "warning": "NOT FOR RATERS: this file un-blinds the packets. Keep it away from the rater folders.",
        "eval_dir": str(eval_dir.resolve()),
        "systems": chosen,
        "seed": seed,
        "excluded": excluded,
        "raters": {},
    }
    for r in range(1, raters + 1):
        rater = f"R{r:02d}"
        folder = out_dir / "raters" / rater
        order = list(range(len(pairs)))
        rng.shuffle(order)
        scripts = sorted({(i, s) for i, a, b in pairs for s in (a, b)})
        code_of = dict(zip(scripts, _codes(rng, len(scripts)), strict=True))
        brief_of: dict[str, str] = {}  # numbered in the order the rater meets the items
        for k in order:
            brief_of.setdefault(pairs[k][0], f"briefs/brief-{len(brief_of) + 1:02d}.pdf")
        for (item, system), code in code_of.items():
            atomic_write(
                folder / "scripts" / f"Script-{code}.pdf",
                anonymised_pdf(outputs[system][item]["screenplay"], code),
            )
        for item, name in brief_of.items():
            x = TaskInput.model_validate(items[item]["x"])
            atomic_write(folder / name, text_pdf(f"Brief {name[-6:-4]}", render_x(x)))
        rows, entries = [], {}
        for n, k in enumerate(order, start=1):
            item, a, b = pairs[k]
            if flips[k] != (r % 2 == 0):
                a, b = b, a
            pair_id = f"{rater}-P{n:02d}"
            entries[pair_id] = {
                "item": item,
                "a": a,
                "b": b,
                "code_a": code_of[(item, a)],
                "code_b": code_of[(item, b)],
            }
            rows.append(
                {
                    "pair_id": pair_id,
                    "item_brief_file": brief_of[item],
                    "script_a": f"scripts/Script-{code_of[(item, a)]}.pdf",
                    "script_b": f"scripts/Script-{code_of[(item, b)]}.pdf",
                }
            )
        atomic_write(folder / SHEET, _sheet(rows))
        atomic_write(folder / "README.txt", _readme(rater, len(rows)))
        key["raters"][rater] = {"folder": f"raters/{rater}", "pairs": entries}
    write_json(out_dir / KEY_FILE, key, mode=PRIVATE)  # the un-blinding key: raters must not read it
    return key
