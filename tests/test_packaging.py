"""The package as a user installs it: one namespace (``dsr``) and one script (``dsr``), nothing generic in
site-packages; a clone carries everything it reads (nothing from a sibling folder beside the clone)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: How code would reach a sibling folder beside the clone; spelled in pieces so this file does not match itself.
SIBLING_PATHS = ("../" + "shared", '"shared" / ' + '"corpus"')


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built offline with the venv's own setuptools."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("dsr_screenwriter-*.whl")
    return built


def test_wheel_holds_only_the_dsr_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"dsr"}
    # The folders the design names are all there, data files included.
    for path in ("dsr/graph/builder.py", "dsr/nodes/critic.py", "dsr/contract/state.py", "dsr/run/runner.py"):
        assert path in names
    assert any(n.startswith("dsr/prompts/") and n.endswith(".md") for n in names)
    assert any(n.startswith("dsr/room/templates/") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "dsr = dsr.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_wheel_installs_one_name_and_one_script_into_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    before_site, before_bin = (
        set(p.name for p in site.iterdir()),
        set(p.name for p in (venv / "bin").iterdir()),
    )
    # No dependencies: what the wheel itself adds is the question (they come from PyPI in a real install).
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    added_site = set(p.name for p in site.iterdir()) - before_site
    added_bin = set(p.name for p in (venv / "bin").iterdir()) - before_bin
    assert {n for n in added_site if not n.endswith(".dist-info")} == {"dsr"}, added_site
    assert added_bin == {"dsr"}
    # The installed copy is the one imported (not the source tree): its modules live in site-packages. Only
    # modules without third-party imports load here (the venv has no dependencies).
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import dsr; print(dsr.__file__); print(dsr.__version__)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert where.returncode == 0, where.stderr
    module_file, version = where.stdout.split()
    assert module_file.startswith(str(site)) and version != "0+unknown"
    assert (site / "dsr" / "prompts").is_dir() and list((site / "dsr" / "prompts").glob("*.md"))


def test_nothing_reads_a_sibling_shared_folder() -> None:
    """The clone carries its corpus (data/corpus) and docs (docs/): no code, test, config or benchmark reaches
    outside the repository for them (benchmarks/results keeps earlier measurements' text as written)."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = [
        name
        for name in tracked
        if not name.startswith(("docs/", "data/"))
        and (ROOT / name).is_file()
        and any(s in (ROOT / name).read_text(errors="replace") for s in SIBLING_PATHS)
    ]
    assert offenders == []
