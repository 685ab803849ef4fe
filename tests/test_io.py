"""dsr.screenplay.io: decoding, bad files, dispatch by extension, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsr.screenplay.errors import ScreenplayError
from dsr.screenplay.io import decode_text, read_document, read_text, write_document
from dsr.screenplay.model import Character

SCRIPT = "Title: Harbor\n\nINT. LIGHTHOUSE - NIGHT\n\nMARA\nWho's there?\n"


def test_utf8_with_and_without_bom_and_crlf(tmp_path: Path) -> None:
    plain = tmp_path / "a.fountain"
    plain.write_bytes(SCRIPT.encode())
    bom = tmp_path / "b.fountain"
    bom.write_bytes(b"\xef\xbb\xbf" + SCRIPT.replace("\n", "\r\n").encode())
    assert read_text(plain) == SCRIPT
    assert read_document(bom).model_dump() == read_document(plain).model_dump()


def test_latin1_and_cp1252_fallback() -> None:
    assert decode_text("CAFÉ – “quoted”".encode("cp1252")) == "CAFÉ – “quoted”"
    assert decode_text(b"na\xefve \x81") == "naïve \x81"  # 0x81 is undefined in cp1252: Latin-1


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "u16.fountain"
    path.write_bytes(SCRIPT.encode("utf-16"))
    assert read_document(path).scenes[0].heading.location == "LIGHTHOUSE"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"  \n\r\n\t", "file is empty"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary file"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.fountain"
    path.write_bytes(content)
    with pytest.raises(ScreenplayError, match=message) as info:
        read_document(path)
    assert "\n" not in str(info.value)


def test_missing_directory_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ScreenplayError, match="file not found"):
        read_document(tmp_path / "nope.fountain")
    with pytest.raises(ScreenplayError, match="is a directory"):
        read_text(tmp_path)
    odd = tmp_path / "script.docx"
    odd.write_text(SCRIPT)
    with pytest.raises(ScreenplayError, match="unknown screenplay extension '.docx'"):
        read_document(odd)
    pdf = tmp_path / "script.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(ScreenplayError, match="reading PDF is not supported"):
        read_document(pdf)


def test_oversize_file_is_refused_with_its_size(tmp_path: Path) -> None:
    path = tmp_path / "huge.fountain"
    path.write_bytes(b"Action.\n\n" * 200)
    with pytest.raises(ScreenplayError, match=r"file is 0\.0 MiB, over the 0\.\d+ MiB limit"):
        read_text(path, max_bytes=1000)
    assert read_text(path, max_bytes=10_000).startswith("Action.")


def test_fdx_inside_a_text_extension_is_sniffed(corpus_dir: Path, tmp_path: Path) -> None:
    source = corpus_dir / "screenplain__dual-dialogue.fdx"
    disguised = tmp_path / "dual.txt"
    disguised.write_bytes(source.read_bytes())
    assert read_document(disguised).model_dump() == read_document(source).model_dump()


@pytest.mark.parametrize("suffix", [".fountain", ".fdx", ".html"])
def test_write_and_read_back(corpus_dir: Path, tmp_path: Path, suffix: str) -> None:
    doc = read_document(corpus_dir / "screenplay-tools__TestFDX-FI.fountain")
    out = write_document(doc, tmp_path / f"out{suffix}")
    assert out.exists() and not list(tmp_path.glob(".*.tmp"))
    if suffix == ".html":
        html = out.read_text(encoding="utf-8")
        assert html.startswith("<!DOCTYPE html>") and "INT. RADIO STUDIO" in html and "JIM (O.S.)" in html
        return
    again = read_document(out)
    assert [s.heading.text for s in again.scenes] == [s.heading.text for s in doc.scenes]
    assert [e.cue for e in again.all_elements() if isinstance(e, Character)] == [
        "DJ",
        "DAVE",
        "JIM (O.S.)",
        "KAY",
    ]


def test_write_pdf(corpus_dir: Path, tmp_path: Path) -> None:
    doc = read_document(corpus_dir / "screenplay-tools__TestFDX-FD.fountain")
    out = write_document(doc, tmp_path / "out.pdf")
    assert out.read_bytes().startswith(b"%PDF")


def test_write_unknown_extension_leaves_nothing(tmp_path: Path) -> None:
    doc = read_document(Path(__file__).resolve().parents[1] / "data" / "corpus" / "nrb__nemesis.fountain")
    with pytest.raises(ScreenplayError, match="unknown output extension '.odt'"):
        write_document(doc, tmp_path / "x.odt")
    assert list(tmp_path.iterdir()) == []
