"""The writers' room in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``, installed
by ``.ci/run``) driven by Selenium against ``dsr room`` serving a real run.

The novelist is the real embedded model behind the session's ``dsr serve`` (tests/conftest.py); the planner,
the screenwriter and the memory role are a scripted model behind the same app (the point here is the page,
and the real model's calls are what a shared CPU makes slow; tests/test_writer_edit_e2e.py re-runs the real
screenwriter after an edit). The walk: open a run paused
for review, approve one interrupt, reject the next with a note and see the draft re-routed to the novelist
with the note, then edit a paragraph of a scene's prose and see its diff and the later scenes re-run.
Screenshots go to a temporary directory the test prints (and to ``$ROOM_SCREENSHOTS`` when set).

Without a browser the test skips with a message, except in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsr.contract.call_log import read_call_log
from dsr.run.history import read_tree
from tests.servers import is_user_setting, read_requests, served_chat_model
from tests.test_writer_edit import THREE, dsr

pytestmark = [pytest.mark.slow, pytest.mark.timeout(5400)]

WAIT = 1800  # seconds a job may take on a shared CPU (each is one or two calls of the real model)
NOVELIST_SYSTEM = "novelist who writes for the screen"


def browser_paths() -> tuple[str, str] | None:
    binary = next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
    )
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    found = browser_paths()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        found = None
    if found is None:
        message = "no headless browser: apt-get install -y chromium chromium-driver, and pip install selenium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1500"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(found[1]))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def roles_env(model_server, monkeypatch, tmp_path) -> Iterator[dict[str, str]]:
    """The novelist on the shared real model; the planner, the screenwriter and the memory role on a scripted
    one (the page is under test, and each real call is seconds to minutes on a shared CPU). Set here and
    returned for the room's own process."""
    for key in [k for k in os.environ if is_user_setting(k)]:
        monkeypatch.delenv(key)
    with served_chat_model("tests.served_models:ScriptedWriter", "scripted", 0) as scripted_url:
        settings = model_server.env("novelist", max_new_tokens=48)
        for role in ("PLANNER", "SCREENWRITER", "MEMORY"):
            settings |= {
                f"DSR_{role}__PROVIDER": "openai",
                f"DSR_{role}__BASE_URL": scripted_url,
                f"DSR_{role}__MODEL": "scripted",
                f"DSR_{role}__MAX_RETRIES": "0",
            }
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        yield settings


class Page:
    """The room page in the browser, with waits that survive its reloads."""

    def __init__(self, driver, shots: Path) -> None:
        self.driver, self.shots = driver, shots

    def el(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def wait_for(self, script: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.driver.execute_script(script):
                    return
            except Exception:  # the page is reloading
                pass
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for: {script}\n{self.driver.page_source[:2000]}")

    def click(self, css: str) -> None:
        """Click like a user: the element scrolled to the middle of the window (clear of the sticky bar)."""
        element = self.el(css)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def click_and_wait_reload(self, css: str) -> None:
        """Click, then wait until the job it started ends and the page has reloaded."""
        self.driver.execute_script("window.__before_reload = true")
        self.click(css)
        self.wait_for("return window.__before_reload === undefined && document.readyState === 'complete'")

    def state(self) -> str:
        return self.el("#run-state").text

    def shot(self, name: str) -> Path:
        path = self.shots / f"room-{name}.png"
        self.driver.save_screenshot(str(path))
        return path


def test_review_reject_and_edit_in_a_real_browser(
    browser, roles_env, model_server, tmp_path, monkeypatch, capsys
):
    run = tmp_path / "run"
    code, out = dsr(
        monkeypatch,
        capsys,
        "write",
        str(THREE),
        "-o",
        str(run),
        "--review",
        "scene",
        "--no-rubric",
        "--max-retries",
        "0",
    )
    assert code == 3 and "paused for review of the scene of scene 1" in out, out
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"\nscreenshots: {shots}")

    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dsr"), "room", str(run), "--port", "0"],
        env={**os.environ, **roles_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline()
        assert "writers' room for" in line and "http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split(" at ", 1)[1].split()[0]
        page = Page(browser, shots)
        _walk(page, url, run, model_server.log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if target := os.environ.get("ROOM_SCREENSHOTS"):
            for shot in shots.glob("*.png"):
                shutil.copy(shot, Path(target) / shot.name)


def _walk(page: Page, url: str, run: Path, served_log: Path) -> None:
    driver = page.driver
    started = time.monotonic()
    driver.get(url)
    page.wait_for("return document.querySelector('#review[data-scene=\"1\"]') !== null", timeout=30)
    assert page.state() == "waiting for review"
    page.shot("1-paused")

    # Approve scene 1: the run goes on and pauses at scene 2's review.
    page.click_and_wait_reload("#approve")
    page.wait_for("return document.querySelector('#review[data-scene=\"2\"]') !== null", timeout=30)
    assert page.el("#scene-1").get_attribute("data-status") == "approved_by_human"

    # Reject scene 2 with a note for the novelist: the draft is re-routed there, told the note.
    note = f"Brennan should notice the second teacup ({uuid.uuid4().hex[:6]})"
    page.el("#reject-note").send_keys(note)
    page.el("#reject-stage").send_keys("novelist")
    page.click_and_wait_reload("#reject")
    page.wait_for("return document.querySelector('#review[data-scene=\"2\"]') !== null", timeout=30)
    asked = [
        r for r in read_requests(served_log) if isinstance(r["body"], dict) and note in json.dumps(r["body"])
    ]
    assert asked and all(NOVELIST_SYSTEM in r["body"]["messages"][0]["content"] for r in asked)
    page.click('.details-toggle[data-scene="2"]')
    page.wait_for("return document.querySelector('#details-2 .timeline') !== null", timeout=30)
    timeline = page.el("#details-2 .timeline").text
    assert "Critique timeline (2 verdicts)" in timeline and "you: reject the scene → novelist" in timeline, (
        timeline
    )
    assert note in timeline
    driver.execute_script("document.getElementById('scene-2').scrollIntoView()")
    page.shot("2-rerouted")

    page.click_and_wait_reload("#approve")  # scene 2
    page.click_and_wait_reload("#approve")  # scene 3
    page.wait_for("return document.getElementById('run-state').textContent === 'finished'", timeout=60)
    page.shot("3-finished")
    before_edit = len(read_call_log(run / "calls.jsonl"))

    # Edit a paragraph of scene 2's prose: its diff shows, scene 2's screenplay and all of scene 3 re-run.
    page.click('.details-toggle[data-scene="2"]')
    page.wait_for(
        "return document.querySelector('#details-2 textarea[data-stage=\"prose\"]') !== null", timeout=30
    )
    area = page.el('#details-2 textarea[data-stage="prose"]')
    paragraphs = area.get_attribute("value").split("\n\n")
    paragraphs[0] = (
        "Brennan sets his cap on the table. Mara pours two cups of tea and pushes one across to him."
    )
    new_prose = "\n\n".join(paragraphs)
    driver.execute_script("arguments[0].value = arguments[1]", area, new_prose)
    driver.execute_script("window.__before_reload = true")
    page.click('#details-2 .save-stage[data-stage="prose"]')
    page.wait_for("return document.querySelector('#last-diff .diff .add') !== null", timeout=60)
    assert "Mara pours two cups of tea" in page.el("#last-diff").text
    driver.execute_script("document.getElementById('last-diff').scrollIntoView({block: 'center'})")
    page.shot("4-edit-diff")
    page.wait_for("return window.__before_reload === undefined && document.readyState === 'complete'")
    while page.state() == "waiting for review":  # --review scene: each re-run scene is approved again
        page.click_and_wait_reload("#approve")
    page.wait_for("return document.getElementById('run-state').textContent === 'finished'", timeout=60)
    assert page.el("#last-diff .diff").text  # the diff stays on the page after the re-run
    page.shot("5-rerun-finished")

    rerun = [c for c in read_call_log(run / "calls.jsonl")[before_edit:] if c.get("kind") is None]
    assert {(c["scene"], c["role"]) for c in rerun if c["role"] != "memory"} == {
        (2, "screenwriter"),
        (3, "planner"),
        (3, "novelist"),
        (3, "screenwriter"),
    }
    versions = read_tree(run).versions()
    assert [v.label for v in versions[1]] == ["1.1"]
    assert versions[2][-1].current and versions[2][-1].origin() == "edit #1 (prose edit)"
    assert versions[2][-1].record["prose"].startswith("Brennan sets his cap on the table.")
    assert versions[3][-1].origin() == "re-run after edit #1 (scene 2 prose edit)"
    print(f"browser walk: {time.monotonic() - started:.0f} s")
