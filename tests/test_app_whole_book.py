"""One whole book, end to end, through the running app as a family would make it offline:
memories -> story -> sketches -> her voice (recording, consent, voice match) -> narration -> exports.
"""
from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from gradio_client import handle_file
from pypdf import PdfReader

from studio.book import Book


def _file(result, target: Path) -> Path:
    data = result.get("value", result) if isinstance(result, dict) else result
    with urllib.request.urlopen(data["url"], timeout=60) as resp:
        target.write_bytes(resp.read())
    return target


def _ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters",
                          "-of", "json", str(path)], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_a_family_makes_a_whole_book_offline(launch_app, client_for, tmp_path):
    url, services = launch_app(max_file_size_mb=50)
    c = client_for(url)
    c.predict("할머니의 감나무", "사랑하는 순자 할머니께", "ko", 6, api_name="/create_book")
    c.predict("storyteller", 7, "순자", "할머니", "웃음이 많은, 손이 따뜻한", "눈 내리는 숲의 밤, 감나무, 된장찌개",
              "겨울마다 감을 말려 주셨다\n눈 오는 밤이면 옛날이야기를 들려주셨다\n시장에 가면 손을 잡아 주셨다",
              "gentle fairy tale", "5-8", 6, "ko", api_name="/write_story")
    c.predict(api_name="/illustrate_book")

    c.predict("순자 할머니", api_name="/voice_create")
    book = services.store.list("local")[0]
    voice_id = book.voices[0].id
    recording = tmp_path / "grandma.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-p", "70", "-w", str(recording),
                    "감나무 아래에서 할머니가 웃으셨어요. 눈 내리는 밤이면 옛날이야기를 들려주셨지요. " * 2],
                   check=True, timeout=60)
    c.predict(voice_id, [handle_file(str(recording))], None, api_name="/voice_add_recordings")
    c.predict(voice_id, "김민지", "손녀", "2026-11-22", "할머니의 목소리를 이 책에 쓰는 것에 동의합니다.",
              api_name="/voice_consent")
    c.predict(voice_id, "espeak", "voice_match", 0.0, 0.5, 0.33, 3, 0.25, 1.0, 150, 50, "pm",
              api_name="/voice_pipeline")
    c.predict(False, api_name="/narrate_book")

    # What is on disk (what a restart would load) has every page's picture and her narration.
    saved = json.loads(services.store.db_path_for("local").read_text(encoding="utf-8"))["books"]
    book = Book.from_dict(next(iter(saved.values())))
    assert len(book.pages) == 6 and book.memories.subject_name == "순자"
    assert all(p.chosen_image() and p.chosen_narration() for p in book.pages)
    assert any("순자" in p.text for p in book.pages)
    narration_s = sum(p.chosen_narration().duration_s for p in book.pages)
    assert narration_s > 6

    pdf = _file(c.predict("a4", False, "myeongjo", api_name="/export_pdf"), tmp_path / "book.pdf")
    reader = PdfReader(pdf)
    assert len(reader.pages) == 8 and "순자" in "".join(p.extract_text() for p in reader.pages)

    epub = _file(c.predict("myeongjo", api_name="/export_epub"), tmp_path / "book.epub")
    import zipfile
    with zipfile.ZipFile(epub) as zf:
        assert sum(name.endswith(".smil") for name in zf.namelist()) == 6

    mp4 = _ffprobe(_file(c.predict(True, api_name="/export_mp4"), tmp_path / "book.mp4"))
    assert {"video", "audio"} <= {s["codec_type"] for s in mp4["streams"]}
    from studio.export.video import CREDITS_S  # the film ends with a credits card, its own chapter

    assert abs(float(mp4["format"]["duration"]) - (narration_s + CREDITS_S)) <= 0.2 and len(mp4["chapters"]) == 7

    m4b = _ffprobe(_file(c.predict("m4b", api_name="/export_audiobook"), tmp_path / "book.m4b"))
    assert len(m4b["chapters"]) == 6

    web = _file(c.predict("myeongjo", api_name="/export_webbook"), tmp_path / "book.html").read_text()
    assert web.count("data:audio") >= 6 and "할머니의 감나무" in web
