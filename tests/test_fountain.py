"""Fountain reader and writer: the real corpus (MANIFEST counts, round trips) and hand-written edge cases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dsr.screenplay.fountain_reader import parse_fountain
from dsr.screenplay.fountain_writer import write_fountain
from dsr.screenplay.model import (
    Action,
    Boneyard,
    Centered,
    Character,
    Dialogue,
    Lyrics,
    Note,
    PageBreak,
    Parenthetical,
    Scene,
    SceneHeading,
    Screenplay,
    Section,
    Synopsis,
    TitleField,
    Transition,
)
from tests.conftest import CORPUS, corpus_files

FOUNTAIN_FILES = corpus_files(".fountain")


def _manifest_counts() -> dict[str, tuple[int, int]]:
    """The 'scenes' and 'cues' columns of MANIFEST.md (the corpus spec's own counts).

    Every Markdown table whose header has 'file', 'scenes' and 'cues' columns counts, wherever those
    columns sit (the batches' tables differ); a file listed twice must carry the same counts.
    """
    counts: dict[str, tuple[int, int]] = {}
    header: list[str] | None = None
    for row in (CORPUS / "MANIFEST.md").read_text(encoding="utf-8").splitlines():
        if not row.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if header is None:
            header = [cell.lower() for cell in cells]
            continue
        if not {"file", "scenes", "cues"} <= set(header) or re.fullmatch(r"[-: ]*", "".join(cells)):
            continue
        assert len(cells) == len(header), row
        name = re.fullmatch(r"`([^`]+\.fountain)`", cells[header.index("file")])
        if name:
            found = (int(cells[header.index("scenes")]), int(cells[header.index("cues")]))
            assert counts.setdefault(name.group(1), found) == found, row
    return counts


def _types(elements: list) -> list[str]:
    return [e.type for e in elements]


def _dump(items: list) -> list[dict]:
    return [item.model_dump() for item in items]


def _read(corpus_dir: Path, name: str) -> Screenplay:
    return parse_fountain((corpus_dir / name).read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------- corpus


def test_manifest_lists_every_corpus_fountain_file() -> None:
    assert sorted(_manifest_counts()) == sorted(p.name for p in FOUNTAIN_FILES)
    assert len(FOUNTAIN_FILES) >= 12


@pytest.mark.parametrize("path", FOUNTAIN_FILES, ids=lambda p: p.name)
def test_scene_and_cue_counts_match_manifest(path: Path) -> None:
    doc = parse_fountain(path.read_text(encoding="utf-8"))
    cues = sum(isinstance(e, Character) for e in doc.all_elements())
    assert (len(doc.scenes), cues) == _manifest_counts()[path.name]


@pytest.mark.parametrize("path", FOUNTAIN_FILES, ids=lambda p: p.name)
def test_round_trip_is_exact(path: Path) -> None:
    doc = parse_fountain(path.read_text(encoding="utf-8"))
    written = write_fountain(doc)
    assert parse_fountain(written).model_dump() == doc.model_dump()
    assert write_fountain(parse_fountain(written)) == written  # the writer is canonical


def test_nrb_typewriter_indentation(corpus_dir: Path) -> None:
    doc = _read(corpus_dir, "nrb__complete_and_utter_nonsense.fountain")
    assert [(f.key, f.value) for f in doc.title_page] == [
        ("Title", "_**COMPLETE AND UTTER NONSENSE**_"),
        ("Credit", "Written By"),
        ("Author", "Nolan Brubaker"),
        ("Draft date", "2/8/2013"),
    ]
    # 'DINING ROOM - DAY' and 'INTERVIEW CHAIR' are informal sluglines, not Fountain headings.
    assert [s.heading.text for s in doc.scenes] == ["EXT. CAR LOT", "INT. INTERVIEW CHAIR"]
    assert _dump(doc.preamble[:6]) == _dump(
        [
            PageBreak(),
            Action(text="DINING ROOM - DAY"),
            Action(
                text="Two friends are sitting around a table arguing. A third is sitting in a chair nearby"
            ),
            Character(name="JAMIE"),
            Dialogue(
                text="What I'm saying is that reality shows offer us a chance to live vicariously through "
                "other, more interesting people."
            ),
            Character(name="KELLY"),
        ]
    )
    assert _dump(doc.preamble[6:8]) == _dump([Parenthetical(text="(hands in the air)"), doc.preamble[7]])
    transitions = [e.text for e in doc.all_elements() if isinstance(e, Transition)]
    assert transitions.count("CUT TO:") == 7
    # indented to the transition column without 'TO:': a transition Fountain would need '>' for
    assert [
        e.forced for e in doc.all_elements() if isinstance(e, Transition) and e.text == "FADE TO BLACK."
    ] == [
        True,
        True,
    ]
    cues = {e.cue for e in doc.all_elements() if isinstance(e, Character)}
    assert "KELLY (CONT'D)" in cues and "ANNOUNCER (V. O.)" in cues


def test_afterwriting_kitchen_sink(corpus_dir: Path) -> None:
    doc = _read(corpus_dir, "afterwriting__test.fountain")
    titles = {f.key: f.value for f in doc.title_page}
    # the title page follows a note; multi-line values with tab and 4-space indents
    assert titles["Title"] == "_Screenplay title_\nSecond line"
    assert titles["Contact"] == "e-mail: email@email.com\nphone: +12 34 567 89"
    assert len(doc.title_page) == 8
    assert _dump(doc.preamble) == _dump(
        [
            Note(text="Script note.\n- blah blah blah\n- blah blah blah\n"),
            Section(text="Act 1: basic blocks", depth=1),
            Section(text="Sequence 1: scene heading, action, dialogue, parenthetical", depth=2),
        ]
    )
    night = doc.scenes[1]
    assert _types(night.elements)[:5] == ["action", "boneyard", "boneyard", "boneyard", "action"]
    assert night.elements[0].text == "Action. Action. Action[[ (inline note)]]. Action."
    assert "Ignored. /* nested */" in night.elements[1].text  # nested boneyard kept whole
    assert night.elements[4].text.startswith("Action. action. action. action. action.")
    assert "ignored" not in night.elements[4].text
    # a [[ ]] spanning a truly empty line is not a note: two action paragraphs
    assert _types(night.elements[5:7]) == ["action", "action"]
    forced = doc.scenes[4].heading
    assert (forced.text, forced.forced, forced.int_ext) == ("FORCED HEADER", True, None)
    polish = doc.scenes[9]
    assert polish.heading.model_dump() == {
        "text": "WNĘTRZE. FORCED ELEMENTS - NIGHT",
        "int_ext": None,
        "location": "WNĘTRZE. FORCED ELEMENTS",
        "time_of_day": "NIGHT",
        "scene_number": None,
        "forced": True,
    }
    assert _dump(polish.elements[:4]) == _dump(
        [
            Action(text="INT. ACTION", forced=True),
            Character(name="McCABE", forced=True),
            Lyrics(text="Happy birthday to you!"),
            Transition(text="FADE TO GREEN.", forced=True),
        ]
    )
    dual = doc.scenes[6].elements
    assert [(e.name, e.dual) for e in dual if isinstance(e, Character)] == [
        ("HERO 1", False),
        ("HERO 2", True),
        ("HERO 3", False),
    ]


def test_title_page_boneyard_and_second_title_block(corpus_dir: Path) -> None:
    first = _read(corpus_dir, "earthbound19__Cyber_Bob_ep00001.fountain")
    assert [f.key for f in first.title_page] == [
        "Title",
        "Credit",
        "Author",
        "Source",
        "Copyright",
        "Contact",
    ]
    assert (
        first.title_page[0].value
        == "BOB THE CYBER PAWN AND HIS CYBER CLOUD BOSS THING\nEPISODE 1: TRAFFIC CONTROL DOGS"
    )
    assert _dump(first.preamble[:4]) == _dump(
        [
            Boneyard(text=" Draft date: 2019-12-05 "),
            Note(
                text="archival web URL: https://github.com/earthbound19/_ebScreenplays/blob/master/cyber_bob/Cyber_Bob_ep00001.fountain"
            ),
            Note(text="Second draft published at: http://pasted.co/66993b1e on 2016-10-06"),
            Transition(text="FADE IN:", forced=True),
        ]
    )
    third = _read(corpus_dir, "earthbound19__Cyber_Bob_ep00003.fountain")
    assert third.title_page[-1].model_dump() == {"key": "Draft date", "value": "2016-10-05"}
    assert third.title_page[4].key == "Notes" and third.title_page[4].value.count("\n") == 6
    # the second Key: value block is body text (title page only at the very start)
    second_block = third.preamble[0]
    assert isinstance(second_block, Action) and second_block.text.startswith("Title:\n\tBOB THE CYBER PAWN")


def test_notes_fixture(corpus_dir: Path) -> None:
    doc = _read(corpus_dir, "screenplain__notes.fountain")
    assert _types(doc.preamble) == ["action"] * 7 + ["note", "action", "action", "note", "action"]
    assert doc.preamble[2].text == "Before3 [[multiline\nnote\n  \nwith a blank line]]After3"
    assert (
        doc.preamble[10].text
        == "Note as its own paragraph\non several lines\ndoes not generate an empty paragraph"
    )


def test_lyrics_fixture(corpus_dir: Path) -> None:
    doc = _read(corpus_dir, "screenplay-tools__Lyrics.fountain")
    assert _dump(doc.preamble) == _dump(
        [
            Action(text="Here is some action."),
            Character(name="ANDHERE"),
            Dialogue(text="Is some dialogue."),
            Lyrics(text="This a lyric"),
            Lyrics(text="This is a lyric"),
            Action(text="And more action."),
            Lyrics(text="And another lyric"),
            Character(name="TESTING"),
            Lyrics(text="What happens here?"),
        ]
    )


def test_scene_numbers_and_fdx_twin_body(corpus_dir: Path) -> None:
    doc = _read(corpus_dir, "screenplay-tools__TestFDX-FD.fountain")
    assert [(s.heading.text, s.heading.scene_number) for s in doc.scenes] == [
        ("INT. RADIO STUDIO", "1"),
        ("EXT. OUTSIDE THE FOOD STORE", "2"),
    ]
    assert _dump(doc.scenes[0].elements[-2:]) == _dump(
        [Dialogue(text="Because he helps us test this screenplay."), Transition(text="CUT TO:")]
    )
    assert _dump(doc.scenes[1].elements[-1:]) == _dump([Transition(text="FADE TO BLACK", forced=True)])
    assert doc.characters() == ["DJ", "DAVE", "JIM", "KAY"]


# ---------------------------------------------------------------------------------------- edge cases


def _body(text: str) -> list[dict]:
    doc = parse_fountain(text)
    assert parse_fountain(write_fountain(doc)).model_dump() == doc.model_dump()
    return _dump(doc.all_elements())


def test_cue_followed_by_blank_line_is_action() -> None:
    assert _body("\nBOB\n\nHello.\n") == _dump([Action(text="BOB"), Action(text="Hello.")])


def test_cue_needs_whole_line_in_caps_and_a_letter() -> None:
    assert _body("\nBOB (V.O.)\nHi.\n") == _dump(
        [Character(name="BOB", extension="V.O."), Dialogue(text="Hi.")]
    )
    assert _body("\nHANS (on the radio)\nHi.\n")[0]["extension"] == "on the radio"
    assert _body("\nR2D2\nBeep.\n")[0]["type"] == "character"
    assert _body("\n23\nHello\n") == _dump([Action(text="23\nHello")])
    assert _body("\nBOB, 40 (tall), shy\nwalks in.\n") == _dump(
        [Action(text="BOB, 40 (tall), shy\nwalks in.")]
    )


def test_not_headings() -> None:
    assert _body("\nINTERIOR DESIGN IS HARD.\n") == _dump([Action(text="INTERIOR DESIGN IS HARD.")])
    assert _body("\n..and then.\n") == _dump([Action(text="..and then.")])
    assert _body("\n...\n") == _dump([Action(text="...")])
    assert parse_fountain("Bob waits.\nINT. HOUSE - DAY\n").scenes == []  # no blank line before it


@pytest.mark.parametrize(
    ("line", "int_ext", "location", "time_of_day"),
    [
        ("INT. HOUSE - DAY", "INT.", "HOUSE", "DAY"),
        ("ext. park--night", "EXT.", "park", "night"),
        ("EST. CITY - DAWN", "EST.", "CITY", "DAWN"),
        ("INT./EXT. CAR - MOVING - NIGHT", "INT./EXT.", "CAR - MOVING", "NIGHT"),
        ("INT/EXT CAR - DAY", "INT./EXT.", "CAR", "DAY"),
        ("I/E TRAIN - DAY", "I/E", "TRAIN", "DAY"),
        ("INT HALL", "INT.", "HALL", None),
    ],
)
def test_heading_parts(line: str, int_ext: str, location: str, time_of_day: str | None) -> None:
    (scene,) = parse_fountain(f"\n{line}\n\nAction.\n").scenes
    assert (scene.heading.text, scene.heading.int_ext, scene.heading.location, scene.heading.time_of_day) == (
        line,
        int_ext,
        location,
        time_of_day,
    )
    assert not scene.heading.forced


def test_scene_numbers_and_forced_headings() -> None:
    (scene,) = parse_fountain("\nINT. HOUSE - DAY #1#\n\nHi.\n").scenes
    assert (scene.heading.text, scene.heading.scene_number) == ("INT. HOUSE - DAY", "1")
    (scene,) = parse_fountain("\nEXT. PIER #12A#\n").scenes
    assert scene.heading.scene_number == "12A"
    (scene,) = parse_fountain("\n.12 客厅 日 内\n\n动作。\n").scenes
    assert (scene.heading.text, scene.heading.forced) == ("12 客厅 日 内", True)
    assert _dump(scene.elements) == _dump([Action(text="动作。")])
    written = write_fountain(Screenplay(scenes=[Scene(heading=SceneHeading(text="flashback"))]))
    assert written == ".flashback\n"


def test_forced_cues() -> None:
    assert _body("\n@McCABE\nHello.\n") == _dump(
        [Character(name="McCABE", forced=True), Dialogue(text="Hello.")]
    )
    assert _body("\n@名字\n你好。\n") == _dump([Character(name="名字", forced=True), Dialogue(text="你好。")])
    # without '@' a Han line has no upper case: a two-line paragraph of Chinese is action
    assert _body("\n他走进来。\n她笑了。\n") == _dump([Action(text="他走进来。\n她笑了。")])


def test_dual_dialogue_with_and_without_space() -> None:
    body = _body("BOB\nHi\n\nALICE ^\nHey\n\nCAROL^\nYo\n")
    assert [(e["name"], e["dual"]) for e in body if e["type"] == "character"] == [
        ("BOB", False),
        ("ALICE", True),
        ("CAROL", True),
    ]


def test_dialogue_block_details() -> None:
    body = _body("\nBOB\n(quietly)\nLine one.\n  \nLine two.\nWHAT?!\n(beat)\n~la la\nBye.\n")
    assert body == _dump(
        [
            Character(name="BOB"),
            Parenthetical(text="(quietly)"),
            Dialogue(text="Line one.\n\nLine two.\nWHAT?!"),
            Parenthetical(text="(beat)"),
            Lyrics(text="la la"),
            Dialogue(text="Bye."),
        ]
    )
    assert "Line one.\n  \nLine two." in write_fountain(parse_fountain("\nBOB\nLine one.\n  \nLine two.\n"))


def test_transitions() -> None:
    assert (
        _body("\nHe leaves.\n\nSMASH CUT TO:\n\nShe stays.\n")[1]
        == Transition(text="SMASH CUT TO:").model_dump()
    )
    assert _body("> Burn to white.\n") == _dump([Transition(text="Burn to white.", forced=True)])
    assert _body("\nFADE IN:\n") == _dump([Action(text="FADE IN:")])  # no 'TO:', no '>': action per spec
    assert _body("He says cut to:\n") == _dump([Action(text="He says cut to:")])


def test_centered_page_break_sections_synopses() -> None:
    assert _body("> THE END <\n\n===\n\n## Act Two\n\n= They meet.\n") == _dump(
        [Centered(text="THE END"), PageBreak(), Section(text="Act Two", depth=2), Synopsis(text="They meet.")]
    )


def test_action_keeps_indentation_tabs_and_emphasis() -> None:
    assert _body("\tIndented *action*\n\t\t**more**\n") == _dump(
        [Action(text="\tIndented *action*\n\t\t**more**")]
    )
    assert _body("!INT. ACTION\n") == _dump([Action(text="INT. ACTION", forced=True)])


def test_notes_and_boneyard() -> None:
    assert _body("A [[note]] b\n\n[[standalone]]\n\n[[one]] [[two]]\n") == _dump(
        [Action(text="A [[note]] b"), Note(text="standalone"), Note(text="one"), Note(text="two")]
    )
    assert _body("A [[note\n\nmore]] b\n") == _dump([Action(text="A [[note"), Action(text="more]] b")])
    assert _body("A /* never closed\n\nB\n") == _dump([Action(text="A /* never closed"), Action(text="B")])
    assert _body("BOB\n/* cut */\nHi.\n") == _dump(
        [Character(name="BOB"), Boneyard(text=" cut "), Dialogue(text="Hi.")]
    )
    assert _body("One /* a /* b */ c */two.\n") == _dump(
        [Boneyard(text=" a /* b */ c "), Action(text="One two.")]
    )


def test_crlf_cr_bom_and_line_numbers() -> None:
    doc = parse_fountain("\ufeffTitle: X\r\n\r\nINT. A - DAY\r\n\r\nBOB\r\nHi\r\n")
    assert doc.title_page == [TitleField(key="Title", value="X")]
    assert doc.scenes[0].heading.line == 3
    assert [(e.type, e.line) for e in doc.scenes[0].elements] == [("character", 5), ("dialogue", 6)]
    assert parse_fountain("INT. A - DAY\r\rBOB\rHi\r").model_dump() == doc.model_dump() | {"title_page": []}


def test_title_page_needs_a_known_key() -> None:
    assert parse_fountain("FADE IN:\n\nAction.\n").title_page == []
    assert parse_fountain("Title: X\nAuthor: Y\n\nAction.\n").title_page == [
        TitleField(key="Title", value="X"),
        TitleField(key="Author", value="Y"),
    ]


def test_writer_forces_what_would_read_back_differently() -> None:
    doc = Screenplay(
        preamble=[
            Action(text="Title: not a title page"),
            Action(text="BOB\nenters."),
            Action(text="CUT TO:"),
            Action(text="INT. ACTION"),
            Character(name="McCabe"),
            Dialogue(text="Hi."),
            Character(name="ALONE"),
            Transition(text="FADE OUT."),
            Transition(text="CUT TO:"),
        ]
    )
    written = write_fountain(doc)
    assert written.split("\n\n") == [
        "!Title: not a title page",
        "!BOB\nenters.",
        "!CUT TO:",
        "!INT. ACTION",
        "@McCabe\nHi.",
        "@ALONE",
        "> FADE OUT.",
        "CUT TO:\n",
    ]
    again = parse_fountain(written)
    assert [e.type for e in again.preamble] == [e.type for e in doc.preamble]
    assert [getattr(e, "text", None) for e in again.preamble] == [
        getattr(e, "text", None) for e in doc.preamble
    ]
