"""Careless and hostile outputs and inputs (issue 12, classes 3, 4, 6 and 7) through the real CLI.

Every refusal is exit 2 with one line on stderr and no traceback, and leaves the user's files as they
were; none of these tests loads a model (a refusal comes before any).
"""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from dsr.cli.main import main
from tests.servers import is_user_setting

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "harbor-lights.yaml"


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """``dsr ARGS`` in-process (``dsr.cli.main.main``, the console script's entry point): status, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["dsr", *args])
    monkeypatch.setenv("COLUMNS", "200")
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def refused(result: tuple[int, str, str], *needles: str) -> str:
    """The one stderr line of a refusal (exit 2, no traceback), checked for ``needles``."""
    code, _, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No dsr.toml or DSR_* setting of the developer's changes what a command does."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if is_user_setting(k)]:
        monkeypatch.delenv(key)


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    """A directory of the user's own, with a file that must survive every refused command."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious\n", encoding="utf-8")
    return folder


def untouched(folder: Path) -> bool:
    return (
        sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
        and (folder / "notes.txt").read_text() == "precious\n"
    )


# --- class 3: writing over a user's files ---------------------------------------------------------


def test_write_refuses_a_directory_that_is_not_a_run(monkeypatch, capsys, user_dir: Path) -> None:
    line = refused(
        run_main(monkeypatch, capsys, "write", str(EXAMPLE), "-o", str(user_dir)), "not empty", "--force"
    )
    assert "run.json" in line
    assert untouched(user_dir)


def test_write_refuses_a_user_directory_as_story_memory(
    monkeypatch, capsys, tmp_path: Path, user_dir
) -> None:
    args = ("write", str(EXAMPLE), "-o", str(tmp_path / "run"), "--memory", str(user_dir))
    refused(run_main(monkeypatch, capsys, *args), "--memory", "story memory", "chroma.sqlite3")
    assert untouched(user_dir)


def test_write_refuses_a_file(monkeypatch, capsys, tmp_path: Path) -> None:
    target = tmp_path / "episode.txt"
    target.write_text("precious\n", encoding="utf-8")
    refused(run_main(monkeypatch, capsys, "write", str(EXAMPLE), "-o", str(target)), "is a file")
    assert target.read_text(encoding="utf-8") == "precious\n"


def test_console_script_refuses_a_file_as_the_run_directory(tmp_path: Path) -> None:
    """The original report through the installed ``dsr``: a traceback, now one line and exit 2."""
    import subprocess

    from tests.servers import VENV_BIN, is_user_setting

    target = tmp_path / "episode.txt"
    target.write_text("precious\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not is_user_setting(k)}
    done = subprocess.run(
        [str(VENV_BIN / "dsr"), "write", str(EXAMPLE), "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    refused((done.returncode, done.stdout, done.stderr), "is a file")
    assert target.read_text(encoding="utf-8") == "precious\n"


def test_write_force_and_run_directories_pass_the_check(tmp_path: Path, user_dir: Path) -> None:
    from dsr.common.fsutil import prepare_output_dir

    assert prepare_output_dir(user_dir, ["run.json"], what="run", force=True) == user_dir
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}", encoding="utf-8")
    (run / "calls.jsonl").write_text("", encoding="utf-8")
    assert prepare_output_dir(run, ["run.json"], what="run") == run
    assert prepare_output_dir(tmp_path / "new" / "deeper", ["run.json"], what="run").is_dir()


def test_write_into_an_existing_run_still_says_resume(monkeypatch, capsys, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}", encoding="utf-8")
    refused(run_main(monkeypatch, capsys, "write", str(EXAMPLE), "-o", str(run), "--force"), "dsr resume")


def test_synthesize_refuses_a_user_directory(monkeypatch, capsys, corpus_dir: Path, user_dir: Path) -> None:
    refused(
        run_main(monkeypatch, capsys, "synthesize", str(corpus_dir), "-o", str(user_dir)),
        "not empty",
        "synthesis",
    )
    assert untouched(user_dir)
    file = user_dir / "notes.txt"
    refused(run_main(monkeypatch, capsys, "synthesize", str(corpus_dir), "-o", str(file)), "is a file")
    assert untouched(user_dir)


def test_train_refuses_a_user_directory_before_loading_anything(
    monkeypatch, capsys, tmp_path, user_dir
) -> None:
    line = refused(
        run_main(monkeypatch, capsys, "train", str(tmp_path / "no-data"), "-o", str(user_dir)), "not empty"
    )
    assert "--force" not in line  # training has no --force to offer
    assert untouched(user_dir)


def test_evaluate_commands_refuse_a_user_directory(
    monkeypatch, capsys, tmp_path: Path, user_dir: Path
) -> None:
    from tests.eval_dirs import GOOD_SCENE, write_eval_dir

    rows = [{"item": i, "ok": True, "screenplay": GOOD_SCENE} for i in ("s1", "s2")]
    eval_dir = write_eval_dir(tmp_path, {"dsr": rows, "e2e": rows})
    synthesis = tmp_path / "data"
    synthesis.mkdir()
    commands = [
        ("evaluate", "run", str(tmp_path / "set"), "-o", str(user_dir), "--system", "e2e"),
        ("evaluate", "all", str(tmp_path / "set"), "-o", str(user_dir), "--system", "e2e"),
        ("evaluate", "build-set", "--from-synthesis", str(synthesis), "-o", str(user_dir)),
        ("evaluate", "packets", str(eval_dir), "-o", str(user_dir)),
    ]
    for args in commands:
        refused(run_main(monkeypatch, capsys, *args), "not empty", "--force")
        assert untouched(user_dir), args
    refused(run_main(monkeypatch, capsys, "evaluate", "calibrate", "-o", str(user_dir)), "is a directory")
    assert untouched(user_dir)


def test_convert_refuses_a_directory_as_its_output(
    monkeypatch, capsys, corpus_dir: Path, user_dir: Path
) -> None:
    source = corpus_dir / "screenplain__dual-dialogue.fountain"
    fdx_named = user_dir.parent / "looks.fdx"
    fdx_named.mkdir()
    for target in (user_dir, fdx_named):
        refused(run_main(monkeypatch, capsys, "convert", str(source), "-o", str(target)), "is a directory")
    assert untouched(user_dir) and not any(fdx_named.iterdir())


# --- class 4: tracebacks where a clear error belongs ----------------------------------------------


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory as `dsr write` starts it (run.json), before any checkpoint."""
    from dsr.contract.context import RunContext
    from dsr.run.runner import start_run
    from dsr.story.episode_spec import load_episode

    folder = tmp_path / "run"
    start_run(load_episode(EXAMPLE), folder, RunContext(run_dir=str(folder)))
    return folder


def _truncated_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, blob BLOB)")
        db.executemany("INSERT INTO checkpoints (blob) VALUES (?)", [(os.urandom(2000),) for _ in range(200)])
    db.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize("damage", ["not a database", "truncated", "a directory"])
def test_resume_with_damaged_checkpoints_is_one_line(monkeypatch, capsys, run_dir: Path, damage: str) -> None:
    checkpoints = run_dir / "checkpoints.sqlite"
    if damage == "truncated":
        _truncated_database(checkpoints)
    elif damage == "a directory":
        checkpoints.mkdir()
    else:
        checkpoints.write_text("this is my shopping list, not a database\n", encoding="utf-8")
    before = checkpoints.read_bytes() if checkpoints.is_file() else b""
    refused(
        run_main(monkeypatch, capsys, "resume", str(run_dir)),
        str(checkpoints),
        "damaged",
        "move",
        "dsr resume",
    )
    assert (checkpoints.read_bytes() if checkpoints.is_file() else b"") == before


def test_resume_edit_with_a_binary_file_is_one_line(
    monkeypatch, capsys, run_dir: Path, tmp_path: Path
) -> None:
    edit = tmp_path / "scene.fountain"
    edit.write_bytes(b"INT. HOUSE\x00\x01 - DAY\n")
    refused(run_main(monkeypatch, capsys, "resume", str(run_dir), "--edit", str(edit)), "binary file")


CONTROL = "INT. HOUSE - DAY\n\nMara looks\x01 at\x0b the sea\x1f.\n\nMARA\nHello\x07 there.\n"


@pytest.mark.parametrize("suffix", [".fdx", ".pdf", ".fountain", ".html"])
def test_control_characters_are_removed_with_a_warning(
    monkeypatch, capsys, tmp_path: Path, suffix: str
) -> None:
    from dsr.screenplay.io import read_document

    source = tmp_path / "ctrl.fountain"
    source.write_text(CONTROL, encoding="utf-8")
    target = tmp_path / f"out{suffix}"
    code, out, err = run_main(monkeypatch, capsys, "convert", str(source), "-o", str(target))
    warnings = [line for line in err.splitlines() if line.strip()]
    assert code == 0 and out.startswith("wrote"), err
    assert len(warnings) == 1 and "warning" in warnings[0] and "4 control character(s)" in warnings[0], err
    if suffix != ".pdf":  # a PDF's compressed streams hold any byte
        data = target.read_bytes()
        assert not any(b in data for b in (b"\x01", b"\x07", b"\x0b", b"\x1f"))
    if suffix in (".fdx", ".fountain"):
        doc = read_document(target)
        assert "Mara looks at  the sea." in [getattr(e, "text", "") for e in doc.scenes[0].elements]


def test_fdx_writer_cleans_a_document_built_in_code() -> None:
    """A model's draft never read from a file: the FDX writer itself drops what XML cannot hold."""
    from dsr.screenplay.control import ControlCharacterWarning
    from dsr.screenplay.fdx_reader import parse_fdx
    from dsr.screenplay.fdx_writer import write_fdx
    from dsr.screenplay.model import Action, Scene, SceneHeading, Screenplay

    doc = Screenplay(
        scenes=[Scene(heading=SceneHeading(text="INT. HOUSE - DAY"), elements=[Action(text="a\x00b\x1bc")])]
    )
    with pytest.warns(ControlCharacterWarning, match="2 control"):
        data = write_fdx(doc)
    assert parse_fdx(data).scenes[0].elements[0].text == "abc"


def test_lint_scene_number_of_thousands_of_digits(monkeypatch, capsys, tmp_path: Path) -> None:
    source = tmp_path / "digits.fountain"
    source.write_text(
        f"INT. HOUSE - DAY #{'9' * 5000}#\n\nAction.\n\nEXT. SEA - NIGHT #1#\n\nMore.\n", encoding="utf-8"
    )
    code, out, err = run_main(monkeypatch, capsys, "lint", str(source), "--json")
    assert code == 0 and "Traceback" not in err, err
    assert "comes after 9999" in out and len(out) < 5000  # the number is shortened in the message


def test_fdx_outline_level_cannot_blow_up_the_output(monkeypatch, capsys, tmp_path: Path) -> None:
    source = tmp_path / "outline.fdx"
    body = (
        '<Paragraph Type="Scene Heading"><Text>INT. HOUSE - DAY</Text></Paragraph>'
        '<Paragraph Type="Outline 100000000"><Text>Act one</Text></Paragraph>'
        f'<Paragraph Type="Outline {"7" * 5000}"><Text>Act two</Text></Paragraph>'
    )
    source.write_text(
        f'<?xml version="1.0"?><FinalDraft DocumentType="Script" Version="5"><Content>{body}</Content></FinalDraft>'
    )
    target = tmp_path / "outline.fountain"
    code, _, err = run_main(monkeypatch, capsys, "convert", str(source), "-o", str(target))
    assert code == 0, err
    assert target.stat().st_size < 200 and "######### Act one" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "args",
    [
        ("synthesize", "{corpus}", "-o", "{out}", "--seed", "9" * 50),
        ("evaluate", "build-set", "{corpus}", "-o", "{out}", "--seed", "-1"),
        ("evaluate", "packets", "{corpus}", "-o", "{out}", "--seed", str(2**32)),
    ],
)
def test_seeds_out_of_range_are_usage_errors(monkeypatch, capsys, corpus_dir, tmp_path, args) -> None:
    """A 50-digit seed used to fail every teacher call after the whole corpus was read (SQLite overflow)."""
    out = tmp_path / "out"
    code, _, err = run_main(monkeypatch, capsys, *(a.format(corpus=corpus_dir, out=out) for a in args))
    assert code == 2 and "--seed" in err and "Traceback" not in err, err
    assert not out.exists()


# --- class 6: file modes -------------------------------------------------------------------------


@pytest.fixture
def umask() -> Iterator[object]:
    """Set the process umask for one test, restored after it."""
    previous = os.umask(0o022)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(previous)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_honours_the_umask(tmp_path: Path, umask, mask: int, expected: int) -> None:
    from dsr.common.fsutil import PRIVATE, atomic_write, write_json

    umask(mask)
    assert mode_of(atomic_write(tmp_path / "episode.fountain", "INT. HOUSE - DAY\n")) == expected
    assert mode_of(write_json(tmp_path / "report.json", {"ok": True})) == expected
    assert mode_of(atomic_write(tmp_path / "key.json", "{}", mode=PRIVATE)) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_rewriting_a_file_keeps_its_mode(tmp_path: Path, umask) -> None:
    from dsr.common.fsutil import atomic_write

    umask(0o022)
    target = atomic_write(tmp_path / "report.md", "one")
    target.chmod(0o640)
    atomic_write(target, "two")
    assert mode_of(target) == 0o640 and target.read_text() == "two"


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600)])
def test_converted_screenplay_honours_the_umask(
    monkeypatch, capsys, corpus_dir, tmp_path, umask, mask, expected
) -> None:
    umask(mask)
    target = tmp_path / "dual.fdx"
    code, _, err = run_main(
        monkeypatch,
        capsys,
        "convert",
        str(corpus_dir / "screenplain__dual-dialogue.fountain"),
        "-o",
        str(target),
    )
    assert code == 0, err
    assert mode_of(target) == expected


# --- class 7: an accepted scene is still exactly one scene ------------------------------------------

EPISODE = """\
title: Night Crossing
series: night-crossing
episode: 1
characters:
  - name: MARA
    profile: Ferry engineer, 40s.
  - name: TOM
    profile: Stowaway, 20s.
scenes:
  - outline: Mara checks the engine room before the ferry sails.
    location: Engine room
    int_ext: INT
    time_of_day: Evening
    characters: [MARA]
  - outline: Mara finds Tom hiding on the car deck as the ferry lurches out of the harbour.
    time_of_day: Night
    characters: [MARA, TOM]
  - outline: Mara takes Tom up to the wheelhouse to face the captain.
    characters: [MARA, TOM]
"""

# What the screenwriter stored for scene 2 before it cleaned chat preambles: the fallback heading above
# the model's chat preamble, the model's own heading, a second heading and a chat closer.
BAD_DRAFT = """\
INT. UNKNOWN LOCATION - DAY

Here's your script for the scene:

INT. CAR DECK - NIGHT

Cars strain against their chains. MARA squeezes between them with a torch.

MARA
Out. Now.

TOM
Please. Just until we dock.

EXT. CAR DECK RAMP - CONTINUOUS

The ramp shudders as the ferry lurches.

Let me know if you'd like any changes!
"""


def _record(number: int, screenplay: str) -> dict[str, object]:
    return {
        "scene_no": number,
        "status": "accepted_with_findings",
        "screenplay": screenplay,
        "prose": None,
        "directives": None,
        "summary": "",
        "open_findings": [],
        "rubric": None,
        "retries": {},
        "verdict_log": [],
    }


def test_assembly_keeps_one_scene_per_outline_scene(tmp_path: Path, umask) -> None:
    import json

    from dsr.contract.context import RunContext
    from dsr.nodes.episode import assemble_node
    from dsr.screenplay.io import read_document
    from dsr.story.episode_spec import load_episode

    (tmp_path / "episode.yaml").write_text(EPISODE, encoding="utf-8")
    spec = load_episode(tmp_path / "episode.yaml")
    drafts = [
        "INT. ENGINE ROOM - EVENING\n\nMARA wipes oil from a gauge.\n",
        BAD_DRAFT,
        "Sure! Here is the scene:\n\nMARA leads TOM up a steep ladder.\n",  # no heading of its own
    ]
    state = {"spec": spec.model_dump(mode="json"), "scenes": [_record(i, d) for i, d in enumerate(drafts, 1)]}
    run = tmp_path / "run"
    runtime = SimpleNamespace(context=RunContext(run_dir=str(run), memory_dir=None))
    umask(0o027)
    outputs = assemble_node(state, runtime)["outputs"]
    assert {mode_of(Path(path)) for path in outputs.values()} == {0o640}  # episode files and report: shared

    episode = read_document(outputs["fountain"])
    assert [s.heading.scene_number for s in episode.scenes] == ["1", "2", "3"]
    assert [s.heading.text for s in episode.scenes] == [
        "INT. ENGINE ROOM - EVENING",
        "INT. CAR DECK - NIGHT",  # the model's own heading, not the fallback above the preamble
        "INT. WHEELHOUSE - DAY",  # X's heading from the place the synopsis names
    ]
    text = Path(outputs["fountain"]).read_text(encoding="utf-8")
    assert "Here's your script" not in text and "Let me know" not in text and "Sure!" not in text
    assert "UNKNOWN LOCATION" not in text
    assert "!EXT. CAR DECK RAMP - CONTINUOUS" in text  # demoted to action, kept as written
    assert len(read_document(outputs["fdx"]).scenes) == 3

    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    checks = [[f["check"] for f in s["open_findings"]] for s in report["scenes"]]
    assert checks[0] == []
    assert sorted(checks[1]) == ["assembly-chat", "assembly-chat", "assembly-heading", "assembly-heading"]
    assert sorted(checks[2]) == ["assembly-chat", "assembly-heading"]
    evidence = {f["evidence"] for f in report["scenes"][1]["open_findings"]}
    assert {
        "INT. UNKNOWN LOCATION - DAY",
        "EXT. CAR DECK RAMP - CONTINUOUS",
        "Here's your script for the scene:",
    } <= evidence
    assert (
        json.loads((run / "scenes" / "02" / "assembly.json").read_text(encoding="utf-8"))
        == report["scenes"][1]["open_findings"]
    )
    assert not (run / "scenes" / "01" / "assembly.json").exists()


def test_screenwriter_output_never_gets_a_fallback_heading_above_its_own() -> None:
    from dsr.story.fountain_text import clean_fountain, heading_hint
    from dsr.story.schemas import SceneOutline, TaskInput

    x = TaskInput(
        outline=SceneOutline(synopsis="Mara finds Tom hiding on the car deck as the ferry lurches.")
    )
    assert clean_fountain(
        "Here's your script for the scene:\n\nINT. CAR DECK - NIGHT\n\nCars strain.", x
    ) == ("INT. CAR DECK - NIGHT\n\nCars strain.\n")
    assert clean_fountain("```fountain\nCars strain.\n```", x) == "INT. CAR DECK - DAY\n\nCars strain.\n"
    assert clean_fountain("INT. GALLEY - DAY\n\nGreat waves break.", x).startswith(
        "INT. GALLEY - DAY\n\nGreat waves"
    )
    assert (
        heading_hint(TaskInput(outline=SceneOutline(synopsis="They argue in the morning.")))
        == "INT. UNKNOWN LOCATION - DAY"
    )
    located = TaskInput(outline=SceneOutline(synopsis="In the wheelhouse.", location="Bridge", int_ext="EXT"))
    assert heading_hint(located) == "EXT. BRIDGE - DAY"
