"""The linter's rules, one module per concern; importing the package registers every check in order."""

from dsr.screenplay.lint_rules import dialogue, prose, structure
from dsr.screenplay.lint_rules.cast import Cast, CastMember, cast_from, cast_from_episode, normalise_name
from dsr.screenplay.lint_rules.core import CHECKS, RULES, SEVERITY_ORDER, Context, Finding, Rule, Severity

__all__ = [
    "CHECKS",
    "RULES",
    "SEVERITY_ORDER",
    "Cast",
    "CastMember",
    "Context",
    "Finding",
    "Rule",
    "Severity",
    "cast_from",
    "cast_from_episode",
    "dialogue",
    "normalise_name",
    "prose",
    "structure",
]
