"""Final Draft FDX writer: a Final Draft 8+ document (``Version="5"``) with standard formatting.

Paragraph types map as :mod:`dsr.screenplay.fdx_reader` lists, the other way round, so write -> read gives
the document back except for what that module lists as lossy. Besides the script the document carries
what Final Draft expects to find: element settings for every type written (custom Lyrics, Note and
Boneyard, Outline 1..N), the title page, a page-number header, page layout, SmartType lists and
(MORE)/(CONT'D) settings. Title fields are written centred where the reader's heuristic
(:class:`~dsr.screenplay.fdx_reader.CentreState`, :func:`~dsr.screenplay.fdx_reader.classify_left`) gives the same
key back, as ``Key: value`` otherwise. Control characters, which XML cannot hold, are removed with a
:class:`~dsr.screenplay.control.ControlCharacterWarning`.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from dsr.screenplay.control import strip_control_characters, warn_control_characters
from dsr.screenplay.fdx_reader import CentreState, classify_left
from dsr.screenplay.inline import Run, to_runs
from dsr.screenplay.model import (
    Action,
    Boneyard,
    Centered,
    Character,
    Dialogue,
    Element,
    Lyrics,
    Note,
    PageBreak,
    Parenthetical,
    SceneHeading,
    Screenplay,
    Section,
    Shot,
    Synopsis,
    TitleField,
    Transition,
)

_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n'
_FONT = {
    "AdornmentStyle": "0",
    "Background": "#FFFFFFFFFFFF",
    "Color": "#000000000000",
    "Font": "Courier Final Draft",
    "RevisionID": "0",
    "Size": "12",
}
_HIDDEN_FONT = {**_FONT, "Color": "#87878F8FE0E0"}

# (type, font style, alignment, left, right, first indent, space before, paginate as, return key, level)
# US Letter with the project's industry layout: action 1.5", dialogue 2.5", parenthetical 3.1", cue 3.7".
_ELEMENTS: tuple[tuple[str, str, str, str, str, str, str, str, str, str], ...] = (
    ("General", "", "Left", "1.50", "7.50", "0.00", "0", "General", "General", "1"),
    ("Scene Heading", "AllCaps", "Left", "1.50", "7.50", "0.00", "24", "Scene Heading", "Action", "2"),
    ("Action", "", "Left", "1.50", "7.50", "0.00", "12", "Action", "Action", "1"),
    ("Character", "AllCaps", "Left", "3.70", "7.25", "0.00", "12", "Character", "Dialogue", "1"),
    ("Parenthetical", "", "Left", "3.10", "5.60", "-0.10", "0", "Parenthetical", "Dialogue", "1"),
    ("Dialogue", "", "Left", "2.50", "6.00", "0.00", "0", "Dialogue", "Action", "1"),
    ("Transition", "AllCaps", "Right", "5.50", "7.10", "0.00", "12", "Transition", "Scene Heading", "1"),
    ("Shot", "AllCaps", "Left", "1.50", "7.50", "0.00", "12", "Scene Heading", "Action", "1"),
    ("Cast List", "AllCaps", "Left", "1.50", "7.50", "0.00", "0", "Action", "Action", "1"),
    (
        "New Act",
        "Bold+Underline+AllCaps",
        "Center",
        "1.50",
        "7.50",
        "0.00",
        "12",
        "Scene Heading",
        "Scene Heading",
        "4",
    ),
    (
        "End of Act",
        "Bold+Underline+AllCaps",
        "Center",
        "1.50",
        "7.50",
        "0.00",
        "24",
        "Character",
        "New Act",
        "4",
    ),
    ("Lyrics", "Italic", "Left", "2.50", "6.00", "0.00", "0", "Dialogue", "Lyrics", "1"),
    (
        "Outline Body",
        "Italic+HiddenText",
        "Left",
        "1.50",
        "7.50",
        "0.00",
        "0",
        "General",
        "Outline Body",
        "0",
    ),
    ("Note", "Italic+HiddenText", "Left", "1.50", "7.50", "0.00", "12", "General", "Action", "0"),
    ("Boneyard", "HiddenText", "Left", "1.50", "7.50", "0.00", "12", "General", "Action", "0"),
)
_STANDARD_ELEMENTS = 9  # General .. Cast List get Final Draft's keyboard shortcuts 0-8
_OUTLINE_INDENT = ("1.50", "1.62", "1.75", "1.88")
_TITLE_TOP_BLANKS = 16
_TITLE_BOTTOM_BLANKS = 20


def _sub(parent: etree._Element, tag: str, attrs: dict[str, str] | None = None) -> etree._Element:
    return etree.SubElement(parent, tag, attrs or {})


def _style(run: Run) -> str:
    return "+".join(
        name for name, on in (("Bold", run.bold), ("Italic", run.italic), ("Underline", run.underline)) if on
    )


_VERBATIM = frozenset({"Note", "Boneyard"})  # hidden text, not markup: one unstyled run, as written


def _add_text(
    paragraph: etree._Element, text: str, font: dict[str, str] | None = None, verbatim: bool = False
) -> None:
    for run in ([Run(text)] if text else []) if verbatim else to_runs(text):
        style = _style(run)
        attrs = {**font, "Style": style} if font is not None else ({"Style": style} if style else {})
        _sub(paragraph, "Text", attrs).text = run.text


def _element_settings(root: etree._Element, depths: int) -> None:
    rows = list(_ELEMENTS)
    for depth in range(1, max(depths, 4) + 1):
        indent = _OUTLINE_INDENT[min(depth, 4) - 1]
        level = str(max(5 - depth, 1))
        rows.append(
            (
                f"Outline {depth}",
                "Bold+Italic+HiddenText",
                "Left",
                indent,
                "7.50",
                "0.00",
                "12",
                "General",
                "Outline Body",
                level,
            )
        )
    for index, (kind, style, align, left, right, first, before, paginate, ret, level) in enumerate(rows):
        shortcut = str(index) if index < _STANDARD_ELEMENTS else ""
        settings = _sub(root, "ElementSettings", {"Type": kind})
        hidden = "HiddenText" in style
        _sub(settings, "FontSpec", {**(_HIDDEN_FONT if hidden else _FONT), "Style": style})
        _sub(
            settings,
            "ParagraphSpec",
            {
                "Alignment": align,
                "FirstIndent": first,
                "Leading": "Regular",
                "LeftIndent": left,
                "RightIndent": right,
                "SpaceBefore": before,
                "Spacing": "1",
                "StartsNewPage": "Yes" if kind == "New Act" else "No",
            },
        )
        _sub(
            settings,
            "Behavior",
            {"PaginateAs": paginate, "ReturnKey": ret, "Shortcut": shortcut, "WinShortcut": shortcut},
        )
        _sub(settings, "Outline", {"CanHide": "Yes" if hidden else "No", "Level": level})


def _body_kind(element: Element) -> tuple[str, dict[str, str], str]:
    """FDX paragraph type, extra attributes and text for one element (not PageBreak)."""
    match element:
        case Action():
            return "Action", {}, element.text
        case Centered():
            return "Action", {"Alignment": "Center"}, element.text
        case Character():
            return "Character", {}, element.cue
        case Section():
            return f"Outline {element.depth}", {}, element.text
        case Synopsis():
            return "Outline Body", {}, element.text
        case Parenthetical() | Dialogue() | Transition() | Shot() | Lyrics() | Note() | Boneyard():
            kind = {"parenthetical": "Parenthetical", "dialogue": "Dialogue", "transition": "Transition"}
            return kind.get(element.type, element.type.capitalize()), {}, element.text
    raise TypeError(f"unexpected element {element!r}")


class _Writer:
    def __init__(self, content: etree._Element) -> None:
        self.content = content
        self.page_break = False

    def paragraph(self, parent: etree._Element, kind: str, attrs: dict[str, str], text: str) -> None:
        base: dict[str, str] = dict(attrs)
        if self.page_break and parent is self.content:
            base["StartsNewPage"] = "Yes"
            self.page_break = False
        paragraph = _sub(parent, "Paragraph", {**base, "Type": kind})
        _add_text(paragraph, text, verbatim=kind in _VERBATIM)

    def break_(self) -> None:
        if self.page_break:
            self.paragraph(self.content, "Action", {}, "")
        self.page_break = True

    def finish(self) -> None:
        if self.page_break:
            self.paragraph(self.content, "Action", {}, "")

    def elements(self, elements: list[Element]) -> None:
        i = 0
        while i < len(elements):
            element = elements[i]
            if isinstance(element, PageBreak):
                self.break_()
                i += 1
                continue
            if isinstance(element, Character) and not element.dual:
                end = _speech_end(elements, i)
                if end < len(elements) and isinstance(elements[end], Character) and elements[end].dual:
                    self.dual(elements[i : _speech_end(elements, end)])
                    i = _speech_end(elements, end)
                    continue
            kind, attrs, text = _body_kind(element)
            self.paragraph(self.content, kind, attrs, text)
            i += 1

    def dual(self, speeches: list[Element]) -> None:
        outer = _sub(self.content, "Paragraph")
        if self.page_break:
            outer.set("StartsNewPage", "Yes")
            self.page_break = False
        group = _sub(outer, "DualDialogue")
        for element in speeches:
            kind, attrs, text = _body_kind(element)
            self.paragraph(group, kind, attrs, text)

    def heading(self, heading: SceneHeading) -> None:
        attrs = {"Number": heading.scene_number} if heading.scene_number else {}
        self.paragraph(self.content, "Scene Heading", attrs, heading.text)


def _speech_end(elements: list[Element], start: int) -> int:
    """Index after the speech (cue + parentheticals/dialogue/lyrics) that starts at ``start``."""
    end = start + 1
    while end < len(elements) and isinstance(elements[end], Parenthetical | Dialogue | Lyrics):
        end += 1
    return end


def _layout(align: str) -> dict[str, str]:
    """Paragraph attributes Final Draft writes on title-page and header paragraphs."""
    return {
        "Alignment": align,
        "FirstIndent": "0.00",
        "Leading": "Regular",
        "LeftIndent": "1.50",
        "RightIndent": "7.50",
        "SpaceBefore": "0",
        "Spacing": "1",
        "StartsNewPage": "No",
    }


def _title_paragraph(content: etree._Element, align: str, text: str = "") -> None:
    paragraph = _sub(content, "Paragraph", _layout(align))
    if text:
        _add_text(paragraph, text, _FONT)


def _title_page(root: etree._Element, fields: list[TitleField]) -> None:
    """Centred fields where the reader's heuristic gives the same key back, the rest bottom left."""
    page = _sub(root, "TitlePage")
    content = _sub(page, "Content")
    for _ in range(_TITLE_TOP_BLANKS):
        _title_paragraph(content, "Left")
    state = CentreState()
    in_bottom = False
    for field in fields:
        value = field.value.strip("\n")
        centred = _clean(value) and state.classify(value) == field.key
        if centred:
            state.accept(field.key)
            _title_paragraph(content, "Center", value)
            _title_paragraph(content, "Center")
            continue
        if not in_bottom:
            for _ in range(_TITLE_BOTTOM_BLANKS):
                _title_paragraph(content, "Left")
            in_bottom = True
        if _clean(value) and classify_left(value) == (field.key, value):
            text = value
        else:
            text = f"{field.key}:\n{value}" if "\n" in value else f"{field.key}: {value}".rstrip()
        _title_paragraph(content, "Left", text)
        _title_paragraph(content, "Left")


def _clean(value: str) -> bool:
    """A value the reader gets back unchanged from one paragraph: not empty, no outer whitespace."""
    return bool(value) and value == value.strip()


def _smart_type(root: etree._Element, doc: Screenplay) -> None:
    """Autocomplete lists Final Draft offers while typing: this script's cues, extensions and places."""
    smart = _sub(root, "SmartType")
    characters = _sub(smart, "Characters")
    for name in doc.characters():
        _sub(characters, "Character").text = name
    extensions = _sub(smart, "Extensions")
    seen = {"V.O.", "O.S.", "O.C.", "CONT'D"}
    seen.update(e.extension for e in doc.all_elements() if isinstance(e, Character) and e.extension)
    for extension in sorted(seen):
        _sub(extensions, "Extension").text = f"({extension})"
    intros = _sub(smart, "SceneIntros", {"Separator": ". "})
    for intro in ("INT", "EXT", "INT./EXT", "I/E"):
        _sub(intros, "SceneIntro").text = intro
    locations = _sub(smart, "Locations")
    for location in dict.fromkeys(s.heading.location for s in doc.scenes if s.heading.location):
        _sub(locations, "Location").text = location
    times = _sub(smart, "TimesOfDay", {"Separator": " - "})
    defaults = ("DAY", "NIGHT", "MORNING", "AFTERNOON", "EVENING", "LATER", "CONTINUOUS")
    for time in dict.fromkeys(
        [*defaults, *(s.heading.time_of_day for s in doc.scenes if s.heading.time_of_day)]
    ):
        _sub(times, "TimeOfDay").text = time
    transitions = _sub(smart, "Transitions")
    for transition in ("CUT TO:", "FADE IN:", "FADE OUT.", "FADE TO:", "DISSOLVE TO:", "MATCH CUT TO:"):
        _sub(transitions, "Transition").text = transition


def _xml_safe(doc: Screenplay) -> Screenplay:
    """``doc`` without control characters (XML cannot hold them), warning when any were removed.

    A document read from Fountain has none left; one built in code (a model's draft) may.
    """
    removed: list[str] = []

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            text, found = strip_control_characters(value)
            removed.extend(found)
            return text
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    data = clean(doc.model_dump())
    if not removed:
        return doc
    warn_control_characters(removed)
    return Screenplay.model_validate(data)


def write_fdx(doc: Screenplay) -> bytes:
    """A Final Draft 8+ document (``Version="5"``) that Final Draft opens with standard formatting."""
    doc = _xml_safe(doc)
    root = etree.Element("FinalDraft", {"DocumentType": "Script", "Template": "No", "Version": "5"})
    content = _sub(root, "Content")
    writer = _Writer(content)
    writer.elements(doc.preamble)
    for scene in doc.scenes:
        writer.heading(scene.heading)
        writer.elements(scene.elements)
    writer.finish()

    header_footer = _sub(
        root,
        "HeaderAndFooter",
        {
            "FooterFirstPage": "No",
            "FooterVisible": "No",
            "HeaderFirstPage": "No",
            "HeaderVisible": "Yes",
            "StartingPage": "1",
        },
    )
    header = _sub(_sub(header_footer, "Header"), "Paragraph", _layout("Right"))
    _sub(header, "DynamicLabel", {**_FONT, "Style": "", "Type": "Page #"})
    _sub(header, "Text", {**_FONT, "Style": ""}).text = "."
    _sub(_sub(header_footer, "Footer"), "Paragraph", _layout("Right"))
    layout = _sub(
        root,
        "PageLayout",
        {
            "BottomMargin": "72",
            "DocumentLeading": "Normal",
            "FooterMargin": "36",
            "HeaderMargin": "36",
            "TopMargin": "72",
        },
    )
    _sub(layout, "PageSize", {"Height": "11.00", "Width": "8.50"})
    depth = max((e.depth for e in doc.all_elements() if isinstance(e, Section)), default=0)
    _element_settings(root, depth)
    _title_page(root, doc.title_page)
    _smart_type(root, doc)
    mores = _sub(root, "MoresAndContinueds")
    _sub(mores, "FontSpec", {**_FONT, "Style": ""})
    _sub(
        mores,
        "DialogueBreaks",
        {
            "AutomaticCharacterContinueds": "Yes",
            "BottomOfPage": "Yes",
            "DialogueBottom": "(MORE)",
            "DialogueTop": "(CONT'D)",
            "TopOfNext": "Yes",
        },
    )
    etree.indent(root, space="  ")
    for paragraph in root.iter("Paragraph"):
        # Runs of one paragraph stay glued: whitespace between them could read as text.
        for run in paragraph.findall("Text")[:-1]:
            run.tail = None
    return _DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False) + b"\n"
