"""``metrics.json``: every figure of an evaluation, each with the number of items it covers and its failures.

Built only from the contract's files (outputs, judgments, pairwise, calibration), so it can be recomputed
at any time without a model. Honesty rules:

* every system must cover the same items as the human reference; otherwise the ids are named and it is
  an error, unless ``allow_partial`` restricts *every* figure to the common items and says so;
* an item a system failed to write, or the judge failed to score, stays in ``n_items`` and is counted in
  ``n_failed``; means cover the scored items and say how many (``n_scored``);
* intervals are bootstrap CIs over items (:mod:`dsr.evaluation.stats`).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from dsr.common.errors import BadInput
from dsr.contract.call_log import CALL_LOG, read_structured
from dsr.evaluation import judge_free, records, stats
from dsr.judging.rubric import ERROR_CATEGORIES
from dsr.models.structured import tally
from dsr.story.schemas import TaskInput

HUMAN_RATER = "human:"


def _common_items(
    outputs: dict[str, list[dict[str, Any]]], allow_partial: bool, notes: list[str]
) -> list[str]:
    """Item ids every system (human included) has; mismatches are an error unless ``allow_partial``."""
    order = [r["item"] for r in outputs[records.HUMAN]]
    sets = {s: {r["item"] for r in rows} for s, rows in outputs.items()}
    common = set.intersection(*sets.values())
    everything = set.union(*sets.values())
    if common != everything:
        gaps = [
            f"{s} lacks {', '.join(sorted(everything - ids)[:5])}"
            + (" ..." if len(everything - ids) > 5 else "")
            for s, ids in sets.items()
            if everything - ids
        ]
        if not allow_partial:
            raise BadInput(
                f"systems cover different items ({'; '.join(gaps)}); finish the runs with `dsr evaluate run` "
                "or pass --allow-partial to restrict every figure to the common items"
            )
        notes.append(
            f"--allow-partial: every figure is restricted to the {len(common)} items all systems have "
            f"({len(everything - common)} dropped: {'; '.join(gaps)})"
        )
    if not common:
        raise BadInput("no item is covered by every system; nothing can be compared")
    return [i for i in order if i in common] + sorted(common - set(order))


def _llm_judge(judgments: list[dict[str, Any]], judge: str | None) -> str | None:
    labels = sorted({r["judge"] for r in judgments if not r["judge"].startswith(HUMAN_RATER)})
    if judge is not None:
        if judge not in labels:
            raise BadInput(f"no judgments by '{judge}'; judges present: {', '.join(labels) or 'none'}")
        return judge
    if len(labels) > 1:
        raise BadInput(f"several judges present ({', '.join(labels)}); pick one with --judge")
    return labels[0] if labels else None


def _reason_kind(reason: str | None) -> str:
    """A short class of why a score is missing, for counts in notes and reports (rows keep the full text)."""
    text = reason or "failed"
    if text.startswith("no output to judge"):
        return "run failed, nothing to judge"
    if text.startswith("judge call failed"):
        return "judge unreachable"
    if "judge sample(s) failed" in text:
        return "judge output unusable"
    return text[:80]


def _score_block(
    rows_by_item: dict[str, dict[str, Any]], items: list[str], human: dict[str, float] | None
) -> dict[str, Any]:
    """Score, variance, ratio to human and error counts of one system from one rater/judge's rows."""
    scored = {
        i: float(rows_by_item[i]["score"])
        for i in items
        if i in rows_by_item and not rows_by_item[i]["failed"]
    }
    values = list(scored.values())
    sample_vars = [rows_by_item[i]["variance"] for i in scored if rows_by_item[i].get("variance") is not None]
    totals = {c: sum(int(rows_by_item[i]["errors"].get(c, 0)) for i in scored) for c in ERROR_CATEGORIES}
    reasons = defaultdict(int)
    for i in items:
        row = rows_by_item.get(i)
        if row is None:
            reasons["not judged"] += 1
        elif row["failed"]:
            reasons[_reason_kind(row.get("reason"))] += 1
    mean = stats.mean_ci(values)
    return {
        "n_items": len(items),
        "n_scored": len(scored),
        "n_failed": len(items) - len(scored),
        "failure_reasons": dict(reasons),
        "score": {"mean": mean["value"], "ci": mean["ci"]},
        "variance": stats.variance(values),
        "sample_variance": round(sum(sample_vars) / len(sample_vars), 4) if sample_vars else None,
        "ratio_to_human": _ratio(scored, human),
        "errors": {
            c: {"total": totals[c], "per_item": round(totals[c] / len(scored), 4) if scored else None}
            for c in ERROR_CATEGORIES
        },
        "per_item": scored,
    }


def _ratio(scored: dict[str, float], human: dict[str, float] | None) -> dict[str, Any] | None:
    if human is None:
        return None
    got = stats.ratio_to_human(scored, human)
    return {"value": got["value"], "ci": got["ci"], "n": got["n"]} if got["n"] else None


def _judge_free(
    rows: dict[str, dict[str, Any]], items: list[str], xs: dict[str, TaskInput]
) -> dict[str, Any]:
    scenes = [judge_free.scene_metrics(xs[i], rows[i]["screenplay"]) for i in items if rows[i]["ok"]]
    out = judge_free.aggregate(scenes)
    out["n_run_failed"] = sum(not rows[i]["ok"] for i in items)
    return out


def _pairwise(rows: list[dict[str, Any]], items: list[str]) -> dict[str, Any]:
    keep = set(items)
    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["item"] in keep:
            by_pair[(row["a"], row["b"])].append(row)
    out = {}
    for (a, b), group in sorted(by_pair.items()):
        usable = [r for r in group if not r["failed"]]
        per_item: dict[str, list[float]] = defaultdict(list)
        orders: dict[str, dict[str, str]] = defaultdict(dict)
        for r in usable:
            per_item[r["item"]].append(stats.outcome_for_a(r["winner"]))
            orders[r["item"]][r["shown_first"]] = r["winner"]
        rate = stats.win_rate(per_item)
        consistency = stats.position_consistency(orders)
        out[f"{a} vs {b}"] = {
            "a": a,
            "b": b,
            "n_pairs": len(group),
            "n_failed": len(group) - len(usable),
            "n_items": len(per_item),
            "a_wins": sum(r["winner"] == "a" for r in usable),
            "b_wins": sum(r["winner"] == "b" for r in usable),
            "ties": sum(r["winner"] == "tie" for r in usable),
            "win_rate_a": {"value": rate["value"], "ci": rate["ci"]},
            "position_consistency": consistency["value"],
            "n_both_orders": consistency["n"],
        }
    return out


def _human_ratings(rows: list[dict[str, Any]], systems: list[str], items: list[str]) -> dict[str, Any] | None:
    """Blocks like the LLM judge's from ``human:<rater>`` rows: per item the mean over raters who scored it."""
    human_rows = [r for r in rows if r["judge"].startswith(HUMAN_RATER)]
    if not human_rows:
        return None
    raters = sorted({r["judge"] for r in human_rows})
    per_system: dict[str, dict[str, dict[str, Any]]] = {}
    for system in [*systems, records.HUMAN]:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in human_rows:
            if r["system"] == system and r["item"] in items:
                grouped[r["item"]].append(r)
        merged = {}
        for item, group in grouped.items():
            ok = [g for g in group if not g["failed"] and g["score"] is not None]
            merged[item] = {
                "failed": not ok,
                "score": sum(g["score"] for g in ok) / len(ok) if ok else None,
                "variance": stats.variance([g["score"] for g in ok]) if ok else None,
                "errors": {
                    c: round(sum(g["errors"].get(c, 0) for g in ok) / len(ok)) if ok else 0
                    for c in ERROR_CATEGORIES
                },
                "reason": None if ok else "every rater left it unscored",
            }
        per_system[system] = merged
    human_scores = {i: r["score"] for i, r in per_system[records.HUMAN].items() if not r["failed"]}
    blocks = {
        s: _score_block(per_system[s], items, None if s == records.HUMAN else (human_scores or None))
        for s in per_system
    }
    return {"raters": raters, "n_raters": len(raters), "systems": blocks}


def _baseline(systems: list[str], config: dict[str, Any]) -> str:
    modes = {s: config.get("systems", {}).get(s, {}).get("mode") for s in systems}
    return next((s for s in systems if modes[s] == "e2e"), systems[0])


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def _table1(metrics: dict[str, Any], systems: list[str], baseline: str) -> list[dict[str, Any]]:
    base = metrics["systems"][baseline]["score"]["mean"]
    rows = []
    for s in [*systems, records.HUMAN]:
        block = metrics["systems"][s]
        mean = block["score"]["mean"]
        ratio = block["ratio_to_human"]
        win = metrics["best_of"]["systems"].get(s)
        rows.append(
            {
                "system": s,
                "score": mean,
                "score_ci": block["score"]["ci"],
                "delta_vs_baseline": None
                if s in (baseline, records.HUMAN) or mean is None or base is None
                else round(mean - base, 4),
                "var": block["variance"],
                "ratio_to_human_pct": _pct(ratio["value"]) if ratio else None,
                "win_pct": _pct(win["value"]) if win else None,
                "n_items": block["n_items"],
                "n_scored": block["n_scored"],
                "n_failed": block["n_failed"],
            }
        )
    return rows


def _ablation(metrics: dict[str, Any], systems: list[str], config: dict[str, Any]) -> list[dict[str, Any]]:
    """Table 2's layout: pipeline, model, CoT (the planner), score, var; only when modes are compared."""
    specs = config.get("systems", {})
    modes = {s: specs.get(s, {}).get("mode") for s in systems}
    if len({m for m in modes.values() if m}) < 2:
        return []
    models = config.get("models", {})
    rows = []
    for s in systems:
        mode = modes[s]
        if mode is None:
            continue
        role = "screenwriter" if mode == "e2e" else "novelist"
        block = metrics["systems"][s]
        rows.append(
            {
                "system": s,
                "pipeline": "E2E" if mode == "e2e" else "DSR",
                "model": models.get(s, {}).get(role),
                "cot": "w/" if mode == "dsr" else "w/o",
                "score": block["score"]["mean"],
                "var": block["variance"],
                "n_scored": block["n_scored"],
                "n_items": block["n_items"],
            }
        )
    order = {"E2E": 0, "DSR": 1}
    return sorted(rows, key=lambda r: (order[r["pipeline"]], r["cot"] == "w/", r["system"]))


def _structured(
    eval_dir: Path, config: dict[str, Any], label: str | None, systems: list[str], items: list[str]
) -> dict[str, Any]:
    """This evaluation's JSON answers per role (mechanism, first-try validity, repair turns, truncations):
    each system's from its items' run records (calls.jsonl), the judge's from its judging run."""
    runs = eval_dir / "runs"
    return {
        "systems": {
            s: tally(
                e for i in items for e in read_structured(runs / records.slug(s) / records.slug(i) / CALL_LOG)
            )
            for s in systems
        },
        "judge": config.get("judges", {}).get(label, {}).get("structured") if label else None,
    }


def compute_metrics(
    eval_dir: Path, *, judge: str | None = None, allow_partial: bool = False
) -> dict[str, Any]:
    """metrics.json's content (see the evaluation data contract); raises :class:`BadInput` on bad inputs."""
    config = records.read_eval_config(eval_dir)
    outputs = records.read_all_outputs(eval_dir)
    systems = [s for s in config.get("systems", {}) if s in outputs] + sorted(
        s for s in outputs if s != records.HUMAN and s not in config.get("systems", {})
    )
    if records.HUMAN not in outputs:
        raise BadInput(f"{eval_dir} has no outputs/human.jsonl; run `dsr evaluate run` to write it")
    if not systems:
        raise BadInput(f"{eval_dir} has no system outputs; run `dsr evaluate run` first")
    missing = [s for s in config.get("systems", {}) if s not in outputs]
    notes: list[str] = [
        f"system '{s}' is configured in eval.json but has no outputs; left out" for s in missing
    ]
    items = _common_items(outputs, allow_partial, notes)
    set_items = {i["id"]: i for i in records.read_items(Path(config["set_dir"]))}
    unknown = [i for i in items if i not in set_items]
    if unknown:
        raise BadInput(f"outputs name items that are not in {config['set_dir']}: {', '.join(unknown[:5])}")
    xs = {i: TaskInput.model_validate(set_items[i]["x"]) for i in items}
    by_system = {s: {r["item"]: r for r in rows} for s, rows in outputs.items()}
    judgments = records.read_all_judgments(eval_dir)
    label = _llm_judge(judgments, judge)
    if label is None:
        notes.append(
            "no LLM judgments: scores, error counts, ratios and win rates are empty; run `dsr evaluate judge`"
        )
    mine = [r for r in judgments if r["judge"] == label]
    rows_of = {s: {r["item"]: r for r in mine if r["system"] == s} for s in [*systems, records.HUMAN]}
    human_block = _score_block(rows_of[records.HUMAN], items, None)
    human_scores = human_block["per_item"] or None
    metrics: dict[str, Any] = {"judge": label, "items": len(items), "item_ids": items, "systems": {}}
    for s in [*systems, records.HUMAN]:
        block = human_block if s == records.HUMAN else _score_block(rows_of[s], items, human_scores)
        block["judge_free"] = _judge_free(by_system[s], items, xs)
        metrics["systems"][s] = block
        if label is not None and block["n_failed"]:
            notes.append(
                f"{s}: {block['n_scored']} of {block['n_items']} items scored by {label} ({block['n_failed']} failed: {block['failure_reasons']})"
            )
        if block["judge_free"]["n_run_failed"]:
            notes.append(
                f"{s}: {block['judge_free']['n_run_failed']} of {len(items)} runs failed; judge-free metrics cover {block['judge_free']['n']} scenes"
            )
    pair_rows = [r for r in records.read_all_pairwise(eval_dir) if r["judge"] == label]
    metrics["pairwise"] = _pairwise(pair_rows, items)
    for name, p in metrics["pairwise"].items():
        if p["n_failed"]:
            notes.append(f"pairwise {name}: {p['n_failed']} of {p['n_pairs']} judged orders failed")
    best = stats.best_of_k({s: metrics["systems"][s]["per_item"] for s in systems})
    metrics["best_of"] = {
        "k": best["k"],
        "n_items": best["n_items"],
        "systems": {s: {"value": v["value"], "ci": v["ci"]} for s, v in best["systems"].items()},
    }
    if label is not None and best["n_items"] < len(items):
        notes.append(
            f"best-of-{best['k']} win rate covers the {best['n_items']} of {len(items)} items every system got a score on"
        )
    metrics["structured"] = _structured(eval_dir, config, label, systems, items)
    metrics["calibration"] = records.read_calibration(eval_dir)
    if metrics["calibration"] is None:
        notes.append(
            "no judge calibration (calibration.json); run `dsr evaluate calibrate` to measure agreement with people"
        )
    metrics["human_ratings"] = _human_ratings(judgments, systems, items)
    if (
        metrics["human_ratings"] is not None
    ):  # the raters' preferences from imported sheets (evaluation.ratings)
        human_pairs = [r for r in records.read_all_pairwise(eval_dir) if r["judge"].startswith(HUMAN_RATER)]
        metrics["human_ratings"]["pairwise"] = _pairwise(human_pairs, items)
    baseline = _baseline(systems, config)
    metrics["baseline"] = baseline
    metrics["table1"] = _table1(metrics, systems, baseline)
    metrics["ablation"] = _ablation(metrics, systems, config)
    metrics["coverage_notes"] = notes
    return metrics
