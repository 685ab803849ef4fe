"""``dsr memory show|edit|forget``: review a series' story memory, correct or delete a fact, on the record.

``show`` lists every fact of a series (where it was established, kind, subject, source, and whether a later
fact superseded it or a writer corrected or forgot it) and each character's state as the facts have it,
at the end of the story or ``--at EPISODE:SCENE``. ``edit`` stores a writer's correction: a new fact at the
same story position that wins over the one it replaces (marked ``corrected``); ``forget`` marks a fact
``forgotten``. Both record who did it (``--by``, default ``$USER``) and when; nothing is deleted, and a rerun
of the scene does not bring a corrected or forgotten fact back.
"""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from dsr.cli.console import console, shown
from dsr.common.errors import BadInput

memory_app = typer.Typer(
    name="memory",
    help="Review a series' story memory: list facts and character states, correct or forget a fact.",
    no_args_is_help=True,
)

MemoryDir = Annotated[
    str,
    typer.Argument(
        help="a story memory (--memory DIR of dsr write), a run directory, or a Chroma server URL"
    ),
]
By = Annotated[str | None, typer.Option("--by", help="who makes the change (default: $USER)")]


def _who(by: str | None) -> str:
    if by is not None and by.strip():
        return by.strip()
    if by is not None:
        raise BadInput("--by is blank; name who makes the change")
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _open(location: str) -> Any:
    """The StoryMemory at ``path`` (or at ``path/memory``, a run directory's, or on a Chroma server);
    never creates a directory."""
    from dsr.memory import StoryMemory
    from dsr.memory.client import is_server

    if is_server(location):
        return StoryMemory(location)
    path = Path(location)

    for candidate in (path, path / "memory"):
        if (candidate / "chroma.sqlite3").is_file():
            return StoryMemory(str(candidate))
    if not path.exists():
        raise BadInput(
            f"{path} does not exist; give the --memory DIR of a dsr write run (default RUN_DIR/memory)"
        )
    raise BadInput(f"{path} is not a story memory (no chroma.sqlite3 in it or in {path / 'memory'})")


def _series(mem: Any, series: str | None) -> str:
    known = mem.series()
    if series is not None:
        if series not in known:
            raise BadInput(
                f"memory holds no series {series!r}; it holds: {', '.join(known) or 'nothing yet'}"
            )
        return series
    if len(known) == 1:
        return known[0]
    if not known:
        raise BadInput("this memory holds no series yet; write an episode with --memory first")
    raise BadInput(f"this memory holds several series ({', '.join(known)}); pick one with --series")


def _position(at: str | None) -> tuple[int, int] | None:
    if at is None:
        return None
    episode, sep, scene = at.partition(":")
    if not sep or not episode.strip().isdigit() or not scene.strip().isdigit():
        raise BadInput(
            f"--at {at!r}: use EPISODE:SCENE, e.g. 2:1 (the story as it stood when that scene began)"
        )
    return int(episode), int(scene)


def _fact_or_fail(mem: Any, fact_id: str) -> Any:
    fact = mem.get_fact(fact_id)
    if fact is None:
        raise BadInput(f"no fact {fact_id!r} in this memory; `dsr memory show` lists the ids")
    return fact


def _status(fact: Any, superseded: dict[str, str], corrected_by: dict[str, str]) -> str:
    if fact.status == "corrected":
        return f"corrected by {fact.by or '?'}" + (
            f" -> {corrected_by[fact.id]}" if fact.id in corrected_by else ""
        )
    if fact.status == "forgotten":
        return f"forgotten by {fact.by or '?'}"
    if fact.id in superseded:
        return f"superseded by {superseded[fact.id]}"
    return "in force" if fact.slot else "happened"


@memory_app.command("show")
def show(
    memory: MemoryDir,
    series: Annotated[
        str | None, typer.Option(help="the series (needed when the memory holds several)")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="EPISODE:SCENE: the story as it stood when that scene began")
    ] = None,
    character: Annotated[
        str | None, typer.Option(help="only facts about this character (name or alias)")
    ] = None,
    all_facts: Annotated[bool, typer.Option("--all", help="also list corrected and forgotten facts")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List a series' facts (with provenance and status) and each character's state derived from them."""
    from dsr.memory.records import name_key
    from dsr.memory.state import character_states, resolve

    before = _position(at)
    mem = _open(memory)
    name = _series(mem, series)
    facts = [f for f in mem.all_facts(name) if before is None or f.order < order_key(before)]
    if character is not None:
        keys = {name_key(character)}.union(
            *(rec.keys() for rec in mem.profiles(name, [character], before=before))
        )
        facts = [f for f in facts if keys & {name_key(c) for c in [*f.characters, f.subject, f.about]}]
    _, superseded = resolve(facts)
    corrected_by = {f.replaces: f.id for f in facts if f.replaces}
    listed = [f for f in facts if all_facts or f.active]
    cast = {rec.name: rec.keys() for rec in mem.profiles(name, None, before=before)}
    known = set().union(*cast.values())
    for f in facts:  # characters only the facts name (no profile stored): their own key
        for who in ([f.about] if f.kind in ("holder", "relationship") else []) + (
            [] if f.kind == "holder" else [f.subject]
        ):
            if who.strip() and name_key(who) not in known:
                cast[who] = {name_key(who)}
                known.add(name_key(who))
    if character is not None:
        cast = {n: k for n, k in cast.items() if name_key(character) in k} or {
            character: {name_key(character)}
        }
    states = {
        n: s.lines(limit=50) for n, s in character_states(mem.fact_history(name, before=before), cast).items()
    }
    if as_json:
        rows = [
            f.model_dump(mode="json") | {"where": f.where, "state": _status(f, superseded, corrected_by)}
            for f in listed
        ]
        print(
            json.dumps(
                {"series": name, "at": at, "facts": rows, "states": states}, ensure_ascii=False, indent=1
            )
        )
        return
    console.print(
        f"[bold]{shown(name)}[/]: {len(listed)} facts{f' before {at}' if at else ''}", highlight=False
    )
    for f in listed:
        source = f.source + (f" by {f.by}" if f.by and f.source == "writer" else "")
        subject = f.subject + (f" -> {f.about}" if f.about else "")
        line = f"{f.id}  {f.where}  {f.kind}  {subject or '-'}  {f.text}  [{source}; {_status(f, superseded, corrected_by)}]"
        console.print(shown(line), highlight=False, soft_wrap=True)
    console.print(f"[bold]character state{f' before {at}' if at else ''}[/]", highlight=False)
    for who, lines in sorted(states.items()):
        console.print(
            shown(who) + "".join(f"\n  {shown(line)}" for line in lines), highlight=False, soft_wrap=True
        )
    if not states:
        console.print("  none yet: no typed facts (location, holder, state, knowledge, ...)", highlight=False)


def order_key(position: tuple[int, int]) -> int:
    from dsr.memory.records import order_of

    return order_of(*position)


@memory_app.command("edit")
def edit(
    memory: MemoryDir,
    fact_id: Annotated[str, typer.Argument(help="the fact to correct (an id from `dsr memory show`)")],
    text: Annotated[str | None, typer.Option(help="the corrected fact, one sentence")] = None,
    kind: Annotated[
        str | None, typer.Option(help="event, knowledge, state, holder, location, relationship, death")
    ] = None,
    subject: Annotated[
        str | None, typer.Option(help="who (for holder: which object) the fact is about")
    ] = None,
    about: Annotated[
        str | None,
        typer.Option(
            help="relationship: the other character; knowledge: what is known; holder: who holds it"
        ),
    ] = None,
    by: By = None,
) -> None:
    """Correct a fact: the writer's version replaces it at the same story position and wins over extraction."""
    from dsr.memory.records import FACT_KINDS, KIND_ALIASES

    who = _who(by)
    if text is None and kind is None and subject is None and about is None:
        raise BadInput("nothing to change: give --text, --kind, --subject or --about")
    if text is not None and not text.strip():
        raise BadInput("--text is blank; to delete the fact use `dsr memory forget`")
    if kind is not None and kind not in FACT_KINDS and kind not in KIND_ALIASES:
        raise BadInput(f"--kind {kind!r} is not a fact kind; use one of: {', '.join(FACT_KINDS)}")
    mem = _open(memory)
    old = _fact_or_fail(mem, fact_id)
    if not old.active:
        raise BadInput(
            f"fact {fact_id} is {old.status} (by {old.by or '?'}); correct its replacement instead"
        )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    changes = {
        k: v.strip()
        for k, v in {"text": text, "kind": kind, "subject": subject, "about": about}.items()
        if v is not None
    }
    new = old.model_copy(
        update={**changes, "source": "writer", "by": who, "changed_at": now, "replaces": old.id}
    )
    new = type(old).model_validate(new.model_dump(exclude={"id"}))  # the id follows the new text
    if new.id == old.id:  # the same sentence retyped: corrected in place
        mem.set_fact(new.model_copy(update={"replaces": ""}))
    else:
        mem.set_fact(new)
        mem.set_fact(old.model_copy(update={"status": "corrected", "by": who, "changed_at": now}))
    console.print(f"{shown(new.id)}: {shown(new.text)} (writer: {shown(who)}; replaces {shown(old.id)})")


@memory_app.command("forget")
def forget(
    memory: MemoryDir,
    fact_id: Annotated[str, typer.Argument(help="the fact to delete (an id from `dsr memory show`)")],
    by: By = None,
) -> None:
    """Delete a fact from the story: later scenes no longer see it (the record of who forgot it stays)."""
    who = _who(by)
    mem = _open(memory)
    old = _fact_or_fail(mem, fact_id)
    if old.status == "forgotten":
        raise BadInput(f"fact {fact_id} was already forgotten by {old.by or '?'}")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    mem.set_fact(old.model_copy(update={"status": "forgotten", "by": who, "changed_at": now}))
    console.print(f"forgot {shown(old.id)}: {shown(old.text)} (by {shown(who)})")


def register(app: typer.Typer, panel: str) -> None:
    app.add_typer(memory_app, name="memory", rich_help_panel=panel)
