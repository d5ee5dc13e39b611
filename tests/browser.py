"""Headless Chromium (Debian's) through Playwright, for tests that use the studio as a person would."""
from __future__ import annotations

import shutil
from contextlib import contextmanager

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_missing_reason() -> str | None:
    if not shutil.which("chromium") and not shutil.os.path.exists(CHROMIUM):
        return "Debian chromium is not installed (make test installs it from packages.txt)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


@contextmanager
def browser_page(width=1280, height=900, locale="ko-KR"):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
            yield context.new_page()
        finally:
            browser.close()
