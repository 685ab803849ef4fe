"""The LLM judge over an evaluation: rubric scores per (item, system) and pairwise verdicts per pair.

Scores come from :func:`dsr.judging.rubric.judge_scene`, the critic's own rubric (one implementation). The
judge sees what a blind human rater would: the brief X and the screenplay, no prose and no reference,
the same for every system including the human one.

Judgments are cached in their own files: each row carries a ``cache_key`` (hash of X, the screenplay,
the judge's configuration, samples and prompt version), so a rerun judges only what is missing or
changed. A judge that could not be reached is recorded as failed without a key, so the next run tries
again; a judge whose answer stayed unusable is recorded as failed with its key (``retry_failed`` asks
again). Calls run in a thread pool; files are rewritten atomically after every finished judgment.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Callable
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

from langchain_core.runnables.config import ContextThreadPoolExecutor

from dsr import prompts
from dsr.common.errors import BadInput
from dsr.evaluation import records
from dsr.judging.pairwise import PROMPT as PAIR_PROMPT
from dsr.judging.pairwise import judge_pair
from dsr.judging.rubric import ERROR_CATEGORIES, JUDGE_PROMPT, judge_scene
from dsr.models.structured import counting, tally
from dsr.story.schemas import TaskInput


def default_label(cfg: Any) -> str:
    """``<provider>-<model>``: what a report's reader needs to know about who judged."""
    model = cfg.model or ("SmolLM2-135M-Instruct" if cfg.provider == "embedded" else "default")
    return records.slug(f"{cfg.provider}-{Path(model).name}")


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def _error_counts(summary: dict[str, Any]) -> dict[str, int]:
    """Errors per category: rounded mean over the valid samples (the exact count with one sample)."""
    verdicts = summary["verdicts"]
    if not verdicts:
        return {c: 0 for c in ERROR_CATEGORIES}
    return {
        c: round(sum(len(v["errors"].get(c, [])) for v in verdicts) / len(verdicts)) for c in ERROR_CATEGORIES
    }


def _failure_reason(exc: Exception) -> str:
    from dsr.models.errors import endpoint_failure
    from dsr.models.settings import load_settings

    failure = endpoint_failure("judge", load_settings().judge, exc)
    return str(failure) if failure else f"{type(exc).__name__}: {exc}"[:500]


class _Files:
    """The two result files of one judge, kept in memory and rewritten atomically under a lock."""

    def __init__(self, eval_dir: Path, label: str):
        self.eval_dir, self.label = eval_dir, label
        self.lock = threading.Lock()
        jpath, ppath = records.judgments_path(eval_dir, label), records.pairwise_path(eval_dir, label)
        self.scores = {
            (r["item"], r["system"]): r for r in (records.read_judgments(jpath) if jpath.is_file() else [])
        }
        self.pairs = {
            (r["item"], r["a"], r["b"], r["shown_first"]): r
            for r in (records.read_pairwise(ppath) if ppath.is_file() else [])
        }

    def put_score(self, row: dict[str, Any]) -> None:
        with self.lock:
            self.scores[(row["item"], row["system"])] = row
            records.write_judgments(self.eval_dir, self.label, list(self.scores.values()))

    def put_pair(self, row: dict[str, Any]) -> None:
        with self.lock:
            self.pairs[(row["item"], row["a"], row["b"], row["shown_first"])] = row
            records.write_pairwise(self.eval_dir, self.label, list(self.pairs.values()))


def _cached(row: dict[str, Any] | None, key: str, retry_failed: bool) -> bool:
    return row is not None and row.get("cache_key") == key and not (retry_failed and row["failed"])


def judge_eval(
    eval_dir: Path,
    *,
    samples: int = 1,
    pairwise: bool = True,
    pairwise_human: bool = False,
    concurrency: int = 1,
    label: str | None = None,
    retry_failed: bool = False,
    max_repairs: int = 1,
    on_start: Callable[[int, int], None] = lambda total, cached: None,
    on_done: Callable[[], None] = lambda: None,
    model_factory: Callable[[str, Any], Any] | None = None,
) -> dict[str, Any]:
    """Judge every output of EVAL_DIR (and every pair of systems, both orders); returns counts.

    ``model_factory(role, config)`` builds the judge instead of the configured provider, as a run's
    context does for its roles (tests script the judge this way)."""
    from dsr.models.factory import embedded_backend, get_chat_model, validate_role
    from dsr.models.settings import load_settings

    if samples < 1:
        raise BadInput("--samples must be at least 1")
    config = records.read_eval_config(eval_dir)
    outputs = records.read_all_outputs(eval_dir)
    systems = [s for s in outputs if s != records.HUMAN]
    if not systems:
        raise BadInput(f"{eval_dir} has no system outputs; run `dsr evaluate run` first")
    items = {i["id"]: i for i in records.read_items(Path(config["set_dir"]))}
    unknown = sorted({r["item"] for rows in outputs.values() for r in rows} - set(items))
    if unknown:
        raise BadInput(f"outputs name items that are not in {config['set_dir']}: {', '.join(unknown[:5])}")
    settings = load_settings()
    validate_role("judge", settings)
    cfg = settings.judge
    label = records.slug(label) if label else default_label(cfg)
    if label.startswith("human"):
        raise BadInput(f"judge label '{label}' is reserved for human raters; pick another --label")
    backend = embedded_backend(settings) if cfg.provider == "embedded" else cfg.provider
    identity = cfg.output_shaping() | {"backend": backend, "max_repairs": max_repairs}
    loaded: list[Any] = []
    load_lock = threading.Lock()

    def model() -> Any:
        """The judge model, loaded on first use: a fully cached rerun loads nothing."""
        with load_lock:
            if not loaded:
                loaded.append(
                    model_factory("judge", cfg) if model_factory else get_chat_model("judge", settings)
                )
            return loaded[0]

    versions = {"rubric": prompts.version(JUDGE_PROMPT), "pairwise": prompts.version(PAIR_PROMPT)}
    files = _Files(eval_dir, label)
    jobs: list[Callable[[], None]] = []
    cached = 0

    def score_job(system: str, row: dict[str, Any], key: str) -> Callable[[], None]:
        def run() -> None:
            base = {"item": row["item"], "system": system, "judge": label, "samples": samples}
            if not row["ok"]:
                files.put_score(
                    records.judgment_row(
                        **base,
                        score=None,
                        failed=True,
                        reason=f"no output to judge: the run failed ({row['error']})",
                        valid_samples=0,
                    )
                    | {"cache_key": key}
                )
                return
            x = TaskInput.model_validate(items[row["item"]]["x"])
            try:
                result = judge_scene(model(), x, row["screenplay"], samples=samples, max_repairs=max_repairs)
            except Exception as exc:  # unreachable judge: recorded, retried on the next run (no key)
                files.put_score(
                    records.judgment_row(
                        **base,
                        score=None,
                        failed=True,
                        reason=f"judge call failed: {_failure_reason(exc)}",
                        valid_samples=0,
                    )
                    | {"cache_key": None}
                )
                return
            summary = result.summary()
            files.put_score(
                records.judgment_row(
                    **base,
                    score=summary["score"],
                    variance=summary["variance"],
                    errors=_error_counts(summary),
                    failed=summary["failed"],
                    reason=summary["reason"],
                    valid_samples=summary["valid_samples"],
                    detail=summary,
                )
                | {"cache_key": key}
            )

        return run

    for system, rows in outputs.items():
        for row in rows:
            key = _key(
                "rubric",
                items[row["item"]]["x"],
                row["ok"],
                row["screenplay"],
                samples,
                identity,
                versions["rubric"],
            )
            if _cached(files.scores.get((row["item"], system)), key, retry_failed):
                cached += 1
            else:
                jobs.append(score_job(system, row, key))

    def pair_job(
        item_id: str, a: str, b: str, first: str, key: str, ra: dict[str, Any], rb: dict[str, Any]
    ) -> Callable[[], None]:
        def run() -> None:
            base = {"shown_first": first}
            missing = [s for s, r in ((a, ra), (b, rb)) if not r["ok"]]
            if missing:
                files.put_pair(
                    records.pairwise_row(
                        item_id,
                        a,
                        b,
                        label,
                        **base,
                        winner=None,
                        failed=True,
                        reason=f"no output to compare from {', '.join(missing)}",
                    )
                    | {"cache_key": key}
                )
                return
            x = TaskInput.model_validate(items[item_id]["x"])
            try:
                got = judge_pair(
                    model(), x, ra["screenplay"], rb["screenplay"], shown_first=first, max_repairs=max_repairs
                )
            except Exception as exc:
                files.put_pair(
                    records.pairwise_row(
                        item_id,
                        a,
                        b,
                        label,
                        **base,
                        winner=None,
                        failed=True,
                        reason=f"judge call failed: {_failure_reason(exc)}",
                    )
                    | {"cache_key": None}
                )
                return
            files.put_pair(
                records.pairwise_row(
                    item_id,
                    a,
                    b,
                    label,
                    **base,
                    winner=got["winner"],
                    failed=got["failed"],
                    reason=got["reason"],
                )
                | {"rationale": got["rationale"], "attempts": got["attempts"], "cache_key": key}
            )

        return run

    pair_systems = systems + ([records.HUMAN] if pairwise_human and records.HUMAN in outputs else [])
    n_pairs = 0
    if pairwise and len(pair_systems) >= 2:
        by_item = {s: {r["item"]: r for r in outputs[s]} for s in pair_systems}
        for a, b in itertools.combinations(pair_systems, 2):
            for item_id in [i for i in items if i in by_item[a] and i in by_item[b]]:
                ra, rb = by_item[a][item_id], by_item[b][item_id]
                for first in ("a", "b"):
                    n_pairs += 1
                    key = _key(
                        "pair",
                        items[item_id]["x"],
                        ra["screenplay"],
                        rb["screenplay"],
                        ra["ok"],
                        rb["ok"],
                        first,
                        identity,
                        versions["pairwise"],
                    )
                    if _cached(files.pairs.get((item_id, a, b, first)), key, retry_failed):
                        cached += 1
                    else:
                        jobs.append(pair_job(item_id, a, b, first, key, ra, rb))
    on_start(len(jobs) + cached, cached)
    # The pool carries the context, so every judge call of this run lands in its count.
    with counting() as structured, ContextThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for future in as_completed([pool.submit(job) for job in jobs]):
            future.result()
            on_done()
    # Files exist even when everything was cached or there were no pairs, so readers find them.
    records.write_judgments(eval_dir, label, list(files.scores.values()))
    records.write_pairwise(eval_dir, label, list(files.pairs.values()))
    config = records.read_eval_config(eval_dir)
    before = config.get("judges", {}).get(label, {}).get("structured", {})
    config.setdefault("judges", {})[label] = {
        "role": "judge",
        "config": cfg.public_dict(),
        "identity": identity,
        "samples": samples,
        "pairwise": pairwise,
        "pairwise_human": pairwise_human,
        "prompt_versions": versions,
        # This run's judge calls (the last run that called the judge, when all was cached): per role the
        # mechanism, first-try validity, repair turns and truncations.
        "structured": tally(structured) if jobs else before,
    }
    records.write_eval_config(eval_dir, config)
    scored = list(files.scores.values())
    pairs = list(files.pairs.values())
    return {
        "label": label,
        "judged": len(jobs),
        "cached": cached,
        "scores": len(scored),
        "scores_failed": sum(r["failed"] for r in scored),
        "pairs": len(pairs),
        "pairs_failed": sum(r["failed"] for r in pairs),
        "pair_orders_planned": n_pairs,
    }
