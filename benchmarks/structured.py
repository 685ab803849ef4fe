"""Structured output with and without constrained decoding, side by side in one process (embedded model, CPU).

For every schema a JSON role asks for (planner, rubric, pairwise, calibration, the synthesis teacher's
steps), on that role's real prompt, greedy:
- first-try validity: the raw answer parses and validates, unconstrained vs under the schema's grammar
  (target: 100% constrained);
- tokens/s constrained / unconstrained over the same prompts (target >= 0.85);
- grammar compile time per schema, cold and cached;
- with ``--stage2 N``: Stage 2 format by construction on the first N scenes of the example episode (prose
  from the embedded novelist, once per scene): the share of first screenwriter drafts that pass the
  critic's F1 checks without and with the scene's Fountain grammar.

Usage: ``.venv/bin/python benchmarks/structured.py [--tokens 256] [--stage2 2] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
console = Console()


def cases() -> list[tuple[str, type, list]]:
    """(role step, schema, chat messages) on the project's real prompts and example data."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from dsr.evaluation.calibration import PROMPT as STORY_PROMPT
    from dsr.evaluation.calibration import StoryVerdict, load_stories
    from dsr.judging.pairwise import PROMPT as PAIR_PROMPT
    from dsr.judging.pairwise import PairVerdict
    from dsr.judging.rubric import CATEGORY_MEANING, JUDGE_PROMPT, RUBRIC_TIERS, RubricVerdict
    from dsr.prompts import prompt_messages
    from dsr.story.episode_spec import load_episode
    from dsr.story.schemas import CreativeDirectives, ExpositionStrategy, NarrativePacing, render_x
    from dsr.synthesis import drafts
    from dsr.synthesis.steps import chat

    x = load_episode(ROOT / "examples" / "harbor-lights.yaml").task_input(0)
    x_text = render_x(x)
    scene_text = (ROOT / "tests" / "data" / "critic" / "good_scene.fountain").read_text()
    story = load_stories()[0]
    names = x.character_names()

    def lc(turns: list[dict[str, str]]) -> list:
        return [
            SystemMessage(t["content"]) if t["role"] == "system" else HumanMessage(t["content"])
            for t in turns
        ]

    judge = {"tiers": RUBRIC_TIERS, "categories": CATEGORY_MEANING}
    return [
        ("planner", CreativeDirectives, prompt_messages("planner", x_text=x_text, critique=None)),
        (
            "rubric",
            RubricVerdict,
            prompt_messages(
                JUDGE_PROMPT, x_text=x_text, screenplay=scene_text, prose=None, reference=None, **judge
            ),
        ),
        (
            "pairwise",
            PairVerdict,
            prompt_messages(
                PAIR_PROMPT,
                x_text=x_text,
                screenplay_a=scene_text,
                screenplay_b=scene_text[: len(scene_text) // 2],
                **judge,
            ),
        ),
        (
            "calibration",
            StoryVerdict,
            prompt_messages(
                STORY_PROMPT,
                prompt_text=story["prompt"],
                story=" ".join(story["story"].split()[:300]),
                tiers=RUBRIC_TIERS,
                truncated=True,
            ),
        ),
        ("reverse_outline", drafts.OutlineDraft, lc(chat("reverse_outline", scene=scene_text))),
        (
            "reverse_context",
            drafts.ContextDraft,
            lc(chat("reverse_context", previous=scene_text, title="Harbor Lights")),
        ),
        (
            "reverse_characters",
            drafts.CharactersDraft,
            lc(chat("reverse_characters", scene=scene_text, names=names, previous="")),
        ),
        (
            "reverse_guidelines",
            drafts.GuidelinesDraft,
            lc(chat("reverse_guidelines", scene=scene_text, outline=x.outline.synopsis)),
        ),
        (
            "extract_exposition",
            ExpositionStrategy,
            lc(chat("extract_exposition", scene=scene_text, x_text=x_text)),
        ),
        ("extract_pacing", NarrativePacing, lc(chat("extract_pacing", scene=scene_text))),
        (
            "extract_characters",
            drafts.CharacterPlans,
            lc(chat("extract_characters", scene=scene_text, names=names)),
        ),
        (
            "fidelity_check",
            drafts.FidelityVerdict,
            lc(chat("fidelity_check", scene=scene_text, prose=x.outline.synopsis)),
        ),
    ]


def one(model, messages: list, schema: type, grammar: object | None, tokens: int) -> dict:
    """One greedy answer; valid = it parses and validates as is (no repair turn)."""
    from langchain_core.messages import HumanMessage

    from dsr.models.structured import instructions, parse_structured

    convo = [*messages, HumanMessage(instructions(schema))]
    extra = {"grammar": grammar} if grammar is not None else {}
    started = time.perf_counter()
    reply = model.invoke(convo, max_new_tokens=tokens, **extra)
    seconds = time.perf_counter() - started
    try:
        parse_structured(reply.content, schema)
        valid, problem = True, ""
    except Exception as exc:  # noqa: BLE001 - every way an answer fails counts the same here
        valid, problem = False, str(exc).splitlines()[0][:80]
    return {
        "valid": valid,
        "problem": problem,
        "tokens": reply.usage_metadata["output_tokens"],
        "seconds": seconds,
        "truncated": reply.response_metadata.get("finish_reason") == "length",
    }


def stage2(scenes: int, tokens: int) -> list[dict]:
    """First screenwriter drafts without and with the Fountain grammar: F1 errors of each."""
    from dsr.models.factory import get_chat_model
    from dsr.models.settings import load_settings
    from dsr.nodes.novelist import write_prose
    from dsr.nodes.screenwriter import write_screenplay
    from dsr.story.checks import deterministic_checks
    from dsr.story.episode_spec import load_episode

    spec = load_episode(ROOT / "examples" / "harbor-lights.yaml")
    budget = {"max_new_tokens": tokens, "temperature": 0.0}
    settings = {
        flag: load_settings(novelist=budget, screenwriter={**budget, "fountain_grammar": flag})
        for flag in (False, True)
    }
    novelist = get_chat_model("novelist", settings[False])
    rows = []
    for index in range(min(scenes, len(spec.scenes))):
        x = spec.task_input(index)
        prose = write_prose(novelist, x, None).text
        row: dict = {"scene": index + 1}
        for flag, name in ((False, "free"), (True, "held")):
            started = time.perf_counter()
            draft = write_screenplay(get_chat_model("screenwriter", settings[flag]), prose, x).text
            f1 = [
                f.check
                for f in deterministic_checks(x, prose, draft)
                if f.check.startswith("F1") and f.severity == "error"
            ]
            row[name] = {
                "f1_errors": f1,
                "passes_f1": not f1,
                "seconds": time.perf_counter() - started,
                "draft": draft,
            }
        rows.append(row)
        console.print(
            f"scene {index + 1}: F1 free {row['free']['f1_errors'] or 'pass'} / held {row['held']['f1_errors'] or 'pass'}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=256, help="max_new_tokens for every answer")
    parser.add_argument(
        "--stage2", type=int, default=0, help="also measure Stage 2 on this many example scenes"
    )
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress per step even when the output goes to a file

    from dsr.models import constrained
    from dsr.models.constrained import Grammar
    from dsr.models.factory import get_chat_model
    from dsr.models.settings import load_settings

    model = get_chat_model("judge", load_settings(judge={"temperature": 0.0}))
    tok, vocab = model.loaded.tokenizer, model.loaded.model.config.vocab_size
    constrained.clear_cache()
    started = time.perf_counter()
    constrained.compile_grammar(tok, vocab, Grammar("ebnf", 'root ::= "x"'))
    tokenizer_info_s = time.perf_counter() - started

    rows = []
    for step, schema, messages in cases():
        grammar = Grammar.json_schema(schema)
        t0 = time.perf_counter()
        constrained.compile_grammar(tok, vocab, grammar)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        constrained.compile_grammar(tok, vocab, grammar)
        cached = time.perf_counter() - t0
        free = one(model, messages, schema, None, args.tokens)
        held = one(model, messages, schema, grammar, args.tokens)
        rows.append(
            {
                "step": step,
                "schema": schema.__name__,
                "compile_cold_s": cold,
                "compile_cached_s": cached,
                "unconstrained": free,
                "constrained": held,
            }
        )
        console.print(
            f"{step}: free {'ok' if free['valid'] else free['problem']!r} / held {'ok' if held['valid'] else held['problem']!r}"
        )

    def rate(kind: str) -> float:
        return sum(r[kind]["tokens"] for r in rows) / sum(r[kind]["seconds"] for r in rows)

    table = Table(
        title=f"structured output, embedded SmolLM2-135M on CPU, greedy, max_new_tokens={args.tokens}"
    )
    for col in (
        "step",
        "schema",
        "valid free",
        "valid held",
        "tok/s free",
        "tok/s held",
        "tokens held",
        "compile cold",
        "cached",
    ):
        table.add_column(col, justify="left" if col in ("step", "schema") else "right")
    for r in rows:
        f, h = r["unconstrained"], r["constrained"]
        table.add_row(
            r["step"],
            r["schema"],
            "yes" if f["valid"] else "no",
            "yes" if h["valid"] else ("cut" if h["truncated"] else "no"),
            f"{f['tokens'] / f['seconds']:.1f}",
            f"{h['tokens'] / h['seconds']:.1f}",
            str(h["tokens"]),
            f"{r['compile_cold_s']:.2f} s",
            f"{r['compile_cached_s'] * 1e6:.0f} us",
        )
    console.print(table)
    summary = {
        "first_try_valid_unconstrained": sum(r["unconstrained"]["valid"] for r in rows) / len(rows),
        "first_try_valid_constrained": sum(r["constrained"]["valid"] for r in rows) / len(rows),
        "tokens_per_s_unconstrained": rate("unconstrained"),
        "tokens_per_s_constrained": rate("constrained"),
        "tokens_per_s_ratio": rate("constrained") / rate("unconstrained"),
        "tokenizer_info_s": tokenizer_info_s,
        "compile_cold_s_mean": sum(r["compile_cold_s"] for r in rows) / len(rows),
        "compile_cached_s_mean": sum(r["compile_cached_s"] for r in rows) / len(rows),
    }
    console.print(
        f"first-try validity: unconstrained {summary['first_try_valid_unconstrained']:.0%}, constrained "
        f"{summary['first_try_valid_constrained']:.0%} (target 100%); tokens/s constrained / unconstrained "
        f"{summary['tokens_per_s_ratio']:.2f} (target >= 0.85; {summary['tokens_per_s_constrained']:.1f} vs "
        f"{summary['tokens_per_s_unconstrained']:.1f}); tokenizer info {tokenizer_info_s:.2f} s once per tokenizer"
    )
    scenes = stage2(args.stage2, args.tokens) if args.stage2 else []
    if scenes:
        for kind in ("free", "held"):
            summary[f"stage2_first_drafts_passing_f1_{kind}"] = sum(
                r[kind]["passes_f1"] for r in scenes
            ) / len(scenes)
        console.print(
            f"Stage 2 first drafts passing F1 on {len(scenes)} scenes: without the Fountain grammar "
            f"{summary['stage2_first_drafts_passing_f1_free']:.0%}, with it {summary['stage2_first_drafts_passing_f1_held']:.0%}"
        )
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows, "stage2": scenes}, indent=1))


if __name__ == "__main__":
    main()
