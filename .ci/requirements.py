"""Print the project's requirements (base plus the named extras) without the packages given after --without.

The Makefile installs xgrammar with --no-deps: it lists triton (~200 MB), which constrained decoding on
CPU never uses, and pip cannot be told to skip one dependency of a dependency.
Usage: python .ci/requirements.py dev train --without xgrammar
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("extras", nargs="*")
parser.add_argument("--without", nargs="*", default=[])
args = parser.parse_args()
project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
requirements = project["dependencies"] + [r for e in args.extras for r in project["optional-dependencies"][e]]
skip = {w.lower() for w in args.without}
for requirement in requirements:
    if re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower() not in skip:
        print(requirement)
