"""The web book in a real browser (Debian Chromium through Playwright): one file, no network,
page 1's narration plays and the page turns by itself when it ends; phone-sized; and the
Preview tab in the studio shows the same reader."""
from __future__ import annotations

import re
import time

import pytest

from browser import browser_page, chromium_missing_reason, open_studio
from export_fixtures import make_book
from studio.export.common import gather
from studio.export.webbook import export_webbook

pytestmark = pytest.mark.skipif(chromium_missing_reason() is not None, reason=str(chromium_missing_reason()))


def wait_for(frame, expression: str, timeout_s: float = 15.0):
    """Poll with evaluate (the web book's CSP forbids the string eval wait_for_function uses)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = frame.evaluate(expression)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {expression}")


@pytest.fixture
def webbook(services, tmp_path):
    saved = make_book(services.store, pages=4, durations=[1.0, 0.6, None, 0.8])
    return export_webbook(gather(saved, services.store.media_for(saved.owner), services.backends), tmp_path / "out",
                          settings=services.settings)


def test_one_file_with_everything_inside(webbook):
    html = webbook.read_text(encoding="utf-8")
    assert webbook.name == "할머니의-감나무.html"
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)  # nothing fetched from anywhere
    assert html.count("data:image/jpeg;base64,") == 5 and html.count("data:audio/mpeg;base64,") == 3
    assert "@font-face" in html and "data:font/ttf;base64," in html


def test_plays_page_one_and_turns_to_page_two_on_a_phone(webbook, tmp_path):
    with browser_page(390, 844) as page:
        failures, requests = [], []
        page.on("pageerror", lambda e: failures.append(str(e)))
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto(webbook.as_uri())
        assert page.evaluate("document.body.dataset.page") == "0"
        assert "할머니의 감나무" in page.inner_text("section[data-page='0']")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390  # no sideways scrolling
        page.click("#read")
        wait_for(page, "document.body.dataset.page === '1'")
        wait_for(page, "(() => { const a = document.getElementById('audio-1'); return !a.paused && a.currentTime > 0; })()")
        assert page.is_visible("section[data-page='1'] .text.reading")
        assert "봄마다" in page.inner_text("section[data-page='1']")
        wait_for(page, "document.body.dataset.page === '2'", timeout_s=10)
        wait_for(page, "!document.getElementById('audio-2').paused")
        page.screenshot(path=str(tmp_path / "phone.png"))
        page.click("#prev")
        assert page.evaluate("document.body.dataset.page") == "1"
        assert page.evaluate("document.getElementById('audio-2').paused")
        assert not failures and not requests


def test_preview_tab_shows_the_reader_in_the_studio(launch_app, services, tmp_path):
    url, app_services = launch_app()
    saved = make_book(app_services.store, pages=4, durations=[0.8, 0.6, 0.6, 0.6])
    with browser_page(locale="ko-KR") as page:
        open_studio(page, url, lambda: page.locator(".gieok-book-card img").first)
        page.get_by_role("button", name="열기").click()
        page.locator("#gieok-open-book").get_by_text(saved.title).wait_for(timeout=60000)
        page.get_by_role("tab", name="미리 보기").click()
        frame_el = page.locator("iframe.gieok-reader")
        frame_el.wait_for(timeout=30000)
        frame = frame_el.element_handle().content_frame()
        wait_for(frame, "document.body && document.body.dataset.page === '0'")
        assert saved.title in frame.inner_text("section[data-page='0']")
        frame.click("#read")
        wait_for(frame, "!document.getElementById('audio-1').paused")
        wait_for(frame, "document.body.dataset.page === '2'", timeout_s=10)
        page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)


def test_controls_fit_a_narrow_phone(webbook):
    with browser_page(300, 640) as page:  # the Preview frame on a phone is about this wide
        page.goto(webbook.as_uri())
        page.click("#browse")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 300
        for button in ("#prev", "#play", "#next"):
            assert page.locator(button).bounding_box()["height"] < 60, button  # one line, not wrapped


def test_the_end_sheet_says_how_the_pictures_were_made(services):
    from studio.export.common import gather as gather_book
    from studio.export.webbook import reader_html

    saved = make_book(services.store, pages=4, durations=[None] * 4, with_images=[False] * 4)
    html = reader_html(gather_book(saved, services.store.media_for(saved.owner), services.backends), settings=services.settings)
    end = html[html.index('class="sheet end"'):]
    assert "이 책에 대하여" in end and "그림 모델 없이" in end
    assert "sketch" not in html[:html.index("<script>")].lower().replace("sketch.py", "")
