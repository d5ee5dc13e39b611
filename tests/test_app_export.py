"""Preview and every export through the running app, as a visitor's browser would drive them."""
from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from gradio_client.exceptions import AppError

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

    made = {
        "pdf": c.predict("square-20cm", True, "myeongjo", api_name="/export_pdf"),
        "epub": c.predict("myeongjo", api_name="/export_epub"),
        "html": c.predict("gothic", api_name="/export_webbook"),
        "mp4": c.predict(True, api_name="/export_mp4"),
        "m4b": c.predict("m4b", api_name="/export_audiobook"),
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
    assert "Open a book" in c.predict(api_name="/export_status")
    with pytest.raises(AppError, match="Open a book in the Library first"):
        c.predict("a4", False, "myeongjo", api_name="/export_pdf")


def test_audiobook_of_a_silent_book_explains_why_not(launch_app, client_for):
    url, services = launch_app()
    book = make_book(services.store, pages=4, durations=[None] * 4)
    c = client_for(url)
    _open(c, book.id)
    with pytest.raises(AppError, match="No page has a narration yet"):
        c.predict("mp3", api_name="/export_audiobook")
    # The video still works: silent pages get the default duration.
    assert c.predict(False, api_name="/export_mp4")["path"].endswith(".mp4")
