"""``report.md``, ``report.html`` (self-contained), ``report.json`` and ``plots/*.png`` from ``metrics.json``.

The tables follow the paper's layout (DSR-SPEC 8: Table 1 and the ablation Table 2) with bootstrap
intervals, then error counts, judge-free metrics, pairwise results, human ratings, the judge's
calibration and coverage notes. Every table and figure states how many items it covers and how many
failed. Markdown and HTML are rendered by Jinja from ``evaluation/templates/`` out of one view model,
so the two can never disagree.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from dsr.common.fsutil import atomic_write, write_json
from dsr.evaluation import plots
from dsr.judging.rubric import ERROR_CATEGORIES

TEMPLATES = Path(__file__).with_name("templates")
HUMAN = "human"
DASH = "—"


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md_cell"] = lambda v: str(v).replace("|", "\\|").replace("\n", " ")
    return env


# --- number formatting ---


def _num(value: Any, digits: int = 2) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def _with_ci(block: dict[str, Any] | None, *, scale: float = 1.0, digits: int = 2) -> str:
    """'8.06 [7.51, 8.60]' from ``{"value"|"mean": v, "ci": [lo, hi]}``; a dash when missing."""
    if not block:
        return DASH
    value = block.get("value", block.get("mean"))
    if value is None:
        return DASH
    text = f"{value * scale:.{digits}f}"
    ci = block.get("ci")
    if ci and ci[0] is not None and ci[1] is not None:
        text += f" [{ci[0] * scale:.{digits}f}, {ci[1] * scale:.{digits}f}]"
    return text


def _score_of(block: dict[str, Any]) -> float | None:
    score = block.get("score")
    return score.get("mean", score.get("value")) if isinstance(score, dict) else score


def _baseline(systems: dict[str, Any], baseline: str | None) -> str | None:
    """The explicit baseline, else e2e (the paper's direct generation), else the weakest scored system."""
    if baseline in systems:
        return baseline
    if "e2e" in systems:
        return "e2e"
    scored = [(s, _score_of(b)) for s, b in systems.items() if s != HUMAN and _score_of(b) is not None]
    return min(scored, key=lambda p: p[1])[0] if scored else None


def _ordered(systems: dict[str, Any]) -> list[str]:
    return [s for s in systems if s != HUMAN] + ([HUMAN] if HUMAN in systems else [])


def _table(
    title: str, caption: str, header: list[str], rows: list[list[str]], empty: str = ""
) -> dict[str, Any]:
    return {"title": title, "caption": caption, "header": header, "rows": rows, "empty": empty}


# --- tables ---


def table1(metrics: dict[str, Any], baseline: str | None) -> dict[str, Any]:
    systems = metrics.get("systems", {})
    base = _baseline(systems, baseline or metrics.get("baseline"))
    base_score = _score_of(systems[base]) if base else None
    best = (metrics.get("best_of") or {}).get("systems", {})
    rows = []
    for name in _ordered(systems):
        block = systems[name]
        score = _with_ci(
            block.get("score") if isinstance(block.get("score"), dict) else {"value": block.get("score")}
        )
        mean = _score_of(block)
        if name not in (base, HUMAN) and mean is not None and base_score is not None:
            score += f" ({mean - base_score:+.2f})"
        ratio = _with_ci(block.get("ratio_to_human"), scale=100, digits=1) if name != HUMAN else DASH
        win = _with_ci(best.get(name), scale=100, digits=1) if name != HUMAN else DASH
        rows.append(
            [
                name,
                score,
                _num(block.get("variance")),
                ratio,
                win,
                f"{block.get('n_scored', 0)} / {block.get('n_failed', 0)}",
            ]
        )
    k = (metrics.get("best_of") or {}).get("k")
    caption = (
        f"Judge {metrics.get('judge', '?')}, {metrics.get('items', 0)} items. Score = mean of per-item judge scores "
        f"[95% bootstrap CI] (Δ vs baseline {base or DASH}); Var = variance of per-item means; Ratio to human = "
        f"mean / human reference mean; Win = best-of-{k or '?'} share of items won (human excluded, ties split, "
        f"over {(metrics.get('best_of') or {}).get('n_items', 0)} items)."
    )
    header = ["System", "Score (Δ vs baseline)", "Var", "Ratio to human %", "Win %", "n scored / failed"]
    return _table("Table 1: main results", caption, header, rows, "no system was judged")


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return _with_ci(value)
    if isinstance(value, bool):
        return "w/" if value else "w/o"
    if isinstance(value, float):
        return _num(value)
    return DASH if value is None else str(value)


def table2(metrics: dict[str, Any]) -> dict[str, Any]:
    rows = [
        [_cell(r.get(k)) for k in ("pipeline", "model", "cot", "score", "var", "system")]
        + [f"{_cell(r.get('n_scored'))} / {_cell(r.get('n_items'))}"]
        for r in metrics.get("ablation") or []
    ]
    return _table(
        "Table 2: ablation",
        "Pipeline (DSR two-stage vs E2E single call), CoT = creative directives from the planner; same judge and items as Table 1.",
        ["Pipeline", "Model", "CoT", "Score", "Var", "System", "n scored / items"],
        rows,
        "not available: needs the systems dsr, dsr-nocot and e2e in one evaluation",
    )


def errors_table(systems: dict[str, Any], title: str = "Error counts") -> dict[str, Any]:
    rows = []
    for name in _ordered(systems):
        errors = systems[name].get("errors") or {}
        cells = [
            f"{errors[c]['total']} ({_num(errors[c].get('per_item'))})" if c in errors else DASH
            for c in ERROR_CATEGORIES
        ]
        rows.append([name, *cells, str(systems[name].get("n_scored", 0))])
    header = ["System", *[c.replace("_", " ") for c in ERROR_CATEGORIES], "n scored"]
    return _table(title, "Labelled errors: total (per scored item).", header, rows, "no errors recorded")


def _pct(block: dict[str, Any], key: str) -> str:
    return DASH if block.get(key) is None else f"{100 * block[key]:.0f}%"


def judge_free_table(systems: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for name in _ordered(systems):
        jf = systems[name].get("judge_free")
        if not jf:
            continue
        rows.append(
            [
                name,
                _pct(jf, "format_valid"),
                _num(jf.get("lint_errors_per_scene")),
                _pct(jf, "beat_coverage"),
                _pct(jf, "prose_leakage"),
                _pct(jf, "dialogue_share"),
                _num(jf.get("words"), 0),
                str(jf.get("n", 0)),
            ]
        )
    header = [
        "System",
        "Format valid",
        "Lint errors / scene",
        "Beat coverage",
        "Prose leakage",
        "Dialogue share",
        "Words",
        "n",
    ]
    return _table(
        "Judge-free metrics",
        "Deterministic checks on every output (no model involved).",
        header,
        rows,
        "not computed",
    )


def pairwise_table(pairwise: dict[str, Any], title: str = "Pairwise comparisons") -> dict[str, Any]:
    rows = [
        [
            pair,
            str(p.get("n_pairs", 0)),
            str(p.get("n_failed", 0)),
            str(p.get("a_wins", 0)),
            str(p.get("b_wins", 0)),
            str(p.get("ties", 0)),
            _with_ci(p.get("win_rate_a"), scale=100, digits=1),
            DASH if p.get("position_consistency") is None else f"{100 * p['position_consistency']:.0f}%",
        ]
        for pair, p in (pairwise or {}).items()
    ]
    header = [
        "A vs B",
        "n pairs",
        "failed",
        "A wins",
        "B wins",
        "ties",
        "Win rate A % (ties half)",
        "Position consistency",
    ]
    caption = "Each pair judged in both orders (position swap); position consistency = share of pairs with the same verdict in both orders."
    return _table(title, caption, header, rows, "no pairwise judgments")


def human_table(human: dict[str, Any] | None) -> dict[str, Any]:
    systems = (human or {}).get("systems", human or {})
    rows = [
        [
            name,
            _with_ci(b.get("score")),
            _num(b.get("variance")),
            _with_ci(b.get("ratio_to_human"), scale=100, digits=1),
            f"{b.get('n_scored', 0)} / {b.get('n_failed', 0)}",
        ]
        for name, b in ((n, systems[n]) for n in _ordered(systems))
        if isinstance(b, dict)
    ]
    header = ["System", "Score", "Var", "Ratio to human %", "n scored / failed"]
    caption = f"From imported rating sheets of {(human or {}).get('n_raters', 0)} rater(s) (judges human:*); per item the mean over raters."
    return _table(
        "Human ratings (blind packets)",
        caption,
        header,
        rows,
        "no human ratings imported (dsr evaluate packets, then dsr evaluate import-ratings)",
    )


def _human_extra(human: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Error counts and preferences of the human raters, when ratings were imported."""
    if not human:
        return []
    tables = [errors_table(human.get("systems", human), "Error counts (human raters)")]
    if "pairwise" in human:
        table = pairwise_table(human["pairwise"], "Pairwise preferences (human raters)")
        table["caption"] = (
            "One order per pair and rater (Script A / Script B balanced across raters); ties count half."
        )
        tables.append(table)
    return tables


def calibration_table(cal: dict[str, Any] | None, judge: str | None = None) -> dict[str, Any]:
    if not cal:
        return _table(
            "Judge calibration",
            "",
            [],
            [],
            "The judge is UNCALIBRATED: this evaluation has no calibration.json. Run `dsr evaluate calibrate --eval-dir EVAL_DIR`.",
        )
    rows = [
        [
            "Spearman ρ (vs human mean)",
            _with_ci(cal.get("spearman"), digits=3),
            str((cal.get("spearman") or {}).get("n", cal["n_items"] - cal["n_failed"])),
        ],
        [
            "Pairwise accuracy",
            _with_ci(cal.get("pairwise_accuracy"), digits=3),
            f"{(cal.get('pairwise_accuracy') or {}).get('n_pairs', 0)} pairs",
        ],
        *[
            [f"Spearman ρ vs {name}", _with_ci(block, digits=3), str(block.get("n", DASH))]
            for name, block in (cal.get("per_criterion") or {}).items()
        ],
    ]
    caption = f"{cal.get('dataset')} ({cal.get('licence')}); judge {cal.get('judge')}; {cal.get('n_items')} stories, {cal.get('n_failed')} failed. {cal.get('note', '')}"
    if judge and cal.get("judge") != judge:
        caption += (
            f" WARNING: measured for judge {cal.get('judge')}, but this evaluation was judged by {judge}."
        )
    return _table("Judge calibration", caption, ["Measure", "Value [95% CI]", "n"], rows)


# --- figures ---


def _per_item(systems: dict[str, Any]) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Per-item scores (metrics' ``per_item``) and failures per system, in the metrics' system order."""
    scores = {s: list((b.get("per_item") or {}).values()) for s, b in systems.items() if isinstance(b, dict)}
    failed = {s: b.get("n_failed", 0) for s, b in systems.items() if isinstance(b, dict)}
    order = _ordered(scores)
    return {s: scores[s] for s in order}, failed


def figures(eval_dir: Path, metrics: dict[str, Any], cal: dict[str, Any] | None) -> list[dict[str, Any]]:
    out_dir = eval_dir / "plots"
    judge = metrics.get("judge")
    made: list[dict[str, Any]] = []

    def add(path: Path | None, title: str, missing: str) -> None:
        made.append({"title": title, "path": path, "missing": missing})

    scores, failed = _per_item(metrics.get("systems") or {})
    n = sum(len(v) for v in scores.values())
    add(
        plots.score_distributions(
            scores,
            failed,
            out_dir / "score_distributions.png",
            title=f"Judge scores per item ({judge}; {n} scored, {sum(failed.values())} failed)",
        ),
        "Score distributions",
        f"no scored items by judge {judge}",
    )
    human = metrics.get("human_ratings") or {}
    if human:
        h_scores, h_failed = _per_item(human.get("systems", human))
        add(
            plots.score_distributions(
                h_scores,
                h_failed,
                out_dir / "human_score_distributions.png",
                title=f"Human ratings per item (mean of {human.get('n_raters', '?')} rater(s); "
                f"{sum(len(v) for v in h_scores.values())} scored, {sum(h_failed.values())} failed)",
            ),
            "Human score distributions",
            "no rated scripts",
        )
    best = metrics.get("best_of") or {}
    bars = [
        (s, b.get("value"), b.get("ci"), f"n={best.get('n_items', 0)}")
        for s, b in (best.get("systems") or {}).items()
    ]
    add(
        plots.win_rate_bars(
            bars,
            out_dir / "win_rates.png",
            ylabel="items won (%)",
            title=f"Best-of-{best.get('k', '?')} win rate with 95% CI ({best.get('n_items', 0)} items)",
        ),
        "Win rates (best of K)",
        "no best-of-K win rates in metrics.json",
    )
    pair_bars = [
        (
            pair,
            (p.get("win_rate_a") or {}).get("value"),
            (p.get("win_rate_a") or {}).get("ci"),
            f"n={p.get('n_pairs', 0)}, failed={p.get('n_failed', 0)}",
        )
        for pair, p in (metrics.get("pairwise") or {}).items()
    ]
    add(
        plots.win_rate_bars(
            pair_bars,
            out_dir / "pairwise_win_rates.png",
            ylabel="A wins (%), ties half",
            title="Pairwise win rate of A with 95% CI",
        ),
        "Pairwise win rates",
        "no pairwise judgments",
    )
    systems = metrics.get("systems") or {}
    add(
        plots.error_counts(
            systems,
            out_dir / "error_counts.png",
            title=f"Errors per scored item ({judge}; {sum(b.get('n_scored', 0) for b in systems.values())} scored outputs)",
        ),
        "Error counts",
        "no error counts in metrics.json",
    )
    if cal and cal.get("items"):
        add(
            plots.calibration_scatter(
                cal["items"],
                out_dir / "calibration.png",
                title=f"Judge vs HANNA humans ({cal['n_items'] - cal['n_failed']} scored, {cal['n_failed']} failed)",
            ),
            "Judge calibration",
            "no scored calibration stories",
        )
    for fig in made:
        fig["file"] = f"plots/{fig['path'].name}" if fig["path"] else None
        fig["b64"] = base64.b64encode(fig["path"].read_bytes()).decode("ascii") if fig["path"] else None
    return made


def write_report(eval_dir: Path, metrics: dict[str, Any], *, baseline: str | None = None) -> dict[str, Path]:
    """Write the report files into ``eval_dir``; returns their paths by name."""
    eval_dir = Path(eval_dir)
    cal = metrics.get("calibration")
    if cal is None and (eval_dir / "calibration.json").is_file():
        cal = json.loads((eval_dir / "calibration.json").read_text(encoding="utf-8"))
    systems = metrics.get("systems") or {}
    view = {
        "judge": metrics.get("judge") or "none (no LLM judgments)",
        "items": metrics.get("items", 0),
        "tables": [
            table1(metrics, baseline),
            table2(metrics),
            errors_table(systems),
            judge_free_table(systems),
            pairwise_table(metrics.get("pairwise") or {}),
            human_table(metrics.get("human_ratings")),
            *(_human_extra(metrics.get("human_ratings"))),
            calibration_table(cal, metrics.get("judge")),
        ],
        "coverage": list(metrics.get("coverage_notes") or []),
        "figures": figures(eval_dir, metrics, cal),
        "calibrated": bool(cal),
    }
    env = _env()
    paths = {
        "report.md": atomic_write(eval_dir / "report.md", env.get_template("report.md.j2").render(**view)),
        "report.html": atomic_write(eval_dir / "report.html", env.get_template("report.html").render(**view)),
        "report.json": write_json(eval_dir / "report.json", metrics),
    }
    paths.update({fig["file"]: fig["path"] for fig in view["figures"] if fig["path"]})
    return paths
