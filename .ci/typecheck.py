"""``make typecheck``: mypy over the packages named in pyproject's [tool.dsr.typecheck], as the wheel lays them out.

mypy cannot follow setuptools' editable-install finder (``dsr.graph`` -> ``graph/``, pyproject's package-dir),
so this makes a tree of links shaped like the installed package (``build/typecheck/dsr/graph -> graph/``) and
checks that; paths in mypy's output are written back as the repository's own (``graph/builder.py:12``).
Exit status is mypy's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "typecheck"


def link_tree(package_dir: dict[str, str]) -> dict[str, str]:
    """build/typecheck/<dotted path> -> each mapped folder; returns link prefix -> repository prefix."""
    shutil.rmtree(TREE, ignore_errors=True)
    prefixes = {}
    for name, folder in sorted(package_dir.items()):
        target = TREE.joinpath(*name.split("."))
        target.parent.mkdir(parents=True, exist_ok=True)
        if (
            "." not in name
        ):  # the namespace's own folder holds the mapped ones: a real folder, its files linked
            target.mkdir()
            for item in (ROOT / folder).iterdir():
                if item.is_file():
                    (target / item.name).symlink_to(item)
        else:
            target.symlink_to(ROOT / folder, target_is_directory=True)
        prefixes[f"{target.relative_to(ROOT)}/"] = f"{folder}/" if folder != "." else ""
    return prefixes


def main() -> int:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    prefixes = link_tree(pyproject["tool"]["setuptools"]["package-dir"])
    packages = pyproject["tool"]["dsr"]["typecheck"]["packages"]
    command = [
        sys.executable,
        "-m",
        "mypy",
        *(arg for p in packages for arg in ("-p", f"dsr.{p}")),
        *sys.argv[1:],
    ]
    env = {**os.environ, "MYPYPATH": str(TREE)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines():
        for link, real in sorted(prefixes.items(), key=lambda kv: -len(kv[0])):
            if line.startswith(link):
                line = real + line.removeprefix(link)
                break
        print(line)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
