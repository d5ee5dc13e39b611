"""A visitor clicks through the kiosk in a real browser; every screen is photographed on a portrait
(1080×1920) and a landscape (1920×1080) screen.

Screenshots go to ``$GIEOK_ARTIFACTS`` (default ``<tmp>/gieok-artifacts``)/kiosk/ for people to look at."""
from __future__ import annotations

import os
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
    page.get_by_text("Remember someone you love").wait_for(timeout=10000)


def test_a_visitor_clicks_through_the_kiosk(launch_app):
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
        page.locator("#kiosk-consent-yes").wait_for(timeout=10000)
        snap("2-consent", "#kiosk-consent-yes")
        page.locator("#kiosk-consent-yes").click()
        page.locator("#kiosk-name input, #kiosk-name textarea").first.fill("Sunja")
        page.locator("#kiosk-relation input, #kiosk-relation textarea").first.fill("grandmother")
        page.locator("#kiosk-memory-1 textarea").fill("Every winter she dried persimmons for me")
        snap("3-memories", "#kiosk-make")
        page.locator("#kiosk-make").click()
        page.locator(".kiosk-making").wait_for(timeout=10000)
        page.screenshot(path=str(ARTIFACTS / "4-making.png"))
        page.get_by_text("Page 1 of 4", exact=True).wait_for(timeout=60000)
        page.locator("#kiosk-page-image img.kiosk-picture").wait_for(timeout=10000)
        assert page.locator("#kiosk-page-audio audio").count() == 1
        assert "Sunja" in page.locator("#kiosk-page-text").inner_text()
        snap("5-playback", "#kiosk-next")
        page.locator("#kiosk-next").click()
        page.get_by_text("Page 2 of 4", exact=True).wait_for(timeout=10000)
        page.locator("#kiosk-take-home").click()
        page.locator("#kiosk-qr svg.segno").wait_for(timeout=10000)
        snap("6-take-home", "#kiosk-done")
        assert len(services.store.owners()) == 1

        page.locator("#kiosk-done").click()  # "I'm done": forgotten, and a fresh page for the next visitor
        page.get_by_text("사랑하는 사람을 그림책으로").wait_for(timeout=20000)  # the operator's language again
        assert services.store.owners() == []
        assert _nothing_typed(page)
        snap("7-next-visitor", "#kiosk-start")

        page.locator("#kiosk-start").click()  # the next visitor starts, then walks away
        page.locator("#kiosk-consent-yes").click()
        page.locator("#kiosk-memory-1 textarea").fill("할머니 손")
        now = services.kiosk.now() + services.kiosk.settings.idle_timeout_s + 1
        services.kiosk.set_clock(lambda: now)
        page.locator("#kiosk-start").wait_for(timeout=20000)  # the idle check reloaded the page at welcome
        assert _nothing_typed(page)
        page.locator("#kiosk-operator-door").click()  # the operator's corner
        page.locator("#kiosk-pin input").fill("2468")
        page.locator("#kiosk-unlock").click()
        page.get_by_text("작업 4건").wait_for(timeout=20000)  # the dashboard: the book's four jobs
        snap("8-operator", "#kiosk-unlock")
    for shot in ("1-welcome-portrait", "5-playback-landscape", "6-take-home-portrait", "7-next-visitor-landscape"):
        assert (ARTIFACTS / f"{shot}.png").stat().st_size > 10_000
