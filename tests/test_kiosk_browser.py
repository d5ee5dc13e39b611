"""A visitor clicks through the kiosk in a real browser; every screen is photographed on a portrait
(1080×1920) and a landscape (1920×1080) screen.

Screenshots go to ``$GIEOK_ARTIFACTS`` (default ``<tmp>/gieok-artifacts``)/kiosk/ for people to look at."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from browser import browser_page, chromium_missing_reason

pytestmark = pytest.mark.skipif(chromium_missing_reason() is not None, reason=str(chromium_missing_reason()))
ARTIFACTS = Path(os.environ.get("GIEOK_ARTIFACTS", Path(tempfile.gettempdir()) / "gieok-artifacts")) / "kiosk"
SCREENS = {"portrait": (1080, 1920), "landscape": (1920, 1080)}
WORDS_LOADED = "() => !document.querySelector('.pending')"


def _nothing_typed(page) -> bool:
    """The last visitor's words are not on the page (a hidden screen may not be in the page at all)."""
    box = page.locator("#kiosk-memory-1 textarea")
    return box.count() == 0 or box.input_value() == ""


def _switch_to_english(page) -> None:
    """The visitor presses "English". On a loaded machine the first press can land before the page's
    handlers are connected; a visitor who sees nothing happen presses again, and so does this test."""
    for _ in range(3):
        page.locator("#kiosk-to-en").click()
        try:
            page.get_by_text("Remember someone you love").wait_for(timeout=10000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; pressed too early, press again
            continue
    page.get_by_text("Remember someone you love").wait_for(timeout=60000)


def test_a_visitor_clicks_through_the_kiosk(launch_app, tmp_path, monkeypatch):
    lp = tmp_path / "bin" / "lp"  # the system print queue, as a script that says it took the job
    lp.parent.mkdir()
    lp.write_text("#!/bin/sh\necho 'request id is kiosk-1 (1 file(s))'\n")
    lp.chmod(lp.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{lp.parent}{os.pathsep}{os.environ['PATH']}")
    photo = tmp_path / "grandma.png"
    from PIL import Image
    Image.new("RGB", (320, 240), (200, 150, 90)).save(photo)
    url, services = launch_app(mode="kiosk", kiosk_pin="2468")
    services.settings.kiosk_url = url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser_page(width=1080, height=1920, locale="en-US") as page:

        def snap(name: str, must_see: str) -> None:
            """The screen in both orientations; its main button is on screen without scrolling."""
            page.wait_for_function(WORDS_LOADED, timeout=20000)
            for orientation, (width, height) in SCREENS.items():
                page.set_viewport_size({"width": width, "height": height})
                page.wait_for_timeout(150)
                box = page.locator(must_see).bounding_box()
                assert box and box["y"] + box["height"] <= height, f"{name}: {must_see} is below the fold ({orientation})"
                page.screenshot(path=str(ARTIFACTS / f"{name}-{orientation}.png"))

        page.goto(url)
        page.locator("#kiosk-start").wait_for(timeout=20000)
        page.wait_for_function(WORDS_LOADED, timeout=20000)
        _switch_to_english(page)
        snap("1-welcome", "#kiosk-start")
        page.locator("#kiosk-start").click()
        page.locator("#kiosk-consent-yes").wait_for(timeout=60000)
        snap("2-consent", "#kiosk-consent-yes")
        page.locator("#kiosk-consent-yes").click()
        page.locator("#kiosk-name input, #kiosk-name textarea").first.fill("Sunja")
        page.locator("#kiosk-relation input, #kiosk-relation textarea").first.fill("grandmother")
        page.locator("#kiosk-memory-1 textarea").fill("Every winter she dried persimmons for me")
        snap("3-memories", "#kiosk-make")
        page.locator("#kiosk-make").click()
        page.locator(".kiosk-making").wait_for(timeout=60000)
        page.screenshot(path=str(ARTIFACTS / "4-making.png"))
        page.get_by_text("Page 1 of 4", exact=True).wait_for(timeout=60000)
        page.locator("#kiosk-page-image img.kiosk-picture").wait_for(timeout=60000)
        assert page.locator("#kiosk-page-audio audio").count() == 1
        assert "Sunja" in page.locator("#kiosk-page-text").inner_text()
        snap("5-playback", "#kiosk-next")
        page.locator("#kiosk-next").click()
        page.get_by_text("Page 2 of 4", exact=True).wait_for(timeout=60000)
        page.locator("#kiosk-take-home").click()
        page.locator("#kiosk-qr svg.segno").wait_for(timeout=60000)
        snap("6-take-home", "#kiosk-done")
        assert len(services.store.owners()) == 1
        page.locator("#kiosk-copies").get_by_text("2", exact=True).click()
        page.locator("#kiosk-print").click()  # asks first, with the number of copies
        page.get_by_text("Print your book now? Copies: 2").wait_for(timeout=60000)
        snap("6b-print-confirm", "#kiosk-print-yes")
        page.locator("#kiosk-print-yes").click()
        page.get_by_text("Printing your book (copies: 2).", exact=False).wait_for(timeout=60000)

        page.locator("#kiosk-done").click()  # "I'm done": forgotten, and a fresh page for the next visitor
        page.get_by_text("사랑하는 사람을 그림책으로").wait_for(timeout=20000)  # the operator's language again
        assert services.store.owners() == []
        assert _nothing_typed(page)
        snap("7-next-visitor", "#kiosk-start")

        page.locator("#kiosk-start").click()  # the next visitor (in Korean) starts, gives a photo, then walks away
        page.locator("#kiosk-consent-yes").wait_for(timeout=60000)
        snap("7b-consent-ko", "#kiosk-consent-yes")
        page.locator("#kiosk-consent-yes").click()
        page.locator("#kiosk-memory-1 textarea").fill("할머니 손")
        page.locator("#kiosk-photo").get_by_label("Upload file").click()  # a finger can reach "choose a file"
        page.locator("#kiosk-photo input[type=file]").set_input_files(str(photo))
        page.locator("#kiosk-photo img").first.wait_for(timeout=60000)
        uploads = []
        for _ in range(50):  # the page tells the server about the photo as soon as it is chosen
            uploads = [Path(p) for v in list(services.kiosk._visitors.values()) for p in v.data.get("uploads", [])]
            if uploads:
                break
            page.wait_for_timeout(200)
        assert len(uploads) == 1 and uploads[0].is_file()
        snap("7c-memories-ko", "#kiosk-make")
        now = services.kiosk.now() + services.kiosk.settings.idle_timeout_s + 1
        services.kiosk.set_clock(lambda: now)
        page.locator("#kiosk-start").wait_for(timeout=20000)  # the idle check reloaded the page at welcome
        assert _nothing_typed(page)
        assert not uploads[0].parent.exists()  # the web server's copy of their photo went with them
        page.locator("#kiosk-operator-door").click()  # the operator's corner
        page.locator("#kiosk-pin input").fill("2468")
        page.locator("#kiosk-unlock").click()
        page.get_by_text("작업 4건").wait_for(timeout=20000)  # the dashboard: the book's four jobs
        snap("8-operator", "#kiosk-unlock")
    for shot in ("6b-print-confirm-portrait", "7c-memories-ko-landscape", "1-welcome-portrait", "5-playback-landscape", "6-take-home-portrait", "7-next-visitor-landscape"):
        assert (ARTIFACTS / f"{shot}.png").stat().st_size > 10_000
