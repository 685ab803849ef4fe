"""The cast a screenplay is checked against: canonical names plus the aliases a profile allows.

Profiles come as plain names (the ``lint`` contract), as mappings with ``name`` and optional
``aliases`` (an episode file's ``characters`` list), or as :class:`CastMember`. A cue matches a member
only by its full name or a listed alias, so 'BOB' is not 'CYBER BOB' unless the profile says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dsr.screenplay.errors import ScreenplayError
from dsr.screenplay.inline import plain
from dsr.screenplay.lexicon import GROUP_CUES


class CastMember(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)


def normalise_name(name: str) -> str:
    """A cue reduced to the character: upper case; extensions, a trailing '^' or ':' removed."""
    name = re.sub(r"\s*\^\s*$", "", plain(name))
    name = name.replace("’", "'").strip().rstrip(":")
    name = re.sub(r"(\s*\([^()]*\))+\s*$", "", name)
    return " ".join(name.upper().split())


class Cast:
    """Name lookup over a list of members; group cues (ALL, BOTH) and 'A AND B' pairs are accepted."""

    def __init__(self, members: Iterable[CastMember]) -> None:
        self.members = list(members)
        self._names: dict[str, str] = {}
        for member in self.members:
            for name in (member.name, *member.aliases):
                if normalise_name(name):
                    self._names[normalise_name(name)] = member.name

    def names(self) -> frozenset[str]:
        """Every accepted spelling, normalised (canonical names and aliases)."""
        return frozenset(self._names)

    def resolve(self, cue: str) -> str | None:
        """The canonical name a cue stands for, or None when it names nobody in the cast."""
        key = normalise_name(cue)
        if key in self._names:
            return self._names[key]
        if key in GROUP_CUES:
            return key
        parts = [p for p in re.split(r"\s*(?:&|/|,|\bAND\b)\s*", key) if p]
        if len(parts) > 1 and all(p in self._names for p in parts):
            return key
        return None


def cast_from(profiles: Iterable[str | Mapping[str, Any] | CastMember]) -> Cast:
    """Build a :class:`Cast` from names, mappings or members; a malformed entry is bad input."""
    members: list[CastMember] = []
    for index, entry in enumerate(profiles):
        try:
            if isinstance(entry, CastMember):
                members.append(entry)
            elif isinstance(entry, str):
                members.append(CastMember(name=entry))
            elif isinstance(entry, Mapping):
                members.append(CastMember.model_validate(dict(entry)))
            else:
                raise ScreenplayError(f"character {index + 1}: expected a name or a mapping with 'name'")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "entry"
            raise ScreenplayError(f"character {index + 1}: {where}: {first['msg']}") from None
    return Cast(members)


def cast_from_episode(data: Any) -> Cast:
    """The cast of an episode file (docs/design.md 'Episode file'): ``characters[].name`` and ``aliases``."""
    if not isinstance(data, Mapping):
        raise ScreenplayError("episode file: expected a mapping with a 'characters' list at the top level")
    characters = data.get("characters")
    if not isinstance(characters, list) or not characters:
        raise ScreenplayError("episode file: 'characters' must be a non-empty list of {name, profile}")
    return cast_from(characters)
