"""DSR Screenwriter: Dual-Stage Refinement (arXiv 2510.23163) as a LangGraph state machine.

Every module installs under this one name. The folders the design names (``graph/``, ``nodes/``,
``memory/``, ``prompts/`` and the rest) stay at the repository's top level; ``pyproject.toml`` maps each
to ``dsr.<folder>`` (setuptools ``package-dir``), so ``pip install`` adds ``dsr`` and nothing generic.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dsr-screenwriter")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
