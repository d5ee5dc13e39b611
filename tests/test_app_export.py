"""Preview and every export through the running app, as a visitor's browser would drive them."""
from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from ui_helpers import refused, toasts

from export_fixtures import make_book


def _open(client, book_id):
    client.predict(api_name="/list_books")
    client.predict(book_id, api_name="/open_book")


def _fetch(filedata, target: Path) -> Path:
    with urllib.request.urlopen(filedata["url"], timeout=30) as resp:
        target.write_bytes(resp.read())
    return target


def test_every_export_through_the_app(launch_app, client_for, tmp_path):
    url, services = launch_app()
    book = make_book(services.store, pages=4, durations=[0.6, None, 0.8, 0.5], with_images=[True, True, False, True])
    c = client_for(url)
    _open(c, book.id)

    status = c.predict(api_name="/export_status")
    assert "Page 2: no narration" in status and "Page 3: no chosen picture" in status

    html = c.predict("gothic", api_name="/preview_book")
    assert html.startswith("<iframe") and 'sandbox="allow-scripts"' in html and "audio-1" in html

    made = {  # each answer is an update that shows the download box with the file in it
        "pdf": c.predict("square-20cm", True, "myeongjo", api_name="/export_pdf")["value"],
        "epub": c.predict("myeongjo", api_name="/export_epub")["value"],
        "html": c.predict("gothic", api_name="/export_webbook")["value"],
        "mp4": c.predict(True, api_name="/export_mp4")["value"],
        "m4b": c.predict("m4b", api_name="/export_audiobook")["value"],
    }
    magic = {"pdf": b"%PDF", "epub": b"PK", "html": b"<!DOCTYPE html>", "mp4": b"\x00\x00\x00", "m4b": b"\x00\x00\x00"}
    for ext, filedata in made.items():
        name = Path(filedata["path"]).name
        assert name.startswith("할머니의-감나무") and name.endswith(ext), name
        data = _fetch(filedata, tmp_path / f"out.{ext}").read_bytes()
        assert data.startswith(magic[ext]) and len(data) > 1000, ext
        # Export files never live in the data dir (Gradio's file route blocks it anyway).
        assert not Path(filedata["path"]).resolve().is_relative_to(services.settings.data_dir.resolve())


def test_export_without_an_open_book_says_so(launch_app, client_for):
    url, _ = launch_app()
    c = client_for(url)
    assert "No book is open yet" in c.predict(api_name="/export_status")
    assert refused(c, "a4", False, "myeongjo", api_name="/export_pdf") == "Open a book in the Library first."


def test_audiobook_of_a_silent_book_explains_why_not(launch_app, client_for):
    url, services = launch_app()
    book = make_book(services.store, pages=4, durations=[None] * 4)
    c = client_for(url)
    _open(c, book.id)
    assert "No page is narrated yet" in refused(c, "mp3", api_name="/export_audiobook")
    # The other exports still work (silent pages turn after a default time; see test_export_video).
    assert c.predict("gothic", api_name="/export_webbook")["value"]["path"].endswith(".html")


def test_export_tab_in_a_korean_browser(launch_app, tmp_path):
    from browser import browser_page, chromium_missing_reason, open_studio

    if chromium_missing_reason():
        pytest.skip(chromium_missing_reason())
    url, services = launch_app()
    saved = make_book(services.store, pages=4, durations=[0.5, None, 0.5, 0.5])
    with browser_page(locale="ko-KR") as page:
        open_studio(page, url, lambda: page.locator(".gieok-book-card img").first)
        page.get_by_role("button", name="열기").click()
        page.locator("#gieok-open-book").get_by_text(saved.title).wait_for(timeout=60000)
        page.get_by_role("tab", name="내보내기").click()
        page.get_by_text("2쪽: 낭독이 없어").wait_for(timeout=60000)
        page.get_by_role("button", name="만들기").first.click()
        link = page.locator("a[data-testid='download-link'][download$='.a4.pdf']")
        link.wait_for(timeout=30000)
        assert link.get_attribute("download") == "할머니의-감나무.a4.pdf"
        page.screenshot(path=str(tmp_path / "export.png"), full_page=True)
        assert page.get_by_text("Error").count() == 0


def test_a_book_without_pages_is_explained_not_exported(launch_app, client_for):
    url, services = launch_app()
    book = services.store.create("local", "<b>빈 책</b>")
    c = client_for(url)
    _open(c, book.id)
    assert "no pages yet" in c.predict(api_name="/export_status")
    notice = c.predict("myeongjo", api_name="/preview_book")
    assert "no pages yet" in notice and "<iframe" not in notice
    assert "no pages yet" in refused(c, "myeongjo", api_name="/export_epub")


def test_stop_button_ends_a_video_export(launch_app, client_for):
    import time

    url, services = launch_app()
    book = make_book(services.store, pages=4, durations=[8.0, 8.0, 8.0, 8.0])
    c = client_for(url)
    _open(c, book.id)
    job = c.submit(True, api_name="/export_mp4")
    time.sleep(1.5)
    c.predict(api_name="/stop_export")
    job.result(timeout=60)
    assert any("Stopped" in said for said in toasts(job))
