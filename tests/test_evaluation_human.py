"""Blind packets -> filled sheets -> import: real packets (PDFs, CSVs), un-blinding checked against key.json."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pdfplumber
import pytest

from dsr.evaluation import records
from dsr.evaluation.packets import COLUMNS, build_packets
from dsr.evaluation.ratings import import_ratings
from dsr.screenplay.fountain_reader import parse_fountain
from dsr.screenplay.fountain_writer import write_fountain
from dsr.screenplay.model import Screenplay

DSR = Path(sys.executable).parent / "dsr"
SYSTEMS = ("dsr-secretmodel", "e2e-secretmodel")
ITEMS = 3


def _scenes(corpus_dir: Path) -> list[str]:
    doc = parse_fountain((corpus_dir / "afterwriting__test.fountain").read_text(encoding="utf-8"))
    return [write_fountain(Screenplay(scenes=[s])) for s in doc.scenes if len(s.elements) > 2][: 3 * ITEMS]


@pytest.fixture()
def eval_dir(tmp_path: Path, corpus_dir: Path) -> Path:
    """An evaluation as `dsr evaluate run` writes it: set items with X and the human S*, two systems' outputs.

    The system outputs carry their names in a title page and a note: the packets must not show them.
    """
    scenes = _scenes(corpus_dir)
    set_dir, ev = tmp_path / "set", tmp_path / "eval"
    items = []
    for i in range(ITEMS):
        x = {
            "outline": {
                "synopsis": f"Scene {i}: the confrontation at the gate.",
                "beats": ["arrival", "refusal"],
            },
            "characters": [{"name": "ALEX", "personality": "stubborn"}],
            "meta": {"guidelines": ["keep it tense"]},
        }
        items.append(
            {
                "id": f"item{i}",
                "x": x,
                "reference": scenes[i],
                "heading": "",
                "script": "test",
                "series": "afterwriting",
                "licence": "CC",
            }
        )
    (set_dir).mkdir()
    (set_dir / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    (ev / "outputs").mkdir(parents=True)
    (ev / "eval.json").write_text(
        json.dumps({"set_dir": str(set_dir), "systems": {s: {"mode": "dsr"} for s in SYSTEMS}}),
        encoding="utf-8",
    )
    for k, system in enumerate(SYSTEMS, start=1):
        rows = [
            {
                "item": f"item{i}",
                "system": system,
                "ok": True,
                "error": None,
                "prose": None,
                "calls": 1,
                "seconds": 0.1,
                "screenplay": f"Title: {system}\nAuthor: {system}\n\n[[written by {system}]]\n\n"
                + scenes[k * ITEMS + i],
            }
            for i in range(ITEMS)
        ]
        (ev / "outputs" / f"{system}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
        )
    return ev


def _fill(
    sheet: Path, rate: dict[str, tuple[int, int, str]] | None = None, *, blank: set[str] = frozenset()
) -> list[dict]:
    """Fill a real sheet.csv as a rater would: score_a = 3 + pair number % 7, score_b = 9, preferred B."""
    with sheet.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for n, row in enumerate(rows):
        if row["pair_id"] in blank:
            continue
        a, b, pref = (rate or {}).get(row["pair_id"], (3 + n % 7, 9, "B"))
        row.update(
            score_a=str(a),
            score_b=str(b),
            preferred=pref,
            errors_a_plot="2",
            errors_b_plot="2",
            errors_a_format="1",
            errors_b_format="1",
            notes="ok",
        )
    with sheet.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_packets_are_blind_balanced_and_complete(eval_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "packets"
    key = build_packets(eval_dir, out, raters=2, seed=7)
    assert key["systems"] == [*SYSTEMS, "human"]
    assert "NOT FOR RATERS" in key["warning"]
    n_pairs = ITEMS * 3  # 3 systems -> 3 pairs per item
    order_seen = {}
    for rater in ("R01", "R02"):
        folder = out / "raters" / rater
        pairs = key["raters"][rater]["pairs"]
        assert len(pairs) == n_pairs
        with (folder / "sheet.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert list(rows[0]) == COLUMNS and [r["pair_id"] for r in rows] == list(pairs)
        for row in rows:
            entry = pairs[row["pair_id"]]
            assert row["script_a"] == f"scripts/Script-{entry['code_a']}.pdf"
            order_seen.setdefault(rater, []).append((entry["item"], entry["a"], entry["b"]))
        first = [e["a"] for e in pairs.values()]
        assert abs(sum(a == "human" for a in first) - sum(e["b"] == "human" for e in pairs.values())) <= 3
        readme = (folder / "README.txt").read_text(encoding="utf-8")
        assert "11-12" in readme and "Exceptional" in readme and "pacing" in readme
        assert "human" not in readme.lower()
        pdfs = sorted((folder / "scripts").glob("*.pdf"))
        assert len(pdfs) == ITEMS * 3  # each script once per rater
        for pdf in pdfs:
            with pdfplumber.open(pdf) as doc:
                text = "\n".join(page.extract_text() or "" for page in doc.pages)
                meta = json.dumps(doc.metadata)
            assert f"Script {pdf.stem.split('-')[1]}" in text
            assert "secretmodel" not in text and "secretmodel" not in meta and "written by" not in text
            assert len(text.splitlines()) >= 3  # the title plus the scene itself
        with pdfplumber.open(folder / "briefs" / "brief-01.pdf") as doc:
            brief = doc.pages[0].extract_text()
        assert "the confrontation at the gate" in brief and "secretmodel" not in brief
        assert not list(folder.rglob("key*"))
    # both orders across the two raters, for every pair
    flipped = {(i, a, b) for i, a, b in order_seen["R01"]}
    assert all((i, b, a) in flipped for i, a, b in order_seen["R02"])
    codes = [{e["code_a"] for e in key["raters"][r]["pairs"].values()} for r in ("R01", "R02")]
    assert codes[0] != codes[1]


def test_import_unblinds_against_key(eval_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "packets"
    key = build_packets(eval_dir, out, raters=1, seed=3)
    pairs = key["raters"]["R01"]["pairs"]
    blank_id = next(iter(pairs))
    # the rater prefers the human script and gives it 11; other scripts get 5
    rate = {}
    for pid, e in pairs.items():
        a, b = (11 if e["a"] == "human" else 5), (11 if e["b"] == "human" else 5)
        rate[pid] = (a, b, "A" if e["a"] == "human" else "B" if e["b"] == "human" else "tie")
    _fill(out / "raters" / "R01" / "sheet.csv", rate, blank={blank_id})
    summary = import_ratings(out, [out / "raters" / "R01" / "sheet.csv"])
    assert summary["R01"]["rated"] == len(pairs) - 1 and summary["R01"]["blank"] == 1
    judgments = [
        json.loads(x) for x in records.judgments_path(eval_dir, "human:R01").read_text().splitlines()
    ]
    pairwise = [json.loads(x) for x in records.pairwise_path(eval_dir, "human:R01").read_text().splitlines()]
    assert len(judgments) == ITEMS * 3 and len(pairwise) == len(pairs)
    for j in judgments:
        assert j["judge"] == "human:R01" and not j["failed"]
        assert j["score"] == (11 if j["system"] == "human" else 5)
        assert j["errors"]["plot_coherence"] == 2 and j["errors"]["format"] == 1
    blank_entry = pairs[blank_id]
    failed = [p for p in pairwise if p["failed"]]
    assert (
        len(failed) == 1
        and failed[0]["item"] == blank_entry["item"]
        and failed[0]["reason"] == "not rated (blank row)"
    )
    for p in pairwise:
        if p["failed"]:
            continue
        entry = pairs[p["pair_id"]]
        shown_a = p[p["shown_first"]]
        assert shown_a == entry["a"] and {p["a"], p["b"]} == {entry["a"], entry["b"]}
        if "human" in (p["a"], p["b"]):
            assert p[p["winner"]] == "human"
        else:
            assert p["winner"] == "tie"


@pytest.mark.slow
def test_cli_packets_import_and_bad_sheets(eval_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "packets"
    run = subprocess.run(
        [
            DSR,
            "evaluate",
            "packets",
            eval_dir,
            "-o",
            out,
            "--raters",
            "2",
            "--systems",
            "e2e-secretmodel,human",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    sheet = out / "raters" / "R02" / "sheet.csv"
    rows = _fill(sheet)
    assert len(rows) == ITEMS
    good = subprocess.run(
        [DSR, "evaluate", "import-ratings", out, sheet, "--rater", "ann"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert good.returncode == 0, good.stderr
    assert records.judgments_path(eval_dir, "human:ann").is_file()

    def bad(edit: dict[str, str], row: int = 1) -> str:
        broken = tmp_path / "broken.csv"
        lines = list(csv.DictReader(sheet.open(encoding="utf-8")))
        lines[row].update(edit)
        with broken.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(lines)
        result = subprocess.run(
            [DSR, "evaluate", "import-ratings", out, broken], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        return result.stderr

    assert "broken.csv:3: score_a is 13, outside 1-12" in bad({"score_a": "13"})
    assert "broken.csv:3: score_b is '7.5', not a whole number" in bad({"score_b": "7.5"})
    assert "broken.csv:2: preferred is 'C'" in bad({"preferred": "C"}, row=0)
    assert "broken.csv:3: pair_id 'R09-P01' is not in key.json" in bad({"pair_id": "R09-P01"})
    assert "broken.csv:3: preferred empty" in bad({"preferred": ""})
    missing = subprocess.run(
        [DSR, "evaluate", "packets", eval_dir, "-o", tmp_path / "p2", "--systems", "nosuch,human"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "no run for system(s) nosuch" in missing.stderr


def test_mismatched_items_are_bad_input(eval_dir: Path, tmp_path: Path) -> None:
    from dsr.common.errors import BadInput

    path = eval_dir / "outputs" / "e2e-secretmodel.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]), encoding="utf-8")
    with pytest.raises(BadInput, match="cover different items"):
        build_packets(eval_dir, tmp_path / "p", raters=1)


def test_imported_ratings_reach_metrics_and_report(eval_dir: Path, tmp_path: Path) -> None:
    """Sheets -> import -> part A's metrics (human_ratings) -> the report's human table and figure."""
    from dsr.evaluation.metrics import compute_metrics
    from dsr.evaluation.report import write_report

    config = records.read_eval_config(eval_dir)
    records.write_outputs(
        eval_dir, "human", records.human_outputs(records.read_items(Path(config["set_dir"])))
    )
    out = tmp_path / "packets"
    key = build_packets(eval_dir, out, raters=2, seed=1)
    for rater in ("R01", "R02"):
        pairs = key["raters"][rater]["pairs"]
        score = {"human": 10, SYSTEMS[0]: 7, SYSTEMS[1]: 4}
        _fill(
            out / "raters" / rater / "sheet.csv",
            {
                p: (score[e["a"]], score[e["b"]], "A" if score[e["a"]] > score[e["b"]] else "B")
                for p, e in pairs.items()
            },
        )
    import_ratings(out, [out / "raters" / r / "sheet.csv" for r in ("R01", "R02")])
    metrics = compute_metrics(eval_dir)
    human = metrics["human_ratings"]
    assert human["n_raters"] == 2
    assert human["systems"]["human"]["score"]["mean"] == 10
    assert (
        human["systems"][SYSTEMS[0]]["score"]["mean"] == 7
        and human["systems"][SYSTEMS[0]]["n_scored"] == ITEMS
    )
    assert human["systems"][SYSTEMS[1]]["ratio_to_human"]["value"] == pytest.approx(0.4)
    paths = write_report(eval_dir, metrics)
    md = paths["report.md"].read_text(encoding="utf-8")
    assert f"| {SYSTEMS[0]} | 7.00" in md and "| 70.0" in md and f"| {ITEMS} / 0 |" in md
    assert "2 rater(s)" in md and "plots/human_score_distributions.png" in paths
    # the raters' preferences: the higher-scored script was always preferred
    prefs = human["pairwise"]
    assert prefs, "metrics.json human_ratings has no pairwise block"
    for block in prefs.values():
        assert block["n_pairs"] == 2 * ITEMS and block["n_failed"] == 0
        assert block["win_rate_a"]["value"] in (0.0, 1.0)
    assert "Pairwise preferences (human raters)" in md


def test_failed_outputs_are_left_out_and_listed(eval_dir: Path, tmp_path: Path) -> None:
    path = eval_dir / "outputs" / f"{SYSTEMS[0]}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0] |= {"ok": False, "screenplay": "", "error": "novelist timed out"}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    key = build_packets(eval_dir, tmp_path / "p", raters=1)
    assert key["excluded"] == [{"item": "item0", "system": SYSTEMS[0], "reason": "novelist timed out"}]
    pairs = key["raters"]["R01"]["pairs"].values()
    assert len(pairs) == ITEMS * 3 - 2
    assert not any(p["item"] == "item0" and SYSTEMS[0] in (p["a"], p["b"]) for p in pairs)
