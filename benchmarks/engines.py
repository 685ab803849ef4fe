"""CPU inference engines side by side on the embedded model's weights, measured in one run (issue 25).

The same SmolLM2-135M-Instruct weights (the safetensors that ``dsr.models.weights.ensure_embedded_safetensors``
makes from the packaged GGUF) and the same prompt token ids go through each engine that installs from a
registry without a compiler:

- transformers bf16 ``model.generate`` on 2 torch threads: today's embedded path, the reference (fp32 too);
- ONNX Runtime GenAI int4 and int8 (``onnxruntime_genai.models.builder``; in the project's venv);
- OpenVINO GenAI int4 and int8 (``optimum-cli export openvino``) and CTranslate2 int8
  (``ct2-transformers-converter``): these pull their own transformers/torch, so they live in a separate
  environment (``--extra-python``, default /work/bench-venv/bin/python, made with
  ``python3.11 -m venv /work/bench-venv && /work/bench-venv/bin/pip install torch==2.13.0 &&
  /work/bench-venv/bin/pip install -c <(echo torch==2.13.0) 'optimum-intel[openvino]' openvino-genai
  openvino-tokenizers ctranslate2 && /work/bench-venv/bin/pip uninstall -y torchvision`` (pinning torch keeps
  pip off a CUDA build; PyPI's torchvision breaks the export: "operator torchvision::nms does not exist");
  an engine whose environment is missing, or whose conversion fails, is skipped with one line saying why.
  OpenVINO int4 uses group size 64: the default 128 does not divide the hidden size 576 (nncf
  InvalidGroupSizeError).

Each engine runs in its own worker process (loaded once; an idle worker blocks on its pipe and uses no CPU),
and the rounds interleave the engines (A B C A B C ...) so a drifting machine load hits all alike. Measured:

1. decode tokens/s: greedy, exactly ``--tokens`` new tokens (end-of-sequence suppressed where the engine
   allows), timed from the first new token to the last, on a short chat prompt;
2. first-token latency on a ``--prefill-tokens`` prompt (1,500 tokens; a different slice of the repository's
   docs in each round, so no engine can reuse a cached prefix): the prefill time;
3. each engine's ratio to transformers bf16 (median of the per-round ratios), and its ratio to the memory
   bandwidth ceiling: weight bytes read per decode token (counted from the engine's own weight files; the
   input embedding table is left out unless it is also the output projection, since a token reads one row
   of it) ÷ this machine's memory bandwidth (numpy copy and sum over 512 MB arrays, 1 and 2 threads, best
   of 5 at the start and 5 at the end of the run; the best figure is taken) = the tokens/s no engine can
   beat on this machine.

vLLM's CPU build is not run here (85 s start-up; own venv): benchmarks/results/vllm-notes.md recorded 3.31x
the embedded provider on the same weights (1 thread each).

Usage: ``nice -n 5 .venv/bin/python benchmarks/engines.py [--quick] [--rounds 3] [--prefill-rounds 2]
[--engines tf-bf16,ort-int4,...] [--out benchmarks/results/issue25-engines.md]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_EXTRA_PYTHON = Path("/work/bench-venv/bin/python")
MARK = "@@engines@@ "  # a worker's answers start with this; anything else a library prints is passed through
PROMPT = [
    {"role": "system", "content": "You are a professional screenwriter."},
    {
        "role": "user",
        "content": "Write the opening of a scene: an old lighthouse keeper finds a young sailor on the rocks "
        "at night.",
    },
]


# --------------------------------------------------------------------------------------------- workers
# Each worker answers {"op": "decode" | "prefill", "ids": [...], "new": N} with the new tokens' count, the
# seconds to the first new token and the seconds from the first to the last. Only the stdlib is imported at
# module level: the OpenVINO and CTranslate2 workers run under another Python.


class _TransformersEngine:
    def __init__(self, model_dir: str, threads: int, precision: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        torch.set_num_threads(threads)
        dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[precision]
        self.torch = torch
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).eval()
        # Bytes read per decode token: every parameter once (tied embeddings are one tensor, read whole as
        # the output projection; an untied input table would be read one row per token).
        params = dict(self.model.named_parameters())  # named_parameters() drops tied duplicates
        tied = bool(getattr(self.model.config, "tie_word_embeddings", False))
        self.weight_bytes = sum(
            p.numel() * p.element_size() for n, p in params.items() if tied or "embed_tokens" not in n
        )

    def run(self, ids: list[int], new: int) -> tuple[int, list[float]]:
        from transformers.generation.streamers import BaseStreamer

        stamps: list[float] = []

        class Stamps(BaseStreamer):
            prompt_seen = False

            def put(self, value: Any) -> None:
                if not self.prompt_seen:  # generate() hands the prompt to the streamer first
                    self.prompt_seen = True
                    return
                stamps.append(time.perf_counter())

            def end(self) -> None:
                pass

        torch = self.torch
        x = torch.tensor([ids])
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=x,
                attention_mask=torch.ones_like(x),
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=False,
                streamer=Stamps(),
            )
        return int(out.shape[1] - x.shape[1]), stamps


class _OrtEngine:
    def __init__(self, model_dir: str, threads: int) -> None:
        import onnxruntime_genai as og

        self.og = og
        config = og.Config(model_dir)
        config.overlay(
            json.dumps({"model": {"decoder": {"session_options": {"intra_op_num_threads": threads}}}})
        )
        self.model = og.Model(config)
        self.weight_bytes = _onnx_weight_bytes(Path(model_dir) / "model.onnx")

    def run(self, ids: list[int], new: int) -> tuple[int, list[float]]:
        og = self.og
        params = og.GeneratorParams(self.model)
        total = len(ids) + new
        params.set_search_options(max_length=total, min_length=total, do_sample=False)
        gen = og.Generator(self.model, params)
        stamps: list[float] = []
        gen.append_tokens(ids)  # the prefill runs here (or in the first generate_next_token)
        while not gen.is_done() and len(stamps) < new:
            gen.generate_next_token()
            gen.get_next_tokens()
            stamps.append(time.perf_counter())
        return len(stamps), stamps


def _onnx_weight_bytes(path: Path) -> int:
    """Initializer bytes read per decode token: all but tensors only gathered from (the input embedding
    table, the rotary caches), which a token reads one row of."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    users: dict[str, set[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            users.setdefault(name, set()).add(node.op_type)
    total = 0
    for t in model.graph.initializer:
        size = next((int(e.value) for e in t.external_data if e.key == "length"), len(t.raw_data))
        ops = users.get(t.name, set())
        if ops and ops <= {"Gather", "GroupQueryAttention"} and len(t.dims) >= 2:
            continue
        total += size
    return total


class _OpenVinoEngine:
    def __init__(self, model_dir: str, threads: int) -> None:
        import openvino as ov
        import openvino_genai as ov_genai

        self.ov, self.ov_genai = ov, ov_genai
        props = {"INFERENCE_NUM_THREADS": threads}
        try:  # the SDPA backend: no paged-attention prefix cache that would hand later rounds a warm prefix
            self.pipe = ov_genai.LLMPipeline(model_dir, "CPU", ATTENTION_BACKEND="SDPA", **props)
        except Exception:  # noqa: BLE001 - older releases know no ATTENTION_BACKEND
            self.pipe = ov_genai.LLMPipeline(model_dir, "CPU", **props)
        self.weight_bytes = _openvino_weight_bytes(ov, Path(model_dir) / "openvino_model.xml")

    def run(self, ids: list[int], new: int) -> tuple[int, list[float]]:
        ov, ov_genai = self.ov, self.ov_genai
        import numpy as np

        stamps: list[float] = []

        class Stamps(ov_genai.StreamerBase):
            def write(self, token: Any) -> Any:
                count = len(token) if isinstance(token, list) else 1
                now = time.perf_counter()
                stamps.extend([now] * count)
                return ov_genai.StreamingStatus.RUNNING

            def end(self) -> None:
                pass

        config = ov_genai.GenerationConfig()
        config.max_new_tokens = new
        config.min_new_tokens = new
        config.ignore_eos = True
        config.do_sample = False
        x = np.array([ids], dtype=np.int64)
        inputs = ov_genai.TokenizedInputs(ov.Tensor(x), ov.Tensor(np.ones_like(x)))
        self.pipe.generate(inputs, config, Stamps())
        return len(stamps), stamps


def _openvino_weight_bytes(ov: Any, xml: Path) -> int:
    """Constant bytes read per decode token: all weight constants except those that only feed a Gather
    (the input embedding table), following each constant through its decompression ops."""
    model = ov.Core().read_model(str(xml))
    passthrough = {"Convert", "Subtract", "Multiply", "Reshape", "Transpose", "Unsqueeze", "Squeeze"}
    total = 0
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Constant" or op.get_byte_size() < 65536:
            continue
        frontier, seen_kinds = [op], set()
        for _ in range(6):
            nxt = []
            for node in frontier:
                for target in node.output(0).get_target_inputs():
                    consumer = target.get_node()
                    kind = consumer.get_type_name()
                    if kind in passthrough:
                        nxt.append(consumer)
                    else:
                        seen_kinds.add(kind)
            frontier = nxt
            if not frontier:
                break
        if seen_kinds and seen_kinds <= {"Gather"}:
            continue
        total += op.get_byte_size()
    return total


class _Ct2Engine:
    def __init__(self, model_dir: str, threads: int, compute_type: str) -> None:
        import ctranslate2

        self.generator = ctranslate2.Generator(
            model_dir, device="cpu", compute_type=compute_type, intra_threads=threads, inter_threads=1
        )
        self.weight_bytes = _ct2_weight_bytes(Path(model_dir))

    def run(self, ids: list[int], new: int, tokens: list[str] | None = None) -> tuple[int, list[float]]:
        stamps: list[float] = []
        for _step in self.generator.generate_tokens(
            tokens, max_length=len(tokens) + new, min_length=new, sampling_topk=1
        ):
            stamps.append(time.perf_counter())
            if len(stamps) >= new:
                break
        return len(stamps), stamps


def _ct2_weight_bytes(model_dir: Path) -> int:
    """Variable bytes in model.bin read per decode token: all but the input embedding table, unless the
    output projection is that same table (an alias in the file). Parses CTranslate2's model.bin layout."""
    import struct

    with open(model_dir / "model.bin", "rb") as fh:

        def u(fmt: str) -> int:
            return struct.unpack("<" + fmt, fh.read(struct.calcsize(fmt)))[0]

        def string() -> str:
            return fh.read(u("H")).decode("utf-8").rstrip("\0")

        version = u("I")
        string()  # spec name
        if version >= 2:
            u("I")  # spec revision
        sizes = {}
        for _ in range(u("I")):
            name = string()
            rank = u("B")
            for _ in range(rank):
                u("I")
            u("B")  # dtype
            nbytes = u("I")
            fh.seek(nbytes, 1)
            sizes[name] = nbytes
        aliases = {}
        if version >= 3:
            for _ in range(u("I")):
                alias = string()
                aliases[alias] = string()
    projection = aliases.get("decoder.projection.weight", "decoder.projection.weight")
    embeddings = {n for n in sizes if n.startswith("decoder.embeddings.")}
    if projection.startswith("decoder.embeddings."):
        embeddings = set()  # tied: the table is read whole as the output projection
    return sum(b for n, b in sizes.items() if n not in embeddings)


def _worker(engine: str, model_dir: str, threads: int) -> None:
    kind, _, precision = engine.partition("-")
    started = time.perf_counter()
    if kind == "tf":
        eng: Any = _TransformersEngine(model_dir, threads, precision)
    elif kind == "ort":
        eng = _OrtEngine(model_dir, threads)
    elif kind == "ov":
        eng = _OpenVinoEngine(model_dir, threads)
    elif kind == "ct2":
        eng = _Ct2Engine(model_dir, threads, precision)
    else:
        raise SystemExit(f"unknown engine {engine}")
    out = sys.stdout
    sys.stdout = sys.stderr  # libraries' prints must not mix with the answers
    print(
        MARK
        + json.dumps(
            {"ready": True, "load_s": time.perf_counter() - started, "weight_bytes": eng.weight_bytes}
        ),
        file=out,
        flush=True,
    )
    for line in sys.stdin:
        req = json.loads(line)
        kwargs = {"tokens": req["tokens"]} if kind == "ct2" else {}
        started = time.perf_counter()
        count, stamps = eng.run(req["ids"], req["new"], **kwargs)
        answer = {
            "tokens": count,
            "first_s": (stamps[0] - started) if stamps else None,
            "decode_s": (stamps[-1] - stamps[0]) if len(stamps) > 1 else None,
            "total_s": time.perf_counter() - started,
        }
        print(MARK + json.dumps(answer), file=out, flush=True)


# ---------------------------------------------------------------------------------------------- parent
class Worker:
    """One engine in its own process, loaded once; requests go over its stdin, answers come back marked."""

    def __init__(self, engine: str, python: str, model_dir: Path, threads: int, log: Path) -> None:
        self.engine = engine
        self.log = open(log, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen(
            [
                python,
                str(Path(__file__).resolve()),
                "--worker",
                engine,
                str(model_dir),
                "--threads",
                str(threads),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        self.info = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(MARK):
                return json.loads(line[len(MARK) :])
        raise RuntimeError(f"{self.engine}: worker exited ({self.proc.wait()}); see {self.log.name}")

    def ask(self, ids: list[int], new: int, tokens: list[str]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"ids": ids, "new": new, "tokens": tokens}) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def measure_bandwidth(mb: int = 512, repeats: int = 5) -> dict[str, float]:
    """GB/s of a numpy copy (bytes read + written, as STREAM counts) and of a sum (bytes read) over an
    ``mb`` MB array, on 1 and 2 threads (each thread takes half the array; numpy drops the GIL), best of
    ``repeats``."""
    import numpy as np

    n = mb * 1024 * 1024 // 8
    src = np.ones(n)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch every page before timing

    def best(threads: int, fn: Any, bytes_moved: int) -> float:
        parts = np.array_split(np.arange(n), threads)
        bounds = [(p[0], p[-1] + 1) for p in parts]
        times = []
        for _ in range(repeats):
            ts = [threading.Thread(target=fn, args=b) for b in bounds]
            started = time.perf_counter()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            times.append(time.perf_counter() - started)
        return bytes_moved / min(times) / 1e9

    def copy(a: int, b: int) -> None:
        np.copyto(dst[a:b], src[a:b])

    def read(a: int, b: int) -> None:
        src[a:b].sum()

    out = {}
    for threads in (1, 2):
        out[f"copy_{threads}t"] = best(threads, copy, 2 * src.nbytes)
        out[f"read_{threads}t"] = best(threads, read, src.nbytes)
    return out


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def _run(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT, env=env)
    return time.perf_counter() - started


def prepare(engine: str, src: Path, work: Path, extra_python: Path, log: Path) -> tuple[Path, float]:
    """The engine's model directory, converted from ``src`` if missing; returns it and the conversion
    seconds (recorded at conversion). Raises RuntimeError with the reason when it cannot be made."""
    kind, _, precision = engine.partition("-")
    if kind == "tf":
        return src, 0.0
    target = work / engine
    done = target / ".converted"
    if done.exists():  # converted earlier: report the seconds it took then
        return target, float(done.read_text(encoding="utf-8").split()[0])
    shutil.rmtree(target, ignore_errors=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    bindir = extra_python.parent
    if kind == "ort":
        cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-m", MODEL_ID, "-i", str(src)]
        cmd += ["-o", str(target), "-p", precision, "-e", "cpu", "-c", str(work / "ort-cache")]
    elif kind == "ov":
        cmd = [
            str(bindir / "optimum-cli"),
            "export",
            "openvino",
            "-m",
            str(src),
            "--task",
            "text-generation-with-past",
        ]
        cmd += ["--weight-format", precision, str(target)]
        if precision == "int4":
            cmd[-1:-1] = ["--group-size", "64", "--ratio", "1.0"]  # 576 = 9 x 64; 128 fails
    elif kind == "ct2":
        cmd = [str(bindir / "ct2-transformers-converter"), "--model", str(src), "--output_dir", str(target)]
        cmd += ["--quantization", precision]
    else:
        raise RuntimeError(f"unknown engine {engine}")
    try:
        seconds = _run(cmd, log, env)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"conversion failed ({exc}): {' | '.join(tail)}") from exc
    done.write_text(f"{seconds:.1f}\n", encoding="utf-8")
    return target, seconds


ENGINES = {  # key: (label, precision, needs the extra environment's python, import to check)
    "tf-bf16": ("transformers generate", "bf16", False, "transformers"),
    "tf-fp32": ("transformers generate", "fp32", False, "transformers"),
    "ort-int4": ("ONNX Runtime GenAI", "int4", False, "onnxruntime_genai"),
    "ort-int8": ("ONNX Runtime GenAI", "int8", False, "onnxruntime_genai"),
    "ov-int4": ("OpenVINO GenAI", "int4", True, "openvino_genai"),
    "ov-int8": ("OpenVINO GenAI", "int8", True, "openvino_genai"),
    "ct2-int8": ("CTranslate2", "int8", True, "ctranslate2"),
}


def _importable(python: Path, module: str) -> str | None:
    """None when ``python`` imports ``module``, else why not (one line)."""
    if not python.exists():
        return f"{python} not found"
    out = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, text=True)
    if out.returncode:
        return (out.stderr.strip().splitlines() or ["import failed"])[-1]
    return None


def long_prompts(tokenizer: Any, count: int, length: int) -> list[list[int]]:
    """``count`` different ``length``-token prompts: slices of the repository's docs at different offsets."""
    text = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    while len(ids) < length + 997 * count:
        ids = ids + ids
    return [ids[997 * r : 997 * r + length] for r in range(count)]


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "–" if x is None else format(x, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("ENGINE", "MODEL_DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="defaults 1 round, 32 tokens, 256-token prefill")
    parser.add_argument("--rounds", type=int, default=3, help="decode rounds")
    parser.add_argument("--prefill-rounds", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per decode run")
    parser.add_argument("--prefill-tokens", type=int, default=1500)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated: " + ",".join(ENGINES))
    parser.add_argument(
        "--extra-python",
        type=Path,
        default=Path(os.environ.get("ENGINES_EXTRA_PYTHON", DEFAULT_EXTRA_PYTHON)),
    )
    parser.add_argument("--work-dir", type=Path, help="converted models (default: <dsr cache>/bench-engines)")
    parser.add_argument("--out", type=Path, help="write the results as Markdown here")
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker[0], args.worker[1], args.threads)
        return
    if args.quick:
        given = set(sys.argv)
        for flag, value in [
            ("--rounds", 1),
            ("--prefill-rounds", 1),
            ("--tokens", 32),
            ("--prefill-tokens", 256),
        ]:
            if flag not in given:
                setattr(args, flag[2:].replace("-", "_"), value)

    sys.path.insert(0, str(ROOT))
    from transformers import AutoTokenizer

    from dsr.models.settings import load_settings
    from dsr.models.weights import ensure_embedded_safetensors

    load_before = _load()
    print(f"load average before: {load_before}", flush=True)
    cache = load_settings().cache_dir
    src = ensure_embedded_safetensors(cache)
    work = args.work_dir or cache / "bench-engines"
    work.mkdir(parents=True, exist_ok=True)
    log = work / "engines.log"
    tokenizer = AutoTokenizer.from_pretrained(src)

    bandwidth = measure_bandwidth()
    best_bw = max(bandwidth.values())
    print("memory bandwidth GB/s: " + ", ".join(f"{k} {v:.1f}" for k, v in bandwidth.items()), flush=True)

    skipped: dict[str, str] = {}
    workers: dict[str, Worker] = {}
    conversion: dict[str, float] = {}
    for engine in args.engines.split(","):
        label, precision, extra, module = ENGINES[engine]
        python = args.extra_python if extra else Path(sys.executable)
        why = _importable(python, module)
        if why:
            skipped[engine] = f"{module} not importable with {python}: {why}"
            print(f"skip {engine}: {skipped[engine]}", flush=True)
            continue
        try:
            model_dir, conversion[engine] = prepare(engine, src, work, args.extra_python, log)
            workers[engine] = Worker(engine, str(python), model_dir, args.threads, log)
        except RuntimeError as exc:
            skipped[engine] = str(exc)
            print(f"skip {engine}: {exc}", flush=True)
            continue
        info = workers[engine].info
        print(
            f"{engine}: conversion {conversion[engine]:.0f} s, loaded in {info['load_s']:.1f} s, "
            f"{info['weight_bytes'] / 1e6:.0f} MB of weights read per token",
            flush=True,
        )

    ids = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_dict=True)["input_ids"]
    short = (list(ids), tokenizer.convert_ids_to_tokens(list(ids)))
    longs = [
        (p, tokenizer.convert_ids_to_tokens(p))
        for p in long_prompts(tokenizer, args.prefill_rounds, args.prefill_tokens)
    ]
    for engine, w in list(workers.items()):  # warm-up, and a check that the engine forces the length
        try:
            answer = w.ask(short[0], 8, short[1])
        except RuntimeError as exc:
            skipped[engine] = str(exc)
            workers.pop(engine).close()
            print(f"skip {engine}: {exc}", flush=True)
            continue
        print(f"{engine}: warm-up gave {answer['tokens']} of 8 tokens", flush=True)

    decode: dict[str, list[dict[str, Any]]] = {e: [] for e in workers}
    prefill: dict[str, list[dict[str, Any]]] = {e: [] for e in workers}
    for r in range(args.rounds):
        for engine, w in workers.items():
            a = w.ask(short[0], args.tokens, short[1])
            a["tok_s"] = (a["tokens"] - 1) / a["decode_s"] if a["decode_s"] else None
            decode[engine].append(a)
            print(
                f"decode round {r + 1} {engine}: {a['tokens']} tokens, {_fmt(a['tok_s'])} tok/s", flush=True
            )
    for r in range(args.prefill_rounds):
        for engine, w in workers.items():
            a = w.ask(longs[r][0], 1, longs[r][1])
            prefill[engine].append(a)
            print(
                f"prefill round {r + 1} {engine}: {args.prefill_tokens} tokens, first token {a['first_s']:.2f} s",
                flush=True,
            )
    for w in workers.values():
        w.close()
    load_after = _load()
    print(f"load average after: {load_after}", flush=True)
    after = measure_bandwidth()  # again at the end: a load spike at the start would understate the ceiling
    print(
        "memory bandwidth GB/s at the end: " + ", ".join(f"{k} {v:.1f}" for k, v in after.items()), flush=True
    )
    bandwidth = {k: max(v, after[k]) for k, v in bandwidth.items()}
    best_bw = max(bandwidth.values())

    ref = "tf-bf16" if "tf-bf16" in workers else None
    rows = []
    for engine in workers:
        label, precision, _, _ = ENGINES[engine]
        rates = [a["tok_s"] for a in decode[engine] if a["tok_s"]]
        tok_s = statistics.median(rates) if rates else None
        ratio = None
        if ref and rates:
            per_round = [
                a["tok_s"] / b["tok_s"]
                for a, b in zip(decode[engine], decode[ref], strict=True)
                if a["tok_s"] and b["tok_s"]
            ]
            ratio = statistics.median(per_round) if per_round else None
        pre = statistics.median(a["first_s"] for a in prefill[engine]) if prefill[engine] else None
        pre_ratio = None
        if ref and prefill[engine]:
            pre_ratio = statistics.median(
                b["first_s"] / a["first_s"] for a, b in zip(prefill[engine], prefill[ref], strict=True)
            )
        wbytes = workers[engine].info["weight_bytes"]
        ceiling = best_bw * 1e9 / wbytes
        forced = min(a["tokens"] for a in decode[engine]) if decode[engine] else 0
        rows.append(
            [
                label,
                precision,
                f"{wbytes / 1e6:.0f}",
                _fmt(tok_s),
                _fmt(ratio, ".2f") + "×" if ratio else "–",
                f"{ceiling:.0f}",
                _fmt(tok_s / ceiling if tok_s else None, ".2f"),
                _fmt(pre, ".2f"),
                _fmt(args.prefill_tokens / pre if pre else None, ".0f"),
                _fmt(pre_ratio, ".1f") + "×" if pre_ratio else "–",
                f"{conversion[engine]:.0f}" if conversion[engine] else "–",
                f"{forced}/{args.tokens}",
            ]
        )
    header = [
        "engine",
        "precision",
        "weights read/token (MB)",
        "decode tok/s (median)",
        "decode ÷ transformers bf16",
        "bandwidth ceiling tok/s",
        "decode ÷ ceiling",
        f"first token, {args.prefill_tokens}-token prompt (s)",
        "prefill tok/s",
        "prefill speed-up vs transformers bf16",
        "conversion (s)",
        "new tokens",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    table = "\n".join(lines)
    command = "nice -n 5 .venv/bin/python benchmarks/engines.py " + " ".join(sys.argv[1:])
    bw = ", ".join(f"{k.replace('_', ' ')} {v:.1f}" for k, v in bandwidth.items())
    summary = [
        f"Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} cores, load average (1/5/15 min) before {load_before}, after {load_after}. "
        f"Threads per engine: {args.threads}. Decode: greedy, {args.tokens} new tokens on a {len(short[0])}-token "
        f"chat prompt, {args.rounds} interleaved round(s); prefill: {args.prefill_rounds} round(s).",
        "",
        f"Memory bandwidth (GB/s, best of 5 at the start and 5 at the end, 512 MB arrays): {bw}; ceiling = {best_bw:.1f} GB/s ÷ weight bytes.",
        "",
        table,
    ]
    if skipped:
        summary += ["", "Not measured:", ""] + [f"- {e}: {why}" for e, why in skipped.items()]
    text = "\n".join(summary) + "\n"
    print("\n" + text)
    per_round = {e: {"decode": decode[e], "prefill": prefill[e]} for e in workers}
    print("per-round detail: " + json.dumps(per_round))
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
