"""PDF of a ~120-page script: seconds and pages per second, beside a naive fpdf2 baseline.

The script repeats one hand-built, realistic scene (action, speeches with parentheticals, a long
speech that must split across pages, a dual-dialogue pair, emphasis, transitions) under new
scene headings until the body runs past 120 pages. The baseline draws the same elements with
fpdf2's own ``multi_cell`` flow at the same indents and lets fpdf2 break pages: it knows none of
the screenplay rules (no (MORE)/(CONT'D), no keep-together, no sentence breaks), so the ratio is the
price of doing pagination properly.

Run: ``.venv/bin/python benchmarks/pdf.py [--pages 120] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import time

from fpdf import FPDF

from dsr.screenplay.inline import plain
from dsr.screenplay.model import (
    Action,
    Centered,
    Character,
    Dialogue,
    Parenthetical,
    Scene,
    SceneHeading,
    Screenplay,
    TitleField,
    Transition,
)
from dsr.screenplay.pagination import paginate
from dsr.screenplay.pdf import render_pdf

MONOLOGUE = (
    "My father kept this light for forty years. He never missed a night, not once. "
    "When the fog came in he stood up there with the horn until his hands bled. "
    "People in town said he was stubborn. They were right. "
    "But no ship went down on these rocks while he was watching. "
    "Now they want to switch it to automatic and send me a pension. "
    "Tell me, Mister Hale, who will stand up there with the horn? "
    "A timer? A little box with a blinking light? "
    "I won't sign. You can bring the papers back tomorrow and the day after. "
    "I will still be here, and so will the rocks."
)

SHORT = "My father kept this light for forty years. He never missed a night, not once."


def scene(n: int) -> Scene:
    """Scene n; the length of Mara's speech cycles so that scenes, and page breaks, vary."""
    return Scene(
        heading=SceneHeading(text=f"INT. LIGHTHOUSE KEEPER'S COTTAGE - NIGHT ({n})", scene_number=str(n)),
        elements=[
            Action(
                text="Rain streaks the windows. A kettle rattles on an old iron stove. "
                "**MARA** (60s, weathered, sharp-eyed) sets two chipped mugs on the table. "
                "Across from her, **HALE** (40s, harbour master, soaked raincoat) shifts in his chair."
            ),
            Character(name="HALE"),
            Parenthetical(text="(sliding a folder across)"),
            Dialogue(text="The council voted, Mara. It's *done*. The light goes automatic in March."),
            Character(name="MARA"),
            Dialogue(text=[SHORT, MONOLOGUE, f"{MONOLOGUE} {MONOLOGUE}"][n % 3]),  # the last one splits
            Action(text="Hale looks at the folder. Then at the window, where the beam sweeps past."),
            Character(name="HALE"),
            Dialogue(text="Nobody's asking you to leave."),
            Character(name="MARA", dual=False),
            Parenthetical(text="(pouring the tea)"),
            Dialogue(text="No. Just to stop."),
            Character(name="HALE"),
            Dialogue(text="It's not my decision!"),
            Character(name="MARA", dual=True),
            Dialogue(text="Then whose is it?"),
            Action(
                text="A long silence. The kettle clicks off.\nOutside, thunder. The lights flicker and die."
            ),
            Character(name="MARA", extension="O.S."),
            Dialogue(text="_Now_ who keeps the light?"),
            Transition(text="CUT TO:"),
        ],
    )


def build(pages: int) -> Screenplay:
    """Scenes added or dropped one at a time from a first estimate until the body has ``pages`` pages."""
    title = [
        TitleField(key="Title", value="**HARBOR LIGHTS**"),
        TitleField(key="Credit", value="written by"),
        TitleField(key="Author", value="A. Writer"),
        TitleField(key="Draft date", value="1 May 2025"),
    ]
    doc = Screenplay(
        title_page=title, preamble=[Centered(text="FADE IN:")], scenes=[scene(n) for n in range(1, 7)]
    )
    estimate = max(1, round(pages * len(doc.scenes) / len(paginate(doc)[1:])))
    doc.scenes = [scene(n) for n in range(1, estimate + 1)]
    while len(paginate(doc)[1:]) < pages:
        doc.scenes.append(scene(len(doc.scenes) + 1))
    while len(paginate(doc)[1:]) > pages:
        doc.scenes.pop()
    return doc


def naive(doc: Screenplay) -> bytes:
    """fpdf2's generic text flow at screenplay indents: the baseline, not a screenplay."""
    pdf = FPDF(unit="pt", format="letter")
    pdf.set_margins(108, 72, 72)
    pdf.set_auto_page_break(True, margin=60)
    pdf.set_font("Courier", size=12)
    pdf.add_page()
    geometry = {
        "action": (108, 432),
        "character": (266.4, 273.6),
        "parenthetical": (223.2, 180),
        "dialogue": (180, 252),
        "transition": (108, 432),
        "centered": (108, 432),
    }
    for sc in doc.scenes:
        pdf.set_x(108)
        pdf.multi_cell(432, 12, sc.heading.text.upper(), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(12)
        for element in sc.elements:
            text = element.cue if isinstance(element, Character) else plain(getattr(element, "text", ""))
            x, w = geometry[element.type]
            pdf.set_x(x)
            align = "R" if element.type == "transition" else "L"
            pdf.multi_cell(w, 12, text, align=align, new_x="LMARGIN", new_y="NEXT")
            if element.type in {"action", "dialogue", "transition"}:
                pdf.ln(12)
    return bytes(pdf.output())


def best(fn, repeat: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    doc = build(args.pages)
    t_layout, pages = best(lambda: paginate(doc), args.repeat)
    t_render, data = best(lambda: render_pdf(doc), args.repeat)
    t_naive, naive_data = best(lambda: naive(doc), args.repeat)
    body = len(pages) - 1  # type: ignore[arg-type]
    naive_pages = naive_data.count(b"/Type /Page\n") or naive_data.count(b"/Type /Page")  # type: ignore[union-attr]
    print(f"script: {len(doc.scenes)} scenes, {body} body pages + title page")
    print(f"pagination only:   {t_layout:.3f} s")
    print(
        f"render_pdf:        {t_render:.3f} s  {len(pages) / t_render:.0f} pages/s  {len(data) / 1024:.0f} KiB"
    )  # type: ignore[arg-type]
    print(
        f"naive fpdf2 flow:  {t_naive:.3f} s  {naive_pages / t_naive:.0f} pages/s  ({naive_pages} pages, no rules)"
    )
    print(f"render_pdf / naive time: {t_render / t_naive:.2f}x")


if __name__ == "__main__":
    main()
