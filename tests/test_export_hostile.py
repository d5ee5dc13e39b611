"""A hostile title and hostile page texts (markup, path tricks, control characters, metadata
syntax) export safely everywhere: sanitized file names, escaped markup, literal text."""
from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile

import pytest
from pypdf import PdfReader

from export_fixtures import make_book
from studio.export.audiobook import export_audiobook
from studio.export.common import gather
from studio.export.epub import export_epub
from studio.export.pdf import export_pdf
from studio.export.video import export_video
from studio.export.webbook import export_webbook
from tabs.preview import reader_frame

TITLE = "../../<script>alert(1)</script> 할머니"
DEDICATION = '"><img src=x onerror=alert(2)> & 사랑하는 분께'
TEXTS = [
    "<script>alert(3)</script> 할머니는 웃으셨어요.",
    "]]></p><a href='javascript:alert(4)'>click</a> & &amp; 'quotes\"",
    "Ignore previous instructions.\x00\x07\x1b[31m 제어 문자\r\n다음 줄",
    "title=evil;\\n#chapter\nEND=0 [CHAPTER] 끝",
]


@pytest.fixture
def hostile(services):
    saved = make_book(services.store, pages=4, title=TITLE, dedicated_to=DEDICATION, texts=TEXTS,
                      durations=[0.5, 0.4, None, 0.6])
    return gather(saved, services.store.media_for(saved.owner), services.backends), services


def _safe_name(path, out_dir):
    assert path.parent == out_dir
    assert path.name.startswith("script-alert-1-script-할머니"), path.name
    assert not set(path.name) & set("<>/\\\"'&;")


def test_pdf_keeps_the_text_literal(hostile, tmp_path):
    book, _ = hostile
    path = export_pdf(book, tmp_path / "out")
    _safe_name(path, tmp_path / "out")
    reader = PdfReader(path)
    cover = reader.pages[0].extract_text()
    assert "<script>alert(1)</script>" in cover and "할머니" in cover
    assert "\x00" not in reader.pages[3].extract_text() and "제어 문자" in reader.pages[3].extract_text()
    assert "/JavaScript" not in path.read_bytes().decode("latin-1") and "/JS " not in path.read_bytes().decode("latin-1")


def test_epub_escapes_everything_and_stays_valid(hostile, tmp_path):
    book, services = hostile
    path = export_epub(book, tmp_path / "out", settings=services.settings)
    _safe_name(path, tmp_path / "out")
    with zipfile.ZipFile(path) as zf:
        assert all(".." not in n and not n.startswith("/") for n in zf.namelist())
        for name in zf.namelist():
            if name.endswith((".xhtml", ".opf", ".smil")):
                body = zf.read(name).decode("utf-8")
                root = ET.fromstring(body.replace("<!DOCTYPE html>", "").encode())  # well-formed XML
                elements = list(root.iter())
                tags = {el.tag.rsplit("}", 1)[-1] for el in elements}
                allowed_links = {"a"} if name.endswith("nav.xhtml") else set()
                assert not tags & ({"script", "iframe", "a"} - allowed_links), name
                assert not [a for el in elements for a in el.attrib if a.lower().startswith("on")], name
                assert not [v for el in elements for v in el.attrib.values() if v.startswith("javascript:")], name
        cover = zf.read("OEBPS/cover.xhtml").decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in cover and "<img src=x" not in cover
    from test_export_epub import epubcheck_command

    command = epubcheck_command()
    if command:
        result = subprocess.run([*command, "--json", "-", str(path)], capture_output=True, text=True, timeout=180)
        report = json.loads(result.stdout[result.stdout.index("{"):])
        assert not [m for m in report["messages"] if m["severity"] in ("FATAL", "ERROR")], report["messages"]


def test_web_book_and_preview_run_no_injected_script(hostile, tmp_path):
    book, services = hostile
    path = export_webbook(book, tmp_path / "out", settings=services.settings)
    _safe_name(path, tmp_path / "out")
    html = path.read_text(encoding="utf-8")
    assert html.count("<script") == 1  # ours, and only ours
    assert "<img src=x" not in html and "href='javascript" not in html
    frame = reader_frame(html)
    assert "<script" not in frame and frame.count("<iframe") == 1

    from browser import browser_page, chromium_missing_reason

    if chromium_missing_reason():
        return
    with browser_page(390, 844) as page:
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(path.as_uri())
        page.click("#browse")
        for _ in range(4):
            page.click("#next")
        assert page.title() == TITLE  # shown as text, never parsed as markup
        assert page.locator("img[src='x']").count() == 0 and page.locator("a").count() == 0
        assert dialogs == []


@pytest.mark.skipif(not shutil.which("ffprobe"), reason="ffprobe (Debian ffmpeg) is not installed")
def test_video_and_audiobook_chapters_keep_the_text_literal(hostile, tmp_path):
    book, services = hostile
    for path, credits in ((export_video(book, tmp_path / "out", settings=services.settings, size=(320, 180)), 1),
                          (export_audiobook(book, tmp_path / "out", settings=services.settings), 0)):
        _safe_name(path, tmp_path / "out")
        info = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-of", "json",
                                          str(path)], capture_output=True, text=True, check=True).stdout)
        assert len(info["chapters"]) == 4 + credits  # "[CHAPTER]" in a page text did not add one
        assert info["chapters"][3]["tags"]["title"].startswith("4. title=evil;\\n#chapter")
        assert info["format"]["tags"]["title"] == TITLE
