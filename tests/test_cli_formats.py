"""``dsr parse`` and ``dsr convert``: output, exit status 2 for bad input, atomic conversion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dsr.cli.main import main

DSR = Path(sys.executable).with_name("dsr")


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """``dsr.cli.main.main`` in-process (fast); exit status, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["dsr", *args])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exc:
        main()
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_parse_summary(monkeypatch, capsys, corpus_dir: Path) -> None:
    code, out, _ = run_main(
        monkeypatch, capsys, "parse", str(corpus_dir / "earthbound19__ASCENT_TO_GURU_PEAK.fountain")
    )
    assert code == 0
    assert "ASCENT TO GURU PEAK" in out and "6 scene(s)" in out
    assert "EXT. MOUNT GURU FOOTHILLS--DAY" in out
    # 27 cues in MANIFEST.md: YORBLEF speaks 26 times, GURU once
    assert "YORBLEF" in out and "26" in out and "character 27" in out and "scene_heading 6" in out


def test_parse_json_is_the_document_model(monkeypatch, capsys, corpus_dir: Path) -> None:
    from dsr.screenplay.model import Screenplay

    code, out, _ = run_main(
        monkeypatch, capsys, "parse", str(corpus_dir / "screenplay-tools__TestFDX-FD.fdx"), "--json"
    )
    assert code == 0
    doc = Screenplay.model_validate_json(out)
    assert [s.heading.scene_number for s in doc.scenes] == ["1", "2"]
    assert "line" not in json.loads(out)["scenes"][0]["heading"]


def test_convert_fountain_to_fdx_and_back(monkeypatch, capsys, corpus_dir: Path, tmp_path: Path) -> None:
    source = corpus_dir / "screenplain__dual-dialogue.fountain"
    code, out, _ = run_main(monkeypatch, capsys, "convert", str(source), "-o", str(tmp_path / "dual.fdx"))
    assert code == 0 and out.startswith(f"wrote {tmp_path / 'dual.fdx'} (FDX")
    code, _, _ = run_main(
        monkeypatch, capsys, "convert", str(tmp_path / "dual.fdx"), "-o", str(tmp_path / "dual.fountain")
    )
    assert code == 0
    assert (tmp_path / "dual.fountain").read_text(encoding="utf-8") == "GIRL\nHey!\n\nGUY ^\nHello!\n"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.fountain", None, "file not found"),
        ("empty.fountain", b"", "file is empty"),
        ("binary.fountain", b"\x89PNG\r\n\x1a\n\x00\x00", "binary file"),
        ("script.doc", b"INT. A - DAY\n", "unknown screenplay extension"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    for args in (["parse", str(path)], ["convert", str(path), "-o", str(tmp_path / "out.fdx")]):
        result = subprocess.run([str(DSR), *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.fdx").exists()


def test_convert_unknown_output_extension_exits_2(
    monkeypatch, capsys, corpus_dir: Path, tmp_path: Path
) -> None:
    code, _, err = run_main(
        monkeypatch,
        capsys,
        "convert",
        str(corpus_dir / "nrb__nemesis.fountain"),
        "-o",
        str(tmp_path / "x.docx"),
    )
    assert code == 2 and "unknown output extension '.docx'" in err
    assert list(tmp_path.iterdir()) == []


def test_convert_needs_output(monkeypatch, capsys, corpus_dir: Path) -> None:
    code, _, err = run_main(monkeypatch, capsys, "convert", str(corpus_dir / "nrb__nemesis.fountain"))
    assert code == 2 and "--output" in err
