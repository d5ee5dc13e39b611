"""EPUB 3 fixed layout with Media Overlays: valid under EPUBCheck, clip times equal to the
narrations' real lengths, no overlay for silent pages."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import soundfile

from export_fixtures import make_book
from studio.export.common import find_ffmpeg, gather
from studio.export.epub import export_epub

OPF = "{http://www.idpf.org/2007/opf}"
SMIL = "{http://www.w3.org/ns/SMIL}"
DURATIONS = [1.234, None, 0.987, 2.0005]


def epubcheck_command() -> list[str] | None:
    """Debian's `epubcheck` is the jar itself; run it through java when it is not executable."""
    found = shutil.which("epubcheck")
    java = shutil.which("java")
    if not found:
        return None
    real = Path(found).resolve()
    if real.suffix == ".jar":
        return [java, "-jar", str(real)] if java else None
    return [found]


def parse_clock(value: str) -> float:
    if value.endswith("s") and ":" not in value:
        return float(value[:-1])
    h, m, s = value.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.fixture
def epub(services, tmp_path):
    saved = make_book(services.store, pages=4, durations=DURATIONS, with_images=[True, False, True, True])
    book = gather(saved, services.store.media_for(saved.owner), services.backends)
    return export_epub(book, tmp_path / "out", settings=services.settings), saved, services


def test_epubcheck_passes(epub):
    path, _, _ = epub
    command = epubcheck_command()
    if command is None:
        pytest.skip("EPUBCheck is not installed (Debian package `epubcheck`, listed in packages.txt, needs java)")
    result = subprocess.run([*command, "--json", "-", str(path)], capture_output=True, text=True, timeout=180)
    report = json.loads(result.stdout[result.stdout.index("{"):])
    problems = [m for m in report["messages"] if m["severity"] in ("FATAL", "ERROR", "WARNING")]
    assert result.returncode == 0 and not problems, problems


def test_clips_equal_the_measured_narration_lengths(epub):
    path, saved, services = epub
    with zipfile.ZipFile(path) as zf:
        first = zf.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        opf = ET.fromstring(zf.read("OEBPS/content.opf"))
        items = {i.get("id"): i for i in opf.iter(f"{OPF}item")}
        durations = {m.get("refines"): parse_clock(m.text) for m in opf.iter(f"{OPF}meta")
                     if m.get("property") == "media:duration"}
        layout = [m.text for m in opf.iter(f"{OPF}meta") if m.get("property") == "rendition:layout"]
        assert layout == ["pre-paginated"]
        total = 0.0
        for number, page in enumerate(saved.pages, start=1):
            name = f"page-{number:02d}"
            xhtml = items[name]
            take = page.chosen_narration()
            if take is None:
                assert xhtml.get("media-overlay") is None and f"OEBPS/{name}.smil" not in zf.namelist()
                continue
            info = soundfile.info(str(services.store.media_for(saved.owner).path(take.audio)))
            measured = info.frames / info.samplerate
            assert xhtml.get("media-overlay") == f"mo-{name}"
            smil = ET.fromstring(zf.read(f"OEBPS/{name}.smil"))
            (text,) = list(smil.iter(f"{SMIL}text"))
            (audio,) = list(smil.iter(f"{SMIL}audio"))
            assert text.get("src") == f"{name}.xhtml#text"
            assert 'id="text"' in zf.read(f"OEBPS/{name}.xhtml").decode()
            assert parse_clock(audio.get("clipBegin")) == 0
            assert parse_clock(audio.get("clipEnd")) == pytest.approx(measured, abs=0.0005)
            assert durations[f"#mo-{name}"] == pytest.approx(measured, abs=0.0005)
            assert items[f"audio-{name}"].get("media-type") == "audio/mp4"
            total += measured
        assert durations[None] == pytest.approx(total, abs=0.002)
        assert "properties" in items["cover-image"].attrib and items["nav"].get("properties") == "nav"


@pytest.mark.skipif(not shutil.which("ffprobe"), reason="ffprobe (ffmpeg) is not installed")
def test_packaged_audio_lasts_as_long_as_the_narration(epub, tmp_path):
    path, saved, _ = epub
    with zipfile.ZipFile(path) as zf:
        (tmp_path / "clip.m4a").write_bytes(zf.read("OEBPS/audio/page-01.m4a"))
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(tmp_path / "clip.m4a")], capture_output=True, text=True, check=True)
    assert float(probe.stdout) == pytest.approx(DURATIONS[0], abs=0.05)


def test_viewport_on_every_page(epub):
    path, _, _ = epub
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith(".xhtml") and not name.endswith("nav.xhtml"):
                body = zf.read(name).decode()
                ET.fromstring(body.split("\n", 2)[2])  # well-formed XML after the doctype
                assert re.search(r'<meta name="viewport" content="width=\d+, height=\d+"/>', body), name


def test_clip_cache_reuses_and_forgets_old_clips(services, tmp_path, monkeypatch):
    import os

    from studio.export import av

    monkeypatch.setattr(av, "_CLIP_CACHE", tmp_path / "cache")
    book = gather(make_book(services.store, pages=4, durations=[0.3, 0.4, None, 0.5]), services.store.media_for("local"))
    ffmpeg = find_ffmpeg(services.settings)
    clips = av.compressed_clips(book, ffmpeg, 60)
    assert sorted(clips) == [1, 2, 4] and all(p.stat().st_size > 0 for p in clips.values())
    stale = tmp_path / "cache" / "stale.m4a"
    stale.write_bytes(b"old")
    os.utime(stale, (1, 1))
    inodes = {n: p.stat().st_ino for n, p in clips.items()}
    again = av.compressed_clips(book, ffmpeg, 60)
    assert {n: p.stat().st_ino for n, p in again.items()} == inodes  # cached: nothing re-encoded
    assert not stale.exists()
    assert not list((tmp_path / "cache").glob(".*"))  # no partial files left


def test_the_chosen_font_travels_inside_the_book(epub):
    path, _, _ = epub
    from fontTools.ttLib import TTFont
    import io

    with zipfile.ZipFile(path) as zf:
        font = TTFont(io.BytesIO(zf.read("OEBPS/fonts/book.ttf")))
        css = zf.read("OEBPS/style.css").decode()
    cmap = font.getBestCmap()
    assert all(ord(ch) in cmap for ch in "할머니의 감나무 사랑하는 순자")
    assert len(cmap) < 400  # a subset of this book's characters, not the whole 4 MB font
    assert 'src: url("fonts/book.ttf")' in css and "Nanum Myeongjo" in css


def test_the_last_page_says_how_the_pictures_were_made_and_metadata_names_the_family(services, tmp_path):
    from studio.book import Character, Consent

    saved = make_book(services.store, pages=4, durations=[None] * 4, with_images=[False, True, False, True])
    saved = services.store.update("local", saved.id, lambda b: b.characters.append(Character(
        name="순자 할머니", consent=Consent(given_by="김민지", relation="손녀", date="2026-11-30", statement="네"))))
    path = export_epub(gather(saved, services.store.media_for(saved.owner), services.backends), tmp_path, settings=services.settings)
    with zipfile.ZipFile(path) as zf:
        opf = ET.fromstring(zf.read("OEBPS/content.opf"))
        spine = [i.get("idref") for i in opf.iter(f"{OPF}itemref")]
        assert spine[-1] == "colophon"
        colophon = zf.read("OEBPS/colophon.xhtml").decode()
        ET.fromstring(colophon.split("\n", 2)[2])
        pages = " ".join(zf.read(n).decode() for n in zf.namelist() if n.startswith("OEBPS/page-"))
    assert "이 책에 대하여" in colophon and "1, 3쪽 그림은" in colophon and "김민지 님이" in colophon
    assert "sketch" not in pages.lower() and "스케치" not in pages
    dc = "{http://purl.org/dc/elements/1.1/}"
    assert opf.find(f".//{dc}creator").text == "김민지"
    assert opf.find(f".//{dc}subject").text == "사랑하는 순자 할머니께"
