"""FDX reader and writer against the corpus's Final Draft, Fade In and screenplain files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lxml import etree

from dsr.screenplay.errors import ScreenplayError
from dsr.screenplay.fdx_reader import parse_fdx, split_cue
from dsr.screenplay.fdx_writer import write_fdx
from dsr.screenplay.fountain_reader import action_needs_force, parse_fountain
from dsr.screenplay.headings import split_heading
from dsr.screenplay.inline import from_runs, plain, to_runs
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
    Shot,
    Synopsis,
    TitleField,
    Transition,
)
from tests.conftest import corpus_files

FD_SAMPLE = "screenplay-tools__TestFDX-FD.fdx"
PAIRS = ["screenplay-tools__TestFDX-FD", "screenplay-tools__TestFDX-FI", "screenplain__dual-dialogue"]
# MANIFEST.md "scenes" and "cues" columns.
COUNTS = {
    "screenplay-tools__TestFDX-FD.fdx": (2, 4),
    "screenplay-tools__TestFDX-FI.fdx": (2, 4),
    "screenplain__dual-dialogue.fdx": (0, 2),
}


def _fdx(body: str, extra: str = "") -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><FinalDraft><Content>{body}</Content>{extra}</FinalDraft>'.encode()


def _d(items: list) -> list[dict]:
    """Content dumps: model equality would also compare the source ``line``."""
    return [item.model_dump() for item in items]


def _body(doc: Screenplay) -> dict:
    dump = doc.model_dump()
    return {"preamble": dump["preamble"], "scenes": dump["scenes"]}


# ------------------------------------------------------------------------------------------ corpus reads


def test_corpus_has_the_three_fdx_files() -> None:
    assert sorted(p.name for p in corpus_files(".fdx")) == sorted(COUNTS)


@pytest.mark.parametrize("path", corpus_files(".fdx"), ids=lambda p: p.name)
def test_corpus_counts_match_manifest(path: Path) -> None:
    doc = parse_fdx(path.read_bytes())
    cues = sum(isinstance(e, Character) for e in doc.all_elements())
    assert (len(doc.scenes), cues) == COUNTS[path.name]


@pytest.mark.parametrize("name", ["screenplay-tools__TestFDX-FD.fdx", "screenplay-tools__TestFDX-FI.fdx"])
def test_final_draft_and_fade_in_script_body(corpus_dir: Path, name: str) -> None:
    doc = parse_fdx((corpus_dir / name).read_bytes())
    assert doc.preamble == []
    first, second = doc.scenes
    assert first.heading.model_dump() == {
        "text": "INT. RADIO STUDIO",
        "int_ext": "INT.",
        "location": "RADIO STUDIO",
        "time_of_day": None,
        "scene_number": "1",
        "forced": False,
    }
    assert (second.heading.int_ext, second.heading.location, second.heading.scene_number) == (
        "EXT.",
        "OUTSIDE THE FOOD STORE",
        "2",
    )
    # SceneArcBeats paragraphs (Final Draft) are metadata: scene 1 has exactly these ten elements.
    assert [e.type for e in first.elements] == [
        "action",
        "character",
        "parenthetical",
        "dialogue",
        "action",
        "character",
        "dialogue",
        "character",
        "dialogue",
        "transition",
    ]
    assert _d([first.elements[i] for i in (2, 7, 9)]) == _d(
        [Parenthetical(text="(bored)"), Character(name="JIM", extension="O.S."), Transition(text="CUT TO:")]
    )
    # 'FADE TO BLACK' does not end in TO:, so Fountain needs '>' for it: forced.
    assert _d(second.elements[-1:]) == _d([Transition(text="FADE TO BLACK", forced=True)])
    assert doc.characters() == ["DJ", "DAVE", "JIM", "KAY"]


@pytest.mark.parametrize("name", ["screenplay-tools__TestFDX-FD.fdx", "screenplay-tools__TestFDX-FI.fdx"])
def test_title_page_heuristic_on_corpus(corpus_dir: Path, name: str) -> None:
    doc = parse_fdx((corpus_dir / name).read_bytes())
    # The title is underlined in both files; the bottom-left blocks are Copyright, Draft, Contact.
    assert [(f.key, f.value) for f in doc.title_page] == [
        ("Title", "_FDX Test Script_"),
        ("Credit", "Written by"),
        ("Author", "Ian"),
        ("Copyright", "Copyright (c) 2026"),
        ("Draft date", "Draft\ninformation"),
        ("Contact", "Contact\ninformation"),
    ]


def test_dual_dialogue_from_screenplain(corpus_dir: Path) -> None:
    doc = parse_fdx((corpus_dir / "screenplain__dual-dialogue.fdx").read_bytes())
    assert _d(doc.preamble) == _d(
        [
            Character(name="GIRL"),
            Dialogue(text="Hey!"),
            Character(name="GUY", dual=True),
            Dialogue(text="Hello!"),
        ]
    )


# ------------------------------------------------------------------------------ FDX <-> Fountain pairs


@pytest.mark.parametrize("stem", PAIRS)
def test_fountain_twin_parses_to_same_body(corpus_dir: Path, stem: str) -> None:
    from_fountain = parse_fountain((corpus_dir / f"{stem}.fountain").read_text(encoding="utf-8"))
    from_fdx = parse_fdx((corpus_dir / f"{stem}.fdx").read_bytes())
    assert _body(from_fdx) == _body(from_fountain)


def test_fade_in_title_page_agrees_with_fountain_twin(corpus_dir: Path) -> None:
    stem = "screenplay-tools__TestFDX-FI"
    twin = parse_fountain((corpus_dir / f"{stem}.fountain").read_text(encoding="utf-8"))
    fdx = {f.key: plain(f.value) for f in parse_fdx((corpus_dir / f"{stem}.fdx").read_bytes()).title_page}
    # The FDX adds a 'Written by' credit and underlines the title; every Fountain key is recovered.
    assert {f.key: plain(f.value) for f in twin.title_page}.items() <= fdx.items()


def _without_inline_notes(doc: Screenplay) -> dict:
    """The document as FDX holds it: inline [[notes]] have no place in FDX text runs, markup comes
    back in its canonical nesting (``_**a_**`` -> ``_**a**_``), and a '!' that Fountain did not need
    (``!TITLE CARD`` standing alone) has no FDX mark: judged by the Fountain reader's own rule."""
    dump = doc.model_dump()
    elements = dump["preamble"] + [e for scene in dump["scenes"] for e in scene["elements"]]
    for element in elements:
        if element["type"] not in ("note", "boneyard") and "text" in element:
            element["text"] = from_runs(to_runs(element["text"])).rstrip()
        if element["type"] == "action" and element["forced"]:
            element["forced"] = action_needs_force(element["text"].split("\n"), False)
    return dump


@pytest.mark.parametrize("path", corpus_files(".fountain"), ids=lambda p: p.name)
def test_fountain_corpus_converts_to_fdx_and_back(path: Path) -> None:
    doc = parse_fountain(path.read_text(encoding="utf-8"))
    again = parse_fdx(write_fdx(doc))
    assert again.model_dump() == _without_inline_notes(doc)


# ---------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("path", corpus_files(".fdx"), ids=lambda p: p.name)
def test_corpus_round_trip(path: Path) -> None:
    doc = parse_fdx(path.read_bytes())
    again = parse_fdx(write_fdx(doc))
    assert again.model_dump() == doc.model_dump()
    assert parse_fdx(write_fdx(again)).model_dump() == doc.model_dump()


def _rich() -> Screenplay:
    return Screenplay(
        title_page=[
            TitleField(key="Title", value="**THE _LAST_ FERRY**\nPart One"),
            TitleField(key="Credit", value="Written by"),
            TitleField(key="Authors", value="Mara Quinn & Leo Park"),
            TitleField(key="Source", value="Based on the novel by A. Writer"),
            TitleField(key="Draft date", value="March 3, 2025"),
            TitleField(key="Contact", value="Harbour Films\n555-0100"),
            TitleField(key="Copyright", value="(c) 2025 Harbour Films"),
            TitleField(key="Notes", value="First draft\nfor table read"),
            TitleField(key="Revision", value=""),
        ],
        preamble=[
            Centered(text="**ACT ONE**"),
            Section(text="Act One", depth=1),
            Synopsis(text="Mara finds the stranger."),
        ],
        scenes=[
            Scene(
                heading=SceneHeading(
                    text="EXT. LIGHTHOUSE - NIGHT",
                    int_ext="EXT.",
                    location="LIGHTHOUSE",
                    time_of_day="NIGHT",
                    scene_number="1A",
                ),
                elements=[
                    Section(text="Arrival", depth=2),
                    Section(text="Deep", depth=5),
                    Action(text="Rain. *Waves* hit the **rocks** — a _light_ sweeps.\nIt stops."),
                    Action(text="Literal \\* star, \\\\ slash and snake\\_case\\_name."),
                    Action(text="INT. NOT A HEADING", forced=True),
                    Character(name="MARA", extension="V.O."),
                    Parenthetical(text="(to herself)"),
                    Dialogue(text="***Who*** is there?\nHello?"),
                    Lyrics(text="Row, row, row"),
                    Character(name="McCABE", forced=True),
                    Dialogue(text="Me."),
                    Character(name="LEO", extension="CONT'D", dual=True),
                    Dialogue(text="And me."),
                    Note(text="check the tide tables"),
                    Boneyard(text="old version of the line"),
                    Shot(text="ANGLE ON THE LAMP"),
                    PageBreak(),
                    PageBreak(),
                    Transition(text="SMASH CUT TO:"),
                    PageBreak(),
                ],
            ),
            Scene(
                heading=SceneHeading(text="THE BEACH", location="THE BEACH", forced=True),
                elements=[
                    PageBreak(),
                    Action(text="Nothing."),
                    Transition(text="FADE OUT.", forced=True),
                    PageBreak(),
                ],
            ),
        ],
    )


def test_rich_document_round_trip() -> None:
    doc = _rich()
    again = parse_fdx(write_fdx(doc))
    assert again.title_page == doc.title_page
    assert _d(again.preamble) == _d(doc.preamble)
    assert _d(again.scenes) == _d(doc.scenes)


def test_hidden_text_is_verbatim_and_empty_lyric_is_kept() -> None:
    # ASCII art in a boneyard (retired_assassin) and markup characters in a note are not emphasis;
    # a lone '~' (Cyber_Bob_epSithSuperInformalLanguage) is an empty lyric line.
    art = " ____  _\n|  _ \\| |__\n| |_) |_*_|\n"
    hidden = [Boneyard(text=art), Note(text="a *b* _c_ \\* [[x]]"), Lyrics(text=""), Lyrics(text="\nla")]
    root = etree.fromstring(write_fdx(Screenplay(preamble=hidden)))
    boneyard = root.find("Content/Paragraph[@Type='Boneyard']")
    assert [(t.get("Style"), t.text) for t in boneyard.findall("Text")] == [(None, art)]
    assert _d(parse_fdx(write_fdx(Screenplay(preamble=hidden))).preamble) == _d(hidden)


def test_natural_title_page_is_written_without_keys() -> None:
    paragraphs = etree.fromstring(write_fdx(_rich())).find("TitlePage/Content")
    blocks = [(p.get("Alignment"), "".join(t.text for t in p.iter("Text"))) for p in paragraphs if len(p)]
    assert blocks == [
        ("Center", "THE LAST FERRY\nPart One"),
        ("Center", "Written by"),
        ("Center", "Mara Quinn & Leo Park"),
        ("Center", "Based on the novel by A. Writer"),
        ("Left", "March 3, 2025"),
        ("Left", "Harbour Films\n555-0100"),
        ("Left", "(c) 2025 Harbour Films"),
        # Only fields the heuristic cannot place by content carry their key.
        ("Left", "Notes:\nFirst draft\nfor table read"),
        ("Left", "Revision:"),
    ]


def test_emphasis_runs_become_fountain_markup() -> None:
    doc = parse_fdx(
        _fdx(
            '<Paragraph Type="Action"><Text>Plain </Text><Text Style="Bold">bold</Text><Text> </Text>'
            '<Text Style="Italic">it</Text><Text Style="Italic">alic</Text><Text> </Text>'
            '<Text Style="Underline">under</Text><Text> </Text><Text Style="Bold+Italic+Underline">all</Text>'
            '<Text Style="AllCaps"> a*b_c</Text></Paragraph>'
        )
    )
    (action,) = doc.preamble
    assert action.text == "Plain **bold** *italic* _under_ _***all***_ a\\*b\\_c"
    assert plain(action.text) == "Plain bold italic under all a*b_c"
    runs = etree.fromstring(write_fdx(doc)).find("Content/Paragraph").findall("Text")
    assert [(r.get("Style"), r.text) for r in runs if r.get("Style")] == [
        ("Bold", "bold"),
        ("Italic", "italic"),
        ("Underline", "under"),
        ("Bold+Italic+Underline", "all"),
    ]


def test_other_paragraph_types() -> None:
    doc = parse_fdx(
        _fdx(
            '<Paragraph Type="General"><Text>General text.</Text></Paragraph>'
            '<Paragraph Type="Cast List"><Text>MARA, LEO</Text></Paragraph>'
            '<Paragraph Type="Action" Alignment="Center"><Text>THE END</Text></Paragraph>'
            '<Paragraph Type="New Act"><Text>ACT TWO</Text></Paragraph>'
            '<Paragraph Type="End of Act"><Text>END OF ACT TWO</Text></Paragraph>'
            '<Paragraph Type="Outline 3"><Text>Sequence</Text></Paragraph>'
            '<Paragraph Type="Outline Body"><Text>Summary.</Text></Paragraph>'
            '<Paragraph Type="Teleplay Widget"><Text>Kept as action.</Text></Paragraph>'
            '<Paragraph Type="Action"><Text>   </Text></Paragraph>'
            '<Paragraph Type="Scene Heading"><Text>INT. HOUSE - DAY</Text></Paragraph>'
        )
    )
    assert _d(doc.preamble) == _d(
        [
            Action(text="General text."),
            Action(text="MARA, LEO"),
            Centered(text="THE END"),
            PageBreak(),
            Centered(text="ACT TWO"),
            Centered(text="END OF ACT TWO"),
            Section(text="Sequence", depth=3),
            Synopsis(text="Summary."),
            Action(text="Kept as action."),
        ]
    )
    assert doc.scenes[0].heading.time_of_day == "DAY"
    assert doc.scenes[0].heading.scene_number is None


def test_only_content_paragraphs_are_script() -> None:
    doc = parse_fdx(
        _fdx(
            '<Paragraph Type="Scene Heading"><SceneProperties><SceneArcBeats><CharacterArcBeat Name="X">'
            '<Paragraph Type="Action"><Text>beat</Text></Paragraph></CharacterArcBeat></SceneArcBeats>'
            "</SceneProperties><Text>INT. ROOM</Text></Paragraph>",
            '<HeaderAndFooter><Header><Paragraph Type="Action"><Text>header</Text></Paragraph></Header>'
            '</HeaderAndFooter><ScriptNotes><ScriptNote><Paragraph Type="Action"><Text>note</Text>'
            "</Paragraph></ScriptNote></ScriptNotes>",
        )
    )
    assert [s.heading.text for s in doc.scenes] == ["INT. ROOM"]
    assert doc.all_elements() == [] and doc.title_page == []


def test_helpers_split_heading_and_cue() -> None:
    assert split_heading("INT./EXT. CAR - MOVING - NIGHT") == ("INT./EXT.", "CAR - MOVING", "NIGHT")
    assert split_heading("EXT. PARK--DAY") == ("EXT.", "PARK", "DAY")
    assert split_heading("I/E VAN") == ("I/E", "VAN", None)
    assert split_heading("INTERIOR DESIGN") == (None, "INTERIOR DESIGN", None)
    assert split_cue("JIM (O.S.)") == ("JIM", "O.S.")
    assert split_cue("R2D2") == ("R2D2", None)


def test_str_input_with_declaration_and_bom() -> None:
    source = "\ufeff" + _fdx('<Paragraph Type="Action"><Text>Ünïcode — ok</Text></Paragraph>').decode()
    expected = _d([Action(text="Ünïcode — ok")])
    assert _d(parse_fdx(source).preamble) == expected
    assert _d(parse_fdx(source.encode("utf-8")).preamble) == expected


# -------------------------------------------------------------------------------------- written XML


def _skeleton(root: etree._Element) -> dict[str, set[str]]:
    """Attribute names seen per element tag."""
    seen: dict[str, set[str]] = {}
    for node in root.iter():
        if isinstance(node.tag, str):
            seen.setdefault(node.tag, set()).update(node.attrib)
    return seen


def test_written_xml_matches_final_draft_skeleton(corpus_dir: Path) -> None:
    data = write_fdx(_rich())
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n')
    ours = etree.fromstring(data)
    sample = etree.parse(str(corpus_dir / FD_SAMPLE)).getroot()
    assert ours.tag == sample.tag == "FinalDraft"
    assert dict(ours.attrib) == dict(sample.attrib)
    assert {c.tag for c in ours} <= {c.tag for c in sample}
    for paragraph in ours.find("Content"):
        assert paragraph.tag == "Paragraph"
        assert paragraph.get("Type") or paragraph.find("DualDialogue") is not None
    for text in ours.iter("Text"):
        assert text.getparent().tag == "Paragraph"
        assert len(text) == 0
    sample_attrs, our_attrs = _skeleton(sample), _skeleton(ours)
    for tag in ("Paragraph", "Text", "FontSpec", "ParagraphSpec", "Behavior", "Outline", "PageSize"):
        assert our_attrs[tag] <= sample_attrs[tag], tag
    for settings in ours.iter("ElementSettings"):
        assert [c.tag for c in settings] == ["FontSpec", "ParagraphSpec", "Behavior", "Outline"]
    assert {s.get("Type") for s in sample.iter("ElementSettings")} <= {
        s.get("Type") for s in ours.iter("ElementSettings")
    }
    used = {p.get("Type") for p in ours.find("Content").iter("Paragraph") if p.get("Type")}
    assert used <= {s.get("Type") for s in ours.iter("ElementSettings")}
    title = ours.find("TitlePage/Content")
    assert title is not None and all(p.tag == "Paragraph" for p in title)


def test_written_dual_dialogue_and_page_breaks() -> None:
    content = etree.fromstring(write_fdx(_rich())).find("Content")
    (dual,) = content.iter("DualDialogue")
    assert [p.get("Type") for p in dual] == ["Character", "Dialogue", "Character", "Dialogue"]
    assert [p.findtext("Text") for p in dual if p.get("Type") == "Character"] == ["McCABE", "LEO (CONT'D)"]
    breaks = [p for p in content if p.get("StartsNewPage") == "Yes"]
    # two after the shot (one carried by an empty paragraph), before scene 2's heading, two in scene 2.
    assert len(breaks) == 5
    assert content.find('Paragraph[@Type="Scene Heading"]').get("Number") == "1A"


# -------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "data",
    [b"", b"   \n", "", "\ufeff  "],
    ids=["empty-bytes", "blank-bytes", "empty-str", "bom-only"],
)
def test_empty_input(data: bytes | str) -> None:
    with pytest.raises(ScreenplayError, match="empty FDX"):
        parse_fdx(data)


def test_malformed_xml_names_line_and_column() -> None:
    data = b'<?xml version="1.0"?>\n<FinalDraft>\n<Content><Paragraph Type="Action">\n<Text>x</Paragraph>\n'
    with pytest.raises(ScreenplayError) as info:
        parse_fdx(data)
    message = str(info.value)
    assert "line 4, column" in message and "\n" not in message


def test_truncated_corpus_file_is_refused(corpus_dir: Path) -> None:
    data = (corpus_dir / FD_SAMPLE).read_bytes()
    with pytest.raises(ScreenplayError, match="malformed FDX XML at line"):
        parse_fdx(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"<!DOCTYPE html><html><body><p>Hi<br></p></body></html>", "malformed FDX XML"),
        (b"<html><body><p>Hi</p></body></html>", "root element is <html>"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01", "malformed FDX XML at line 1"),
        (bytes(range(256)) * 4, "malformed FDX XML"),
        (b"<FinalDraft><TitlePage/></FinalDraft>", "no <Content>"),
    ],
    ids=["html", "xhtml", "png", "binary", "no-content"],
)
def test_not_an_fdx(data: bytes, pattern: str) -> None:
    with pytest.raises(ScreenplayError, match=pattern) as info:
        parse_fdx(data)
    assert "\n" not in str(info.value)


def test_billion_laughs_is_refused_quickly() -> None:
    entities = '<!ENTITY a0 "lol">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    data = f'<?xml version="1.0"?><!DOCTYPE FinalDraft [{entities}]><FinalDraft><Content>'
    data += '<Paragraph Type="Action"><Text>&a9;</Text></Paragraph></Content></FinalDraft>'
    start = time.perf_counter()
    with pytest.raises(ScreenplayError):
        parse_fdx(data.encode())
    assert time.perf_counter() - start < 2


def test_small_internal_entities_are_refused_too() -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE FinalDraft [<!ENTITY x "boom">]><FinalDraft><Content>'
    data += b'<Paragraph Type="Action"><Text>&x;</Text></Paragraph></Content></FinalDraft>'
    with pytest.raises(ScreenplayError, match="DTD"):
        parse_fdx(data)


def test_external_entity_is_not_loaded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    data = (
        f'<?xml version="1.0"?><!DOCTYPE FinalDraft [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
        '<FinalDraft><Content><Paragraph Type="Action"><Text>&xxe;</Text></Paragraph></Content></FinalDraft>'
    )
    with pytest.raises(ScreenplayError) as info:
        parse_fdx(data.encode())
    assert "TOP-SECRET" not in str(info.value)
