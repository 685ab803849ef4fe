"""Hostile and careless input (issue 12, classes 1, 4 and 5): refused when read, as one line, exit 2.

The CLI probes run ``dsr`` under an address-space limit and a timeout, so a regression fails fast
instead of eating the machine, and assert its peak memory and time stay small.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from dsr.common.bounded_yaml import MAX_DEPTH, MAX_NODES, load_yaml
from dsr.common.errors import BadInput
from dsr.story.episode_spec import MAX_FILE_BYTES, MAX_LONG
from tests.servers import is_user_setting

DSR = Path(sys.executable).parent / "dsr"
ADDRESS_SPACE = 1 << 30  # `dsr write` refuses a bad file in about 120 MiB resident
TIMEOUT_S = 60
VALID = (
    "title: T\nseries: s\ncharacters:\n  - {name: MARA, profile: keeper}\nscenes:\n  - outline: Mara waits.\n"
)


def alias_bomb(levels: int) -> str:
    """'Billion laughs': each level is a list of nine aliases of the one before, 9**levels strings."""
    lines = [
        "title: T",
        "series: s",
        "metadata:",
        '  l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    lines += [f"  l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join([*lines, "scenes:", "  - outline: x", ""])


@dataclass
class Probe:
    returncode: int
    stderr: str
    seconds: float
    peak_mib: float


# Linux keeps a process's peak RSS across fork and exec, so a probe forked from this (large) pytest
# process would report pytest's peak. A small Python wrapper forks the probe instead and reports the
# probe's own peak (os.wait4) through a file; the probe runs under the address-space limit.
_WRAPPER = """
import os, resource, sys
report, limit, *command = sys.argv[1:]
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
    os.execv(command[0], command)
_, status, usage = os.wait4(pid, 0)
open(report, "w").write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def dsr_bounded(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Probe:
    """Run ``dsr`` with a memory limit and a timeout, and measure its own peak RSS."""
    clean = {k: v for k, v in os.environ.items() if not is_user_setting(k)}
    with tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "peak_kib"
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, str(report), str(ADDRESS_SPACE), str(DSR), *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=cwd,
            start_new_session=True,
            env={**clean, "HF_HUB_OFFLINE": "1", **(env or {})},
        )
        timer = threading.Timer(TIMEOUT_S, lambda: os.killpg(proc.pid, 9))
        timer.start()
        try:
            returncode = proc.wait()
        finally:
            timer.cancel()
        err.seek(0)
        peak_kib = float(report.read_text()) if report.is_file() else float("inf")
        return Probe(
            returncode, err.read().decode(errors="replace"), time.monotonic() - start, peak_kib / 1024
        )


def assert_refused(probe: Probe, *needles: str) -> None:
    """Exit 2, one line naming the problem, no traceback, in bounded time and memory."""
    assert probe.returncode == 2, probe.stderr[-2000:]
    assert "Traceback" not in probe.stderr
    lines = [line for line in probe.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, probe.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert probe.seconds < 45 and probe.peak_mib < 400, (probe.seconds, probe.peak_mib)


# Class 1: resource exhaustion from tiny inputs.


def test_alias_bomb_in_metadata_is_refused_by_dsr_write(tmp_path):
    episode = tmp_path / "bomb.yaml"
    episode.write_text(alias_bomb(levels=9))  # 412 bytes, 387 million strings written out
    probe = dsr_bounded("write", str(episode), "-o", str(tmp_path / "run"), cwd=tmp_path)
    assert_refused(probe, "bomb.yaml", f"limit {MAX_NODES}")
    assert not (tmp_path / "run").exists()


def test_one_megabyte_outline_is_refused_by_dsr_write(tmp_path):
    episode = tmp_path / "big.yaml"
    episode.write_text(f"title: T\nseries: s\nscenes:\n  - outline: {'x' * 1_000_000}\n")
    probe = dsr_bounded("write", str(episode), "-o", str(tmp_path / "run"), cwd=tmp_path)
    assert_refused(probe, "big.yaml:4: 'scenes.0.outline'", f"at most {MAX_LONG} characters")
    assert not (tmp_path / "run").exists()


def test_episode_file_past_the_size_limit_is_refused_unread(tmp_path):
    episode = tmp_path / "huge.yaml"
    episode.write_text("title: T\nseries: s\nscenes:\n" + "  - outline: x\n" * 100_000)
    probe = dsr_bounded("write", str(episode), "-o", str(tmp_path / "run"), cwd=tmp_path)
    assert_refused(probe, "huge.yaml is 1500027 bytes", f"limit of {MAX_FILE_BYTES} bytes")


def test_alias_bomb_is_refused_by_dsr_lint_profiles(tmp_path):
    (tmp_path / "bomb.yaml").write_text(alias_bomb(levels=9))
    (tmp_path / "s.fountain").write_text("INT. ROOM - DAY\n\nMara waits.\n")
    probe = dsr_bounded("lint", "s.fountain", "--profiles", "bomb.yaml", cwd=tmp_path)
    assert_refused(probe, "bomb.yaml", f"limit {MAX_NODES}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (alias_bomb(levels=7), f"more than {MAX_NODES} values"),
        (
            "a: &a [" + ", ".join(["x" * 5000] * 100) + "]\nb: [" + ", ".join(["*a"] * 100) + "]\n",
            "characters",
        ),
        ("a: &a {b: *a}\n", "refers to its own anchor"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", f"deeper than {MAX_DEPTH} levels"),
    ],
    ids=["billion-laughs", "alias-of-long-text", "recursive-alias", "deep-nesting"],
)
def test_bounded_loader_refuses_expansion_before_constructing(text, expected):
    with pytest.raises(BadInput, match=expected) as info:
        load_yaml(text, "f.yaml")
    assert str(info.value).startswith("f.yaml: ") and "\n" not in str(info.value)


def test_bounded_loader_reads_ordinary_anchors_and_merge_keys():
    data = load_yaml("base: &b {lr: 0.1, steps: 3}\nlora:\n  <<: *b\n  steps: 5\nlist: [*b, *b]\n", "c.yaml")
    assert data["lora"] == {"lr": 0.1, "steps": 5} and data["list"] == [data["base"]] * 2


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_every_yaml_reader_is_bounded(tmp_path, suffix):
    """Training configs, evaluation system files and lint profiles share the bounded loader."""
    from dsr.cli.lint import _load_profiles
    from dsr.evaluation.runs import load_systems_file
    from dsr.training.config import read_config_file

    path = tmp_path / f"bomb{suffix}"
    path.write_text(alias_bomb(levels=7))  # expands to 5 million strings: harmless if a reader regressed
    for reader in (read_config_file, load_systems_file, _load_profiles):
        with pytest.raises(BadInput, match=f"limit {MAX_NODES}"):
            reader(path)


# Class 4 (numbers) and class 5 (accepted but meaningless), through the CLI: refused before a run starts.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            VALID.replace("series: s\n", "series: s\nepisode: 1000000000000000000000000000000\n"),
            "'episode': Input should be less than or equal to 99999",
        ),
        (VALID.replace("Mara waits.", '"  \\t "'), "'scenes.0.outline': is empty or only whitespace"),
        (
            VALID + "    characters: [MARA, ZED]\n",
            "scene 1 names 'ZED', who is not in the episode's characters",
        ),
    ],
    ids=["episode-too-large", "whitespace-outline", "unknown-character"],
)
def test_meaningless_episode_is_refused_before_writing_anything(tmp_path, text, expected):
    episode = tmp_path / "ep.yaml"
    episode.write_text(text)
    probe = dsr_bounded("write", str(episode), "-o", str(tmp_path / "run"), cwd=tmp_path)
    assert_refused(probe, expected)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["doctor", "write"])
def test_misspelled_role_in_env_is_one_line(tmp_path, command):
    episode = tmp_path / "ep.yaml"
    episode.write_text(VALID)
    args = ["write", str(episode), "-o", str(tmp_path / "run")] if command == "write" else ["doctor"]
    probe = dsr_bounded(*args, cwd=tmp_path, env={"DSR_NOVLIST__PROVIDER": "openai"})
    assert_refused(
        probe, "DSR_NOVLIST__PROVIDER", "unknown role 'novlist'", "did you mean DSR_NOVELIST__PROVIDER?"
    )
    assert not (tmp_path / "run").exists()
