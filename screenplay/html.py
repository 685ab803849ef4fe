"""Screenplay -> one self-contained HTML page (screenplay layout in CSS, Courier, emphasis kept).

A reading copy for the browser, not a print format (that is the PDF). Notes, boneyard, sections and
synopses are left out, as every Fountain renderer does: the page shows what the PDF prints.
"""

from __future__ import annotations

from html import escape

from dsr.screenplay.inline import to_runs
from dsr.screenplay.model import Character, Element, Scene, Screenplay

_CSS = """
body { background: #eee; }
.page { background: #fff; width: 8.5in; margin: 1em auto; padding: 1in 1in 1in 1.5in; box-sizing: border-box;
        font: 12pt/1 "Courier Prime", "Courier New", Courier, monospace; }
.page p { margin: 0 0 1em 0; white-space: pre-wrap; }
.title { text-align: center; margin-bottom: 3em; }
.heading { font-weight: bold; text-transform: uppercase; }
.character { margin: 0 0 0 2.2in !important; }
.parenthetical { margin: 0 0 0 1.6in !important; max-width: 2in; }
.dialogue { margin: 0 0 0 1in !important; max-width: 3.5in; }
.block-end { margin-bottom: 1em !important; }
.transition { text-align: right; }
.centered { text-align: center; }
.lyrics { font-style: italic; margin-left: 1in !important; }
.page-break { border: none; border-top: 1px dashed #aaa; margin: 2em 0; }
"""

_HIDDEN = frozenset({"note", "boneyard", "section", "synopsis"})
_DIALOGUE_BLOCK = frozenset({"character", "parenthetical", "dialogue", "lyrics"})


def _inline(text: str) -> str:
    out = []
    for run in to_runs(text):
        piece = escape(run.text)
        if run.underline:
            piece = f"<u>{piece}</u>"
        if run.italic:
            piece = f"<em>{piece}</em>"
        if run.bold:
            piece = f"<strong>{piece}</strong>"
        out.append(piece)
    return "".join(out)


def _element(element: Element, block_end: bool) -> str:
    kind = element.type
    if kind == "page_break":
        return '<hr class="page-break">'
    text = element.cue if isinstance(element, Character) else element.text  # type: ignore[union-attr]
    classes = kind.replace("_", "-") + (" block-end" if block_end else "")
    return f'<p class="{classes}">{_inline(text)}</p>'


def _body(elements: list[Element]) -> list[str]:
    shown = [e for e in elements if e.type not in _HIDDEN]
    out = []
    for index, element in enumerate(shown):
        nxt = shown[index + 1].type if index + 1 < len(shown) else None
        in_block = element.type in _DIALOGUE_BLOCK
        block_end = in_block and (nxt is None or nxt == "character" or nxt not in _DIALOGUE_BLOCK)
        out.append(_element(element, block_end))
    return out


def scene_html(scene: Scene) -> str:
    """One scene as HTML paragraphs (heading first), for pages that lay scenes out themselves; style them
    with :data:`CSS` inside an element of class ``page``."""
    number = f"{escape(scene.heading.scene_number)} " if scene.heading.scene_number else ""
    return "\n".join(
        [f'<p class="heading">{number}{_inline(scene.heading.text)}</p>', *_body(scene.elements)]
    )


CSS = _CSS


def render_html(doc: Screenplay) -> str:
    """The whole document as an HTML5 page (UTF-8)."""
    title = doc.title() or "Screenplay"
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f'<title>{escape(title)}</title><style>{_CSS}</style></head><body><div class="page">',
    ]
    if doc.title_page:
        parts.append('<div class="title">')
        parts.extend(f"<p>{_inline(field.value)}</p>" for field in doc.title_page)
        parts.append('</div><hr class="page-break">')
    parts.extend(_body(doc.preamble))
    parts.extend(scene_html(scene) for scene in doc.scenes)
    parts.append("</div></body></html>")
    return "\n".join(parts) + "\n"
