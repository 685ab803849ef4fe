"""Industry-format PDF: real PDFs read back with pdfplumber, positions checked against the layout spec.

Positions (points, 72 per inch): action and headings 1.5" = 108, dialogue 2.5" = 180,
parenthetical 3.1" = 223.2, cue 3.7" = 266.4, right margin 7.5" = 540; rows of 12 pt from 1" = 72.
"""

from __future__ import annotations

import io
import random
from collections import defaultdict

import pdfplumber
import pytest

from dsr.screenplay.fountain_reader import parse_fountain
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
from dsr.screenplay.page import BODY_LINES
from dsr.screenplay.pagination import paginate
from dsr.screenplay.pdf import render_pdf
from tests.conftest import corpus_files

WORD_LINE = " ".join(["abcd"] * 12)  # exactly 59 characters: one full action line, no sentence end


def filler(lines: int) -> Action:
    """An action of exactly ``lines`` wrapped lines with no place to break."""
    return Action(text=" ".join([WORD_LINE] * lines))


def speech(n: int) -> str:
    return " ".join(f"Sentence {i} is said here." for i in range(n))


def scene(heading: str, *elements, number: str | None = None) -> Scene:
    return Scene(heading=SceneHeading(text=heading, scene_number=number), elements=list(elements))


def read_pages(doc: Screenplay) -> list[list[dict]]:
    """Text lines per page, each {'text','x0','x1','top','chars'}, top to bottom."""
    with pdfplumber.open(io.BytesIO(render_pdf(doc))) as pdf:
        return [page.extract_text_lines(keep_blank_chars=True) for page in pdf.pages]


def find(lines: list[dict], text: str) -> dict:
    hits = [line for line in lines if line["text"].strip() == text]
    assert hits, f"{text!r} not on page: {[line['text'] for line in lines]}"
    return hits[0]


def locate(lines: list[dict], text: str) -> dict:
    """x0, x1 and top of ``text`` inside whichever line holds it (pdfplumber merges lines sharing a row)."""
    for line in lines:
        joined = "".join(c["text"] for c in line["chars"])
        if text in joined:
            start = joined.index(text)
            chars = line["chars"][start : start + len(text)]
            return {"x0": chars[0]["x0"], "x1": chars[-1]["x1"], "top": chars[0]["top"]}
    raise AssertionError(f"{text!r} not on page: {[line['text'] for line in lines]}")


def body(lines: list[dict]) -> list[dict]:
    """Lines of the page body (below the page-number row)."""
    return [line for line in lines if line["top"] >= 71]


SAMPLE = Screenplay(
    scenes=[
        scene(
            "INT. LIGHTHOUSE - NIGHT",
            Action(text="Rain hammers the glass. MARA climbs the stairs."),
            Character(name="MARA", extension="V.O."),
            Parenthetical(text="(quietly)"),
            Dialogue(text="Another storm."),
            Transition(text="CUT TO:"),
            Centered(text="THE END"),
            number="12A",
        )
    ]
)


@pytest.fixture(scope="module")
def sample_page() -> list[dict]:
    pages = read_pages(SAMPLE)
    assert len(pages) == 1
    return pages[0]


def test_page_is_us_letter_in_courier_12() -> None:
    with pdfplumber.open(io.BytesIO(render_pdf(SAMPLE))) as pdf:
        page = pdf.pages[0]
        assert (page.width, page.height) == (612, 792)
        assert page.chars
        assert {c["fontname"] for c in page.chars} == {"Courier"}
        assert {round(c["size"], 2) for c in page.chars} == {12.0}


def test_element_columns(sample_page: list[dict]) -> None:
    assert find(sample_page, "Rain hammers the glass. MARA climbs the stairs.")["x0"] == pytest.approx(
        108, abs=0.5
    )
    assert find(sample_page, "MARA (V.O.)")["x0"] == pytest.approx(266.4, abs=1)
    assert find(sample_page, "(quietly)")["x0"] == pytest.approx(223.2, abs=0.5)
    assert find(sample_page, "Another storm.")["x0"] == pytest.approx(180, abs=0.5)
    assert find(sample_page, "CUT TO:")["x1"] == pytest.approx(540, abs=1)
    centered = find(sample_page, "THE END")
    assert (centered["x0"] + centered["x1"]) / 2 == pytest.approx(324, abs=4)


def test_scene_heading_numbered_on_both_sides_on_first_row(sample_page: list[dict]) -> None:
    heading = [c for c in sample_page[0]["chars"]]
    text = "".join(c["text"] for c in heading)
    assert "INT. LIGHTHOUSE - NIGHT" in text
    assert sample_page[0]["top"] == pytest.approx(72, abs=1)
    start = text.index("INT.")
    assert heading[start]["x0"] == pytest.approx(108, abs=0.5)
    numbers = [c for c in heading if c["x0"] < 108 or c["x0"] > 540]
    assert "".join(c["text"] for c in numbers) == "12A12A"
    assert numbers[0]["x1"] < 108 and numbers[-1]["x0"] > 540 and numbers[-1]["x1"] < 612


def test_one_blank_line_between_elements(sample_page: list[dict]) -> None:
    tops = [round(line["top"]) for line in sample_page]
    assert tops[:4] == [72, 96, 120, 132]  # heading, blank, action, blank, cue, parenthetical


def test_emphasis_from_inline_markup() -> None:
    doc = Screenplay(
        scenes=[scene("INT. ROOM - DAY", Action(text="A **bold** and *slanted* and _underlined_ word."))]
    )
    with pdfplumber.open(io.BytesIO(render_pdf(doc))) as pdf:
        page = pdf.pages[0]
        fonts = defaultdict(str)
        for c in page.chars:
            fonts[c["fontname"]] += c["text"]
        assert fonts["Courier-Bold"] == "bold"
        assert fonts["Courier-Oblique"] == "slanted"
        assert "underlined" in fonts["Courier"]
        text = "".join(c["text"] for c in page.chars)
        first, last = page.chars[text.index("underlined")], page.chars[text.index("underlined") + 9]
        rules = page.lines + page.rects
        assert rules, "no underline drawn"
        assert any(
            r["x0"] == pytest.approx(first["x0"], abs=1)
            and r["x1"] == pytest.approx(last["x1"], abs=1)
            and first["top"] < r["top"] < first["bottom"] + 2
            for r in rules
        )


def test_lyrics_print_as_italic_dialogue() -> None:
    doc = Screenplay(
        scenes=[scene("EXT. PARK - DAY", Character(name="BOB"), Lyrics(text="Happy birthday to you"))]
    )
    line = find(read_pages(doc)[0], "Happy birthday to you")
    assert line["x0"] == pytest.approx(180, abs=0.5)
    assert {c["fontname"] for c in line["chars"]} == {"Courier-Oblique"}


def test_unprinted_elements_are_left_out() -> None:
    doc = Screenplay(
        scenes=[
            scene(
                "INT. ROOM - DAY",
                Section(text="Act one"),
                Synopsis(text="They meet"),
                Note(text="fix this"),
                Boneyard(text="old draft"),
                Action(text="Visible [[inline note]] action."),
            )
        ]
    )
    text = " ".join(line["text"] for line in read_pages(doc)[0])
    assert "Visible action." in text
    for hidden in ("Act one", "They meet", "fix this", "old draft", "inline note"):
        assert hidden not in text


def test_title_page_then_numbered_body_pages() -> None:
    doc = Screenplay(
        title_page=[
            TitleField(key="Title", value="_**HARBOR LIGHTS**_"),
            TitleField(key="Credit", value="written by"),
            TitleField(key="Author", value="Jane Doe"),
            TitleField(key="Draft date", value="1 May 2024"),
            TitleField(key="Contact", value="Jane Doe\njane@example.com"),
        ],
        scenes=[scene(f"INT. ROOM {n} - DAY", filler(40)) for n in range(3)],
    )
    pages = read_pages(doc)
    assert len(pages) == 4
    title = find(pages[0], "HARBOR LIGHTS")
    assert (title["x0"] + title["x1"]) / 2 == pytest.approx(306 + 18, abs=4)  # centred between the margins
    assert 792 / 4 < title["top"] < 792 / 2
    assert find(pages[0], "Jane Doe")["top"] > title["top"]
    contact = locate(pages[0], "jane@example.com")
    draft = locate(pages[0], "1 May 2024")
    assert contact["x0"] == pytest.approx(108, abs=0.5) and contact["top"] > 600
    assert draft["x1"] == pytest.approx(540, abs=1) and draft["top"] > 600
    # no number on the title page nor on the first body page; "2." and "3." top right after
    for page in pages[:2]:
        assert not [line for line in page if line["top"] < 60]
    for number, page in zip(("2.", "3."), pages[2:], strict=True):
        top = [line for line in page if line["top"] < 60]
        assert [line["text"] for line in top] == [number]
        assert top[0]["x1"] == pytest.approx(540, abs=1)
        assert top[0]["top"] == pytest.approx(36, abs=1.5)


def test_no_title_page_without_title_fields() -> None:
    pages = read_pages(Screenplay(scenes=[scene("INT. ROOM - DAY", filler(1))]))
    assert len(pages) == 1 and pages[0][0]["text"] == "INT. ROOM - DAY"


def test_page_break_starts_a_new_page() -> None:
    doc = Screenplay(
        scenes=[scene("INT. A - DAY", Action(text="Before."), PageBreak(), Action(text="After."))]
    )
    pages = read_pages(doc)
    assert [line["text"] for line in pages[0]] == ["INT. A - DAY", "Before."]
    assert [line["text"] for line in body(pages[1])] == ["After."]


def test_long_dialogue_splits_with_more_and_contd() -> None:
    doc = Screenplay(
        scenes=[
            scene(
                "INT. COURT - DAY",
                filler(30),
                Character(name="JUDGE", extension="O.S."),
                Dialogue(text=speech(40)),
            )
        ]
    )
    pages = read_pages(doc)
    assert len(pages) >= 2
    first, second = body(pages[0]), body(pages[1])
    more = first[-1]
    assert more["text"] == "(MORE)" and more["x0"] == pytest.approx(266.4, abs=1)
    assert first[-2]["text"].endswith("said here.")  # the break falls between sentences
    said_before = [line for line in first if line["x0"] == pytest.approx(180, abs=0.5)]
    assert len(said_before) >= 2
    cont = second[0]
    assert cont["text"] == "JUDGE (O.S.) (CONT'D)" and cont["x0"] == pytest.approx(266.4, abs=1)
    assert second[1]["text"].startswith("Sentence ")
    assert len([line for line in second if line["x0"] == pytest.approx(180, abs=0.5)]) >= 2
    spoken = " ".join(
        line["text"] for page in (first, second) for line in page if line["x0"] == pytest.approx(180, abs=0.5)
    )
    assert spoken == speech(40)  # nothing lost or repeated across the break


def test_dialogue_is_about_35_characters_wide() -> None:
    pages = read_pages(
        Screenplay(scenes=[scene("INT. A - DAY", Character(name="A"), Dialogue(text=speech(8)))])
    )
    widths = [len(line["text"]) for line in pages[0] if line["x0"] == pytest.approx(180, abs=0.5)]
    assert max(widths) <= 35 and max(widths) >= 30


def test_dual_dialogue_side_by_side() -> None:
    doc = Screenplay(
        scenes=[
            scene(
                "INT. A - DAY",
                Character(name="LEFT"),
                Dialogue(text="I talk on the left."),
                Character(name="RIGHT", dual=True),
                Dialogue(text="I talk on the right."),
            )
        ]
    )
    chars = pdfplumber.open(io.BytesIO(render_pdf(doc))).pages[0].chars
    rows: dict[float, list[dict]] = defaultdict(list)
    for c in chars:
        rows[round(c["top"])].append(c)
    cue_row = [row for row in rows.values() if "LEFT" in "".join(c["text"] for c in row)][0]
    assert "RIGHT" in "".join(c["text"] for c in cue_row)
    text_row = [row for row in rows.values() if "left." in "".join(c["text"] for c in row)][0]
    xs = [c["x0"] for c in text_row if c["text"] == "I"]
    assert xs[0] < 306 < xs[1]


def test_polish_text_uses_embedded_courier_prime() -> None:
    doc = Screenplay(scenes=[scene("WNĘTRZE. DOM - NOC", Action(text="Zażółć gęślą jaźń. 中文"))])
    with pdfplumber.open(io.BytesIO(render_pdf(doc))) as pdf:
        page = pdf.pages[0]
        assert all("CourierPrime" in c["fontname"] for c in page.chars)
        lines = page.extract_text_lines()
        assert [line["text"] for line in lines] == ["WNĘTRZE. DOM - NOC", "Zażółć gęślą jaźń. ??"]
        assert lines[1]["x0"] == pytest.approx(108, abs=0.5)


# --- pagination rules over many generated pages ---------------------------------------------


def random_script(seed: int, scenes: int = 40) -> Screenplay:
    rng = random.Random(seed)
    out = []
    for n in range(scenes):
        elements: list = []
        for _ in range(rng.randint(2, 9)):
            kind = rng.random()
            if kind < 0.35:
                elements.append(
                    Action(
                        text=" ".join(f"Someone does thing {i} slowly." for i in range(rng.randint(1, 14)))
                    )
                )
            elif kind < 0.9:
                elements.append(Character(name=rng.choice(["MARA", "THE STRANGER", "HARBOUR MASTER"])))
                if rng.random() < 0.3:
                    elements.append(Parenthetical(text="(under her breath, looking at the sea)"))
                elements.append(Dialogue(text=speech(rng.randint(1, 25))))
                if rng.random() < 0.2:
                    elements.append(Parenthetical(text="(beat)"))
                    elements.append(Dialogue(text=speech(rng.randint(1, 6))))
            else:
                elements.append(Transition(text="CUT TO:"))
        out.append(scene(f"INT. ROOM {n} - DAY", *elements, number=str(n + 1)))
    return Screenplay(scenes=out)


@pytest.mark.parametrize("seed", range(6))
def test_pagination_rules_hold_on_long_scripts(seed: int) -> None:
    pages = paginate(random_script(seed))
    assert len(pages) > 5
    for page, following in zip(pages, [*pages[1:], None], strict=True):
        assert len(page.rows) <= BODY_LINES
        assert page.rows[0], "a page starts with a blank row"
        last = page.rows[-1][0]
        assert last.kind not in {"scene_heading", "character", "parenthetical"}, (page.number, last)
        if last.kind == "more":
            assert following is not None
            assert following.rows[0][0].kind == "character" and following.rows[0][0].text.endswith("(CONT'D)")
            spoken_before = 0
            for row in reversed(page.rows[:-1]):
                if not row or row[0].kind not in {"dialogue", "parenthetical"}:
                    break
                spoken_before += row[0].kind == "dialogue"
            assert spoken_before >= 2
            spoken_after = 0
            for row in following.rows[1:]:
                if not row or row[0].kind not in {"dialogue", "parenthetical"}:
                    break
                spoken_after += row[0].kind == "dialogue"
            assert spoken_after >= 2


def test_generated_script_reads_back_within_55_lines_per_page() -> None:
    pages = read_pages(random_script(1, scenes=25))
    assert len(pages) > 5
    for page in pages:
        lines = body(page)
        assert len(lines) <= BODY_LINES
        assert all(72 - 1 <= line["top"] <= 72 + 12 * (BODY_LINES - 1) + 1 for line in lines)
        assert not lines[-1]["text"].startswith("INT. ")  # no heading alone at the bottom
        assert lines[-1]["x0"] != pytest.approx(266.4, abs=1) or lines[-1]["text"] == "(MORE)"


def test_heading_moves_to_next_page_rather_than_end_one() -> None:
    # heading row 0, blank, 49 filler rows (2..50), blank 51, heading 52, blank 53: one row left for
    # a 3-line action that cannot break, so the second heading must open page 2 together with it.
    doc = Screenplay(scenes=[scene("INT. A - DAY", filler(49)), scene("INT. B - DAY", filler(3))])
    pages = read_pages(doc)
    assert len(pages) == 2
    assert body(pages[0])[-1]["text"] == WORD_LINE
    assert body(pages[1])[0]["text"] == "INT. B - DAY"


def test_cue_moves_with_its_dialogue() -> None:
    doc = Screenplay(
        scenes=[scene("INT. A - DAY", filler(51), Character(name="MARA"), Dialogue(text="Short line."))]
    )
    pages = read_pages(doc)
    assert [line["text"] for line in body(pages[1])] == ["MARA", "Short line."]


def test_action_splits_between_sentences_with_two_lines_each_side() -> None:
    action = " ".join(f"The tide rolls in number {i} and goes back out." for i in range(12))  # ~10 lines
    doc = Screenplay(scenes=[scene("INT. A - DAY", filler(45), Action(text=action))])
    pages = read_pages(doc)
    first, second = body(pages[0]), body(pages[1])
    assert len(first) <= BODY_LINES
    tail = [line for line in first if "tide" in line["text"] or "goes back" in line["text"]]
    assert len(tail) >= 2 and tail[-1]["text"].endswith("out.")
    assert len(second) >= 2 and second[0]["text"].startswith("The tide rolls in")
    assert " ".join(line["text"] for line in tail + second) == action


def test_unbreakable_speech_longer_than_a_page_is_cut_at_lines() -> None:
    words = " ".join(["word"] * 900)  # one sentence, ~130 lines
    pages = paginate(Screenplay(scenes=[scene("INT. A - DAY", Character(name="MARA"), Dialogue(text=words))]))
    assert len(pages) >= 3
    spoken = " ".join(row[0].text for page in pages for row in page.rows if row and row[0].kind == "dialogue")
    assert spoken == words
    assert all(len(page.rows) <= BODY_LINES for page in pages)


def test_bold_headings_option() -> None:
    doc = Screenplay(scenes=[scene("int. a - day", Action(text="x"))])
    with pdfplumber.open(io.BytesIO(render_pdf(doc, bold_headings=True))) as pdf:
        heading = [c for c in pdf.pages[0].chars if c["top"] < 80]
        assert "".join(c["text"] for c in heading) == "INT. A - DAY"
        assert {c["fontname"] for c in heading} == {"Courier-Bold"}


def test_lyrics_and_dialogue_without_cue_still_print_in_dialogue_column() -> None:
    doc = Screenplay(
        scenes=[scene("INT. A - DAY", Action(text="They sing."), Lyrics(text="Happy birthday to you"))]
    )
    line = find(read_pages(doc)[0], "Happy birthday to you")
    assert line["x0"] == pytest.approx(180, abs=0.5)


def test_forced_cue_keeps_its_case_and_contd_is_not_doubled() -> None:
    doc = Screenplay(
        scenes=[
            scene(
                "INT. A - DAY",
                filler(40),
                Character(name="McCABE", forced=True),
                Dialogue(text="Hi."),
                Character(name="MARA", extension="CONT'D"),
                Dialogue(text=speech(20)),
            )
        ]
    )
    pages = read_pages(doc)
    assert find(pages[0], "McCABE")["x0"] == pytest.approx(266.4, abs=1)
    assert body(pages[0])[-1]["text"] == "(MORE)"
    assert body(pages[1])[0]["text"] == "MARA (CONT'D)"


@pytest.mark.parametrize("path", corpus_files(".fdx"), ids=lambda p: p.name)
def test_corpus_fdx_renders_every_cue_and_heading(path) -> None:
    from dsr.screenplay.fdx_reader import parse_fdx

    doc = parse_fdx(path.read_bytes())
    pages = read_pages(doc)
    numbered = pages[1:] if doc.title_page else pages
    text = "\n".join(line["text"] for page in numbered for line in body(page))
    for name in doc.characters():
        assert name.upper() in text
    for sc in doc.scenes:
        assert sc.heading.text.upper() in text
    assert all(len(body(page)) <= BODY_LINES for page in numbered)


@pytest.mark.parametrize("path", corpus_files(".fountain"), ids=lambda p: p.name)
def test_corpus_fountain_renders_every_cue_and_heading(path) -> None:
    doc = parse_fountain(path.read_text(encoding="utf-8-sig"))
    pages = read_pages(doc)
    numbered = pages[1:] if doc.title_page else pages
    text = " ".join(" ".join(line["text"] for line in body(page)) for page in numbered).casefold()
    text = " ".join(text.split())
    for name in doc.characters():
        assert " ".join(name.split()).casefold() in text
    for sc in doc.scenes:
        assert " ".join(sc.heading.text.split()).casefold() in text
    for page in numbered:
        lines = body(page)
        assert len(lines) <= BODY_LINES
        if lines:
            assert lines[-1]["x0"] != pytest.approx(266.4, abs=1) or lines[-1]["text"] == "(MORE)"
