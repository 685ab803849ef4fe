"""Does training make the embedded model pass its own critic? Variants of the embedded model side by side, on
scenes held out from training, through the scene graph ``dsr write`` / ``dsr evaluate run`` use (issue 26).

Variants (planner, novelist and screenwriter forced onto the ``embedded`` provider; the critic as configured,
by default the bare base too, so every variant is judged by the same critic):

- ``base``: the bare SmolLM2 base for every role (adapter none, the novelist's default prompt; the same as
  ``DSR_EMBEDDED_ADAPTERS=false``);
- ``sft``: planner and novelist on the Stage 1 adapter (``--stage1-adapter``) with the novelist prompt
  ``stage1`` (one model for both: the graph decodes one answer in two halves, split decoding), the
  screenwriter on the Stage 2 adapter (``--stage2-adapter``);
- ``dpo``: the same with ``--dpo-stage1-adapter`` / ``--dpo-stage2-adapter``.

An adapter is a finished ``dsr train`` LoRA directory (``training.json`` inside, of the right stage); the ONNX
Runtime GenAI engine builds its int4 files with the adapter baked in on first use. Every model is loaded once
before the measured runs (a warm-up, timed apart), so no scene pays a load or a build.

Held-out scenes: the ``test`` split (with ``--with-validation`` also ``validation``) of a ``dsr synthesize
--teacher rules`` output (``--data DIR``): the ids in ``DIR/stage1/<split>.jsonl``, their X from
``DIR/examples.jsonl`` with ``dsr review``'s decisions applied (as ``dsr evaluate build-set --from-synthesis``
reads them); with ``--episode`` also every scene of ``examples/harbor-lights.yaml`` (its X as ``dsr write``
builds it, without story memory: premise only). A held-out id that is in an adapter's own training split
(``training.json``'s data dir) stops the run.

Rounds interleave the variants per scene (scene 1: base, sft, dpo; scene 2: ...) so load drifts hit each
alike. Each (variant, scene) is one real run, ``evaluation/runs.py``'s ``run_item`` (mode ``dsr``, rubric on,
no story memory, ``--max-retries`` reruns per stage), in ``WORK/runs/<variant>/<scene>/`` with
``calls.jsonl``, checkpoints, ``scenes/NN/critique.json``, and ``report.json`` / ``result.json`` written
here; a rerun reuses finished scenes and resumes unfinished ones. Per variant, from the runs' own records:

1. Stage 2 first drafts: share of scenes whose first critic verdict has no error blamed on the screenwriter
   (the critic's deterministic format checks: parses as Fountain, linter, heading, cues in the cast...);
2. Stage 1 first drafts: share whose first verdict has no error blamed on the planner or the novelist (prose
   rules, outline coverage, plan checks);
3. model calls per accepted scene (every request in ``calls.jsonl``, the critic's included);
4. share of scenes where the rubric judge was reached (a verdict with no deterministic error) and where it
   gave a usable score;
5. share of accepted scenes accepted with open findings (past the retry caps);
6. wall time per scene (the scene's node timings; the warm-up is reported apart).

The first verdict is ``state["verdicts"][0]`` (``critique.json``): the critic runs every deterministic check
on every stage's first draft at once, so both first-draft figures come from it; "blamed" is
:func:`dsr.story.checks.verdict.blamed_on`, "error" :func:`dsr.story.checks.verdict.blocking`, the same tests
the critic node and ``training/reward.py``'s ``CriticReward`` use.

Usage: ``nice -n 10 .venv/bin/python benchmarks/critic_pass.py --data DIR [--with-validation] [--episode]
--stage1-adapter DIR --stage2-adapter DIR [--dpo-stage1-adapter DIR --dpo-stage2-adapter DIR]
[--variants base,sft,dpo] [--limit N] [--max-retries 2] [--max-new-tokens N] [--temperature T] [--work DIR]
[--out benchmarks/results/issue26-critic-pass.md]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EPISODE = ROOT / "examples" / "harbor-lights.yaml"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "issue26-critic-pass.md"
DEFAULT_WORK = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dsr" / "bench" / "critic-pass"
)
VARIANTS = ("base", "sft", "dpo")
STAGE1_ROLES = ("planner", "novelist")
STAGE2_ROLES = ("screenwriter",)
MODEL_ROLES = ("planner", "novelist", "screenwriter")
FORMAT = "v1"  # bump when result.json's figures change: older results are recomputed from their run dirs


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- held-out scenes ---------------------------------------------------------------------------------


def held_out_items(data_dir: Path, splits: list[str]) -> list[dict[str, Any]]:
    """Items (``{"id", "x", "split"}``) of the synthesis output's ``splits``, in split-file order."""
    from dsr.evaluation import records
    from dsr.synthesis.assemble import apply_decisions
    from dsr.synthesis.records import RUN_FILE, read_examples
    from dsr.synthesis.review import load_decisions

    if not (data_dir / RUN_FILE).is_file():
        sys.exit(f"{data_dir}: not a `dsr synthesize` output directory (no {RUN_FILE})")
    examples = {e.id: e for e, _ in apply_decisions(read_examples(data_dir), load_decisions(data_dir))}
    items = []
    for split in splits:
        split_file = data_dir / "stage1" / f"{split}.jsonl"
        if not split_file.is_file():
            sys.exit(f"{split_file}: missing; rebuild the splits with `dsr review {data_dir}`")
        for row in records.read_jsonl(split_file, ("id",)):
            example = examples.get(row["id"])
            if example is None:
                log(f"note: {row['id']} (in {split_file.name}) has no example in examples.jsonl; skipped")
                continue
            items.append({"id": example.id, "x": example.x.model_dump(mode="json"), "split": split})
    return items


def episode_items(path: Path) -> list[dict[str, Any]]:
    """Every scene of an episode file as a scene-graph item (X as ``dsr write`` builds it, no story memory)."""
    from dsr.story.episode_spec import load_episode

    spec = load_episode(path)
    return [
        {
            "id": f"{path.stem}-{i + 1:02d}",
            "x": spec.task_input(i).model_dump(mode="json"),
            "split": "episode",
        }
        for i in range(len(spec.scenes))
    ]


def training_ids(adapter: Path, stage: int) -> set[str]:
    """Ids the adapter was trained on (its ``training.json`` data dir's train split), empty when unknown."""
    info = json.loads((adapter / "training.json").read_text(encoding="utf-8"))
    data = (info.get("data") or {}).get("dir")
    train = Path(data) / f"stage{stage}" / "train.jsonl" if data else None
    if train is None or not train.is_file():
        return set()
    return {json.loads(line)["id"] for line in train.read_text(encoding="utf-8").splitlines() if line.strip()}


# --- variants ----------------------------------------------------------------------------------------


def check_adapter(path: Path | None, stage: int, option: str) -> dict[str, Any]:
    """A finished ``dsr train`` adapter of ``stage``; returns what the report says about it."""
    if path is None:
        sys.exit(f"{option} is required for this variant")
    path = path.expanduser().resolve()
    if not (path / "adapter_config.json").is_file():
        sys.exit(f"{option} {path}: not a saved LoRA adapter (no adapter_config.json)")
    if not (path / "training.json").is_file():
        sys.exit(f"{option} {path}: no training.json (an unfinished `dsr train` run)")
    info = json.loads((path / "training.json").read_text(encoding="utf-8"))
    if info.get("stage", 1) != stage:
        sys.exit(f"{option} {path}: a Stage {info.get('stage')} run, not Stage {stage}")
    return {
        "path": str(path),
        "stage": stage,
        "objective": info.get("objective"),
        "data": (info.get("data") or {}).get("dir"),
    }


def variant_roles(
    stage1: str | None, stage2: str | None, max_new_tokens: int | None, temperature: float | None = None
) -> dict[str, dict[str, Any]]:
    """Per-role overrides: the three writing roles on the embedded model, with or without adapters."""
    roles: dict[str, dict[str, Any]] = {
        "planner": {"provider": "embedded", "model": None, "adapter": stage1},
        "novelist": {
            "provider": "embedded",
            "model": None,
            "adapter": stage1,
            "prompt": "stage1" if stage1 else "default",
        },
        "screenwriter": {"provider": "embedded", "model": None, "adapter": stage2, "prompt": "default"},
    }
    if max_new_tokens:
        for role in (*MODEL_ROLES, "critic"):
            roles.setdefault(role, {})["max_new_tokens"] = max_new_tokens
    if temperature is not None:
        for role in MODEL_ROLES:
            roles[role]["temperature"] = temperature
    return roles


def build_variants(args: argparse.Namespace) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """The variants as evaluation systems, and what each runs on (for the report)."""
    from dsr.evaluation.runs import System, system_roles, validate_system

    systems, about = [], {}
    for name in args.variants:
        adapters: dict[str, Any] = {}
        if name == "sft":
            adapters = {
                "stage1": check_adapter(args.stage1_adapter, 1, "--stage1-adapter"),
                "stage2": check_adapter(args.stage2_adapter, 2, "--stage2-adapter"),
            }
        elif name == "dpo":
            adapters = {
                "stage1": check_adapter(args.dpo_stage1_adapter, 1, "--dpo-stage1-adapter"),
                "stage2": check_adapter(args.dpo_stage2_adapter, 2, "--dpo-stage2-adapter"),
            }
        roles = variant_roles(
            adapters["stage1"]["path"] if adapters else None,
            adapters["stage2"]["path"] if adapters else None,
            args.max_new_tokens,
            args.temperature,
        )
        system = System(name=name, mode="dsr", roles=roles, rubric=True)
        used = validate_system(system)
        resolved = system_roles(system)
        about[name] = {"adapters": adapters, "models": used, "roles": resolved}
        systems.append(system)
    return systems, about


def warm_up(systems: list[Any]) -> dict[str, float]:
    """Load every model each variant uses (building ONNX files with adapters baked in), timed per variant."""
    from dsr.evaluation.runs import system_roles
    from dsr.models.factory import build_chat_model
    from dsr.models.settings import RoleConfig

    seconds = {}
    for system in systems:
        started = time.perf_counter()
        for role, data in system_roles(system).items():
            build_chat_model(role, RoleConfig.model_validate(data))
        seconds[system.name] = round(time.perf_counter() - started, 1)
        log(f"warm-up {system.name}: models loaded in {seconds[system.name]} s")
    return seconds


def fingerprint(system: Any, max_retries: int) -> str:
    """What a finished run was made with: a reused result must match it."""
    from dsr.evaluation.runs import system_roles

    data = {"system": system.to_dict(), "roles": system_roles(system), "max_retries": max_retries}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# --- one run and its figures -------------------------------------------------------------------------


def figures(run_dir: Path, values: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The scene's figures from its run: first verdict, verdicts, accepted record, calls.jsonl."""
    from dsr.contract.call_log import CALL_LOG, read_run_log
    from dsr.story.checks.verdict import blamed_on, blocking
    from dsr.story.findings import Finding

    verdicts = values.get("verdicts") or []
    accepted = values.get("accepted")
    log_ = read_run_log(run_dir / CALL_LOG)
    first = [Finding.model_validate(f) for f in verdicts[0]["findings"]] if verdicts else None
    out: dict[str, Any] = {
        "ok": bool(row.get("ok")),
        "error": row.get("error"),
        "status": accepted.get("status") if accepted else None,
        "attempts": len(verdicts),
        "calls": len(log_.calls),
        "calls_by_role": {
            r: sum(c.get("role") == r for c in log_.calls)
            for r in sorted({c.get("role") for c in log_.calls})
        },
        "seconds": round(float(row.get("seconds") or 0.0), 2),
        "stage1_first_pass": None if first is None else not blocking(blamed_on(first, STAGE1_ROLES)),
        "stage2_first_pass": None if first is None else not blocking(blamed_on(first, STAGE2_ROLES)),
        "first_decision": verdicts[0]["decision"] if verdicts else None,
        "stage1_first_errors": sorted(
            {f.check for f in blamed_on(first or [], STAGE1_ROLES) if f.severity == "error"}
        ),
        "stage2_first_errors": sorted(
            {f.check for f in blamed_on(first or [], STAGE2_ROLES) if f.severity == "error"}
        ),
        "rubric_reached": any(v.get("rubric") is not None for v in verdicts),
        "rubric_judged": any((v.get("rubric") or {}).get("status") == "judged" for v in verdicts),
        "open_findings": len(accepted.get("open_findings") or []) if accepted else None,
        "split_decoding": any("split" in c for c in log_.calls),
    }
    return out


def run_dir_of(system: Any, item: dict[str, Any], work: Path) -> Path:
    from dsr.evaluation import records

    return work / "runs" / records.slug(system.name) / records.slug(item["id"])


def reusable(system: Any, item: dict[str, Any], work: Path, max_retries: int) -> dict[str, Any] | None:
    """The saved figures of a finished (variant, scene), or None when it has to run (or resume).

    A run directory made with another configuration of the variant (``bench.json``'s fingerprint) stops the
    benchmark: resuming or reusing it would mix two configurations under one name."""
    run_dir = run_dir_of(system, item, work)
    stamp_path = run_dir / "bench.json"
    if stamp_path.is_file():
        stamp = json.loads(stamp_path.read_text(encoding="utf-8")).get("fingerprint")
        if stamp != fingerprint(system, max_retries):
            sys.exit(
                f"{run_dir} was run with another configuration of '{system.name}'; use a new --work "
                "or remove that directory"
            )
    result_path = run_dir / "result.json"
    if not result_path.is_file():
        return None
    saved = json.loads(result_path.read_text(encoding="utf-8"))
    if saved.get("fingerprint") != fingerprint(system, max_retries):
        sys.exit(f"{run_dir} holds a result of another configuration of '{system.name}'; use a new --work")
    return saved["figures"] if saved.get("format") == FORMAT and saved["figures"]["ok"] else None


def run_one(system: Any, item: dict[str, Any], work: Path, max_retries: int) -> tuple[dict[str, Any], bool]:
    """Run (or reuse) one (variant, scene); returns its figures and whether they were reused."""
    from dsr.common.fsutil import write_json
    from dsr.contract.call_log import CALL_LOG, read_run_log
    from dsr.contract.report import build_report
    from dsr.evaluation.runs import run_item
    from dsr.run.runner import run_state

    saved = reusable(system, item, work, max_retries)
    if saved is not None:
        return saved, True
    run_dir = run_dir_of(system, item, work)
    run_dir.mkdir(parents=True, exist_ok=True)
    stamp = fingerprint(system, max_retries)
    write_json(run_dir / "bench.json", {"fingerprint": stamp, "variant": system.name, "item": item["id"]})
    started = time.perf_counter()
    row = run_item(system, {"id": item["id"], "x": item["x"]}, run_dir, max_retries)
    wall = time.perf_counter() - started
    values: dict[str, Any] = {}
    try:
        values = run_state(run_dir, "scene")[2]
    except Exception as exc:  # a run that left no readable state still gets its failed row
        log(f"note: {run_dir}: state unreadable ({type(exc).__name__}: {exc})")
    got = figures(run_dir, values, row) | {"wall_s": round(wall, 2)}
    if values.get("scenes"):
        context = {"mode": system.mode, "roles": system.roles}
        write_json(run_dir / "report.json", build_report(values, context, read_run_log(run_dir / CALL_LOG)))
    write_json(
        run_dir / "result.json",
        {"format": FORMAT, "fingerprint": stamp, "variant": system.name, "item": item["id"], "figures": got},
    )
    return got, False


# --- summary -----------------------------------------------------------------------------------------


def share(flags: list[bool | None]) -> tuple[float | None, int, int]:
    known = [f for f in flags if f is not None]
    return (sum(known) / len(known) if known else None, sum(bool(f) for f in known), len(known))


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    accepted = [r for r in rows if r["ok"]]
    with_verdict = [r for r in rows if r["attempts"]]
    seconds = [r["seconds"] for r in rows]
    calls = sum(r["calls"] for r in rows)
    return {
        "scenes": len(rows),
        "failed": len(rows) - len(accepted),
        "stage2_first_pass": share([r["stage2_first_pass"] for r in rows]),
        "stage1_first_pass": share([r["stage1_first_pass"] for r in rows]),
        "first_verdict_pass": share([r["first_decision"] == "pass" for r in with_verdict]),
        "calls_per_accepted": round(calls / len(accepted), 2) if accepted else None,
        "attempts_per_scene": round(statistics.fmean(r["attempts"] for r in with_verdict), 2)
        if with_verdict
        else None,
        "rubric_reached": share([r["rubric_reached"] for r in with_verdict]),
        "rubric_judged": share([r["rubric_judged"] for r in with_verdict]),
        "with_findings": share([r["status"] == "accepted_with_findings" for r in accepted]),
        "seconds_mean": round(statistics.fmean(seconds), 1) if seconds else None,
        "seconds_median": round(statistics.median(seconds), 1) if seconds else None,
    }


def check_table(
    names: list[str], items: list[dict[str, Any]], results: dict[str, dict[str, dict[str, Any]]]
) -> list[str]:
    """Share of first drafts failing each check, per variant: which rules a variant has learned (or its
    grammar holds) and which it has not, where the pass shares above only count drafts clean of all."""
    counts: dict[str, dict[str, int]] = {}
    judged = {n: 0 for n in names}
    for n in names:
        for item in items:
            r = results[n].get(item["id"])
            if r is None or not r["attempts"]:
                continue
            judged[n] += 1
            for check in {*r["stage1_first_errors"], *r["stage2_first_errors"]}:
                counts.setdefault(check, {}).setdefault(n, 0)
                counts[check][n] += 1
    lines = [
        "First drafts failing each check (errors of the first verdict, scenes with a verdict):",
        "",
        "| check | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for check in sorted(counts):
        cells = [f"{counts[check].get(n, 0)}/{judged[n]}" for n in names]
        lines.append(f"| {check} | " + " | ".join(cells) + " |")
    return lines


def beats_covered(run_dir: Path, item: dict[str, Any]) -> tuple[int, int] | None:
    """(outline beats the first Stage 1 draft covered, outline beats) from the scene's first verdict: finer than
    pass/fail, since a draft that misses one beat of five fails N1-coverage as one that misses all five does."""
    from dsr.story.checks import outline_beats
    from dsr.story.schemas import TaskInput

    critiques = sorted(run_dir.glob("scenes/*/critique.json"))
    if not critiques:
        return None
    verdicts = json.loads(critiques[0].read_text(encoding="utf-8"))
    if not verdicts:
        return None
    total = len(outline_beats(TaskInput.model_validate(item["x"])))
    missed = sum(f["check"] == "N1-coverage" for f in verdicts[0]["findings"])
    return total - missed, total


def beat_line(names: list[str], items: list[dict[str, Any]], work: Path) -> str:
    from dsr.evaluation import records

    parts = []
    for n in names:
        got = [beats_covered(work / "runs" / records.slug(n) / records.slug(i["id"]), i) for i in items]
        covered, total = sum(g[0] for g in got if g), sum(g[1] for g in got if g)
        parts.append(f"{n} {covered}/{total} ({covered / total:.0%})" if total else f"{n} -")
    return (
        "Outline beats the first Stage 1 draft covers (N1-coverage's lexical test): " + ", ".join(parts) + "."
    )


def fmt_share(value: tuple[float | None, int, int]) -> str:
    frac, hits, n = value
    return "-" if frac is None else f"{frac:.0%} ({hits}/{n})"


def markdown(
    args: argparse.Namespace,
    items: list[dict[str, Any]],
    about: dict[str, dict[str, Any]],
    warm: dict[str, float],
    results: dict[str, dict[str, dict[str, Any]]],
    loads: tuple[str, str],
) -> str:
    names = list(args.variants)
    counts = ", ".join(
        f"{split}: {sum(i['split'] == split for i in items)}"
        for split in dict.fromkeys(i["split"] for i in items)
    )
    summaries = {n: summarise([results[n][i["id"]] for i in items if i["id"] in results[n]]) for n in names}
    lines = [
        "# Does training make the embedded model pass its own critic? (benchmarks/critic_pass.py)",
        "",
        f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
        "",
        f"Load average before {loads[0]}, after {loads[1]} ({os.cpu_count()} cores). Scenes: {len(items)} held out "
        f"({counts}); "
        f"mode dsr, rubric on, no story memory, max retries {args.max_retries} per stage.",
        "",
        "| variant | Stage 2 first draft passes format checks | Stage 1 first draft passes prose rules | "
        "first verdict passes | calls / accepted scene | critic verdicts / scene | rubric reached | rubric scored | "
        "accepted with open findings | s / scene (mean, median) | failed runs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in names:
        s = summaries[n]
        lines.append(
            f"| {n} | {fmt_share(s['stage2_first_pass'])} | {fmt_share(s['stage1_first_pass'])} | "
            f"{fmt_share(s['first_verdict_pass'])} | {s['calls_per_accepted'] if s['calls_per_accepted'] is not None else '-'} | "
            f"{s['attempts_per_scene'] if s['attempts_per_scene'] is not None else '-'} | "
            f"{fmt_share(s['rubric_reached'])} | {fmt_share(s['rubric_judged'])} | {fmt_share(s['with_findings'])} | "
            f"{s['seconds_mean']}, {s['seconds_median']} | {s['failed']} / {s['scenes']} |"
        )
    lines += ["", *check_table(names, items, results), "", beat_line(names, items, args.work)]
    lines += ["", "Variants:", ""]
    for n in names:
        a = about[n]
        adapters = (
            "; ".join(
                f"{k}: `{v['path']}` ({v['objective']}, data {v['data']})" for k, v in a["adapters"].items()
            )
            or "no adapters"
        )
        models = ", ".join(f"{r} {m}" for r, m in a["models"].items())
        split = "split decoding" if a["roles"]["novelist"]["prompt"] == "stage1" else "separate calls"
        lines.append(f"- **{n}**: {adapters}; {models}; Stage 1 {split}; warm-up {warm.get(n, '-')} s")
    lines += [
        "",
        "Per scene (first-draft errors: the check ids of the first verdict's errors blamed on that stage):",
        "",
        "| scene | split | variant | status | verdicts | calls | s | Stage 1 first | Stage 2 first | rubric |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for item in items:
        for n in names:
            r = results[n].get(item["id"])
            if r is None:
                continue
            s1 = "pass" if r["stage1_first_pass"] else ", ".join(r["stage1_first_errors"]) or "-"
            s2 = "pass" if r["stage2_first_pass"] else ", ".join(r["stage2_first_errors"]) or "-"
            rubric = "scored" if r["rubric_judged"] else ("reached" if r["rubric_reached"] else "no")
            status = r["status"] or f"failed: {(r['error'] or '')[:80]}"
            lines.append(
                f"| {item['id']} | {item['split']} | {n} | {status} | {r['attempts']} | {r['calls']} | "
                f"{r['seconds']} | {s1} | {s2} | {rubric} |"
            )
    lines += [
        "",
        "Definitions: a first draft passes when the critic's first verdict on the scene holds no error blamed on "
        "its stage (Stage 2: the screenwriter; Stage 1: the planner or the novelist); calls are every model "
        "request in the run's calls.jsonl (the critic's rubric calls included) over accepted scenes; the rubric "
        "is reached on a verdict with no deterministic error, and scored when the judge gave a usable score; "
        "seconds are the scene's node timings (model loading is in the warm-up, not here).",
    ]
    return "\n".join(lines) + "\n"


# --- main --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a `dsr synthesize --teacher rules` output")
    parser.add_argument("--with-validation", action="store_true", help="also the validation split")
    parser.add_argument(
        "--episode", action="store_true", help="also every scene of examples/harbor-lights.yaml"
    )
    parser.add_argument("--stage1-adapter", type=Path)
    parser.add_argument("--stage2-adapter", type=Path)
    parser.add_argument("--dpo-stage1-adapter", type=Path)
    parser.add_argument("--dpo-stage2-adapter", type=Path)
    parser.add_argument("--variants", default="base,sft", help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--limit", type=int, default=None, help="the first N held-out scenes")
    parser.add_argument("--max-retries", type=int, default=2, help="reruns per stage (as dsr evaluate run)")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="cap planner, novelist, screenwriter and critic answers",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="sampling temperature of planner, novelist, screenwriter",
    )
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="run directories (reused by a rerun)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Markdown results")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown or not args.variants or len(set(args.variants)) != len(args.variants):
        parser.error(f"--variants: pick distinct ones of {', '.join(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from dsr.evaluation.runs import system_roles

    loads_before = load_average()
    splits = ["test", *(["validation"] if args.with_validation else [])]
    items = held_out_items(args.data.resolve(), splits)
    if args.episode:
        items += episode_items(EPISODE)
    items = items[: args.limit] if args.limit is not None else items
    if not items:
        sys.exit("no held-out scenes to run")
    systems, about = build_variants(args)
    for name, info in about.items():
        for key, adapter in info["adapters"].items():
            seen = training_ids(Path(adapter["path"]), adapter["stage"]) & {i["id"] for i in items}
            if seen:
                sys.exit(
                    f"{name}'s {key} adapter was trained on {len(seen)} of these scenes "
                    f"(e.g. {sorted(seen)[0]}); point --data at the synthesis run it was trained on"
                )
    for system in systems:
        roles = system_roles(system)
        log(
            f"variant {system.name}: "
            + ", ".join(f"{r}={roles[r]['adapter'] or 'base'}" for r in MODEL_ROLES)
            + f", novelist prompt {roles['novelist']['prompt']}, critic {roles['critic']['provider']}"
        )
    log(f"{len(items)} held-out scene(s), {len(systems)} variant(s); load average {loads_before}")
    # Only variants with a scene still to run need their models (a rerun that reuses everything loads none).
    warm = warm_up(
        [s for s in systems if any(reusable(s, i, args.work, args.max_retries) is None for i in items)]
    )
    results: dict[str, dict[str, dict[str, Any]]] = {s.name: {} for s in systems}
    args.work.mkdir(parents=True, exist_ok=True)
    for number, item in enumerate(items, 1):
        for system in systems:
            got, reused = run_one(system, item, args.work, args.max_retries)
            results[system.name][item["id"]] = got
            s1 = (
                "pass" if got["stage1_first_pass"] else ("fail" if got["stage1_first_pass"] is False else "-")
            )
            s2 = (
                "pass" if got["stage2_first_pass"] else ("fail" if got["stage2_first_pass"] is False else "-")
            )
            log(
                f"{number}/{len(items)} {item['id']} {system.name}: "
                f"{'reused' if reused else 'ran'} {got['status'] or 'FAILED ' + str(got['error'])[:120]}, "
                f"first draft S1 {s1} S2 {s2}, {got['attempts']} verdict(s), {got['calls']} calls, "
                f"rubric {'scored' if got['rubric_judged'] else 'reached' if got['rubric_reached'] else 'no'}, "
                f"{got['seconds']} s"
            )
    text = markdown(args, items, about, warm, results, (loads_before, load_average()))
    from dsr.common.fsutil import write_json

    write_json(args.work / "results.json", {"about": about, "warm_up_s": warm, "results": results})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    log(f"written: {args.out} (run directories and results.json in {args.work})")


if __name__ == "__main__":
    main()
