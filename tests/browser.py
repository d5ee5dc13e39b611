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


# -- what a visitor sees -------------------------------------------------------------------------
HANGUL = r"[\uac00-\ud7a3\u3131-\u318e]"
# Latin words a Korean page may show: product, model and file-format names, units.
LATIN_ALLOWED = {"PDF", "EPUB", "MP4", "MP3", "M4B", "HTML", "LoRA", "RVC", "XTTS", "VITS", "ControlNet", "img2img",
                 "A4", "MB", "cm", "mm", "Gieok", "Studio", "Gradio", "Stable", "Diffusion", "zip", "safetensors",
                 "pth", "index", "in", "Hz", "README", "TOML", "CSV", "TSV", "KB", "wav",
                 "grandmother",  # the English class word the likeness tab asks for, shown as its example
                 # names of products a studio may be connected to (the Settings tab lists them)
                 "Hugging", "Face", "ComfyUI", "WebUI", "Gemini", "Piper", "eSpeak", "NG", "Forge", "A1111", "OpenAI",
                 "Ollama", "SDXL", "GPU", "CPU"}

_VISIBLE_TEXT = """() => {
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || !node.textContent.trim()) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none' || !el.getClientRects().length) continue;
    if (el.closest('[hidden], .hide, [aria-hidden="true"], script, style, noscript')) continue;
    parts.push(node.textContent.trim());
  }
  document.querySelectorAll('input[placeholder], textarea[placeholder]').forEach(el => {
    if (el.getClientRects().length && !el.value) parts.push(el.placeholder);
  });
  return parts.join('\\n');
}"""

_ERROR_BADGES = """() => [...document.querySelectorAll('.error, [data-testid="status-tracker"].error')]
  .filter(el => el.getClientRects().length && !el.closest('.toast-body, .toast-wrap'))
  .map(el => (el.closest('[id]') || el).id || el.className)"""

_BROKEN_IMAGES = """() => [...document.images]
  .filter(img => img.getClientRects().length && img.complete && img.naturalWidth === 0)
  .map(img => img.currentSrc || img.src)"""


_CLIPPED_CHOICES = """() => [...document.querySelectorAll('input[role="combobox"]')]
  .filter(el => el.getClientRects().length && el.scrollWidth > el.clientWidth
          && (getComputedStyle(el).textOverflow !== 'ellipsis' || parseFloat(getComputedStyle(el).paddingRight) < 16))
  .map(el => el.getAttribute('aria-label') || el.value)"""


_PHONE_TABS = """() => {
  const tabs = [...document.querySelectorAll('#gieok-tabs [role="tab"]')];
  const hidden = tabs.filter(t => !t.getClientRects().length || !t.textContent.trim()).map(t => t.textContent.trim());
  const strip = document.querySelector('#gieok-tabs [role="tablist"]');
  return {count: tabs.length, hidden, bottom: strip ? strip.getBoundingClientRect().bottom + window.scrollY : 0};
}"""


def phone_tabs(page) -> dict:
    """The tab strip on a phone: how many tabs, which are hidden or unnamed, where the strip ends."""
    return page.evaluate(_PHONE_TABS)


# A setting's name (GIEOK_SD_MODEL, GEMINI_API_KEY) belongs in the Settings tab's details, not on the page.
CONFIG_NAME = r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b"


def clipped_choices(page) -> list[str]:
    """Dropdowns whose long choice is cut mid-word under the arrow (no "…", no room for the arrow)."""
    return page.evaluate(_CLIPPED_CHOICES)


def visible_text(page) -> str:
    """The words a visitor sees, the reader's frame (the preview) included."""
    frames = [page.main_frame] + [f for f in page.frames if f.parent_frame is not None
                                  and not f.is_detached() and f.frame_element().is_visible()]
    return "\n".join(frame.evaluate(_VISIBLE_TEXT) for frame in frames)


_IN_VIEW = """el => { const r = el.getBoundingClientRect();  // 2 px: sub-pixel layout at the window's edge
  return r.height > 0 && r.top >= -2 && r.bottom <= window.innerHeight + 2; }"""


def in_view(locator, page, wait_ms: int = 4000) -> bool:
    """Whether the element is (or within ``wait_ms`` comes) inside the window without scrolling."""
    for _ in range(max(1, wait_ms // 200)):
        if locator.evaluate(_IN_VIEW):
            return True
        page.wait_for_timeout(200)
    return False


def foreign_words(text: str, language: str, own: list[str] = ()) -> list[str]:
    """Words of the other language on the page, leaving out the family's own words (``own``)."""
    import re

    for words in sorted(own, key=len, reverse=True):
        if words:
            text = text.replace(words, " ")
    if language == "en":
        return sorted({line.strip() for line in text.splitlines() if re.search(HANGUL, line)})
    allowed = {w.lower() for w in LATIN_ALLOWED}  # "a4.pdf" in a file name is the same word
    return sorted({w for w in re.findall(r"[A-Za-z][A-Za-z0-9+\-]+", text) if w.lower() not in allowed})


def error_badges(page) -> list[str]:
    return page.evaluate(_ERROR_BADGES)


def broken_images(page) -> list[str]:
    return page.evaluate(_BROKEN_IMAGES)


def open_studio(page, url: str, ready, tries: int = 3, timeout_ms: int = 30000) -> None:
    """Go to the studio and wait until ``ready()`` (a locator) is visible. On a loaded two-core
    machine the page's first load events are sometimes never answered (the page stays as built,
    nothing filled in); a person would reload the page, and so does this."""
    page.goto(url)
    for attempt in range(tries):
        try:
            ready().wait_for(timeout=timeout_ms)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; the last try re-raises below
            if attempt == tries - 1:
                raise
            page.reload()
