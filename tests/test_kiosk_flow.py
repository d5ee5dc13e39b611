"""A visitor at the kiosk, through the running app on the offline backends: their book is made,
read aloud, taken home once (QR link) or printed, and everything of theirs is gone when they
leave ("I'm done", or the idle timeout, which waits for a running job)."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from gradio_client import handle_file
from PIL import Image

from studio.owners import owner_key

PIN = "2468"


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def kiosk_app(launch_app, tmp_path, monkeypatch):
    """A kiosk with a fake ``lp`` on PATH that records what it was asked to print."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    printed = tmp_path / "lp-args.txt"
    lp = bin_dir / "lp"
    lp.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> {printed}\necho 'request id is kiosk-1 (1 file(s))'\n")
    lp.chmod(lp.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))  # this app's web-server copies only
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # every temp file the studio makes, apart
    url, services = launch_app(mode="kiosk", kiosk_pin=PIN, max_file_size_mb=20)
    services.settings.kiosk_url = url  # the address a phone on the exhibition's network would use
    clock = Clock()
    services.kiosk.set_clock(clock)
    return url, services, clock, printed


def _owner(services, before: set[str]) -> str:
    new = {info.owner for info in services.store.owners()} - before
    assert len(new) == 1, new
    return new.pop()


def _files_of(services, owner: str) -> list[Path]:
    folders = [services.settings.data_dir / "owners" / owner_key(owner), services.kiosk.exports_root / owner_key(owner)]
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def _everything(services, tmp_path) -> set[Path]:
    """Every file the studio could have made for anyone: its data dir, its temp files and the web
    server's copies (this test's own temp folders, so other processes on the machine do not count)."""
    roots = [services.settings.data_dir, tmp_path / "tmp", tmp_path / "gradio"]
    return {p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()}


def _link(html: str) -> str:
    return re.search(r"(http://[^\s<'\"]+/kiosk/take/[A-Za-z0-9_-]+)", html).group(1)


def _visit(client, tmp_path, voice: Path | None = None, name="순자"):
    photo = tmp_path / "photo.png"
    Image.new("RGBA", (320, 240), (200, 150, 90, 255)).save(photo)  # with an alpha channel, as screenshots have
    client.predict(api_name="/kiosk_begin")
    client.predict(api_name="/kiosk_consent_yes")
    return client.predict(name, "할머니", "겨울마다 곶감을 말려 주셨어요", "옛날이야기를 들려주셨어요", "",
                          handle_file(str(photo)), handle_file(str(voice)) if voice else None, voice is not None,
                          api_name="/kiosk_make")


def test_a_visitor_makes_hears_takes_home_and_is_forgotten(kiosk_app, client_for, tmp_path):
    url, services, clock, printed = kiosk_app
    voice = tmp_path / "me.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(voice),
                    "감나무 아래에서 할머니가 웃으셨어요. 눈 내리는 밤이면 옛날이야기를 들려주셨지요. " * 2],
                   check=True, timeout=60)
    recorded = tmp_path / "me.flac"  # not a WAV: the web server keeps its own converted copy too
    sf.write(recorded, *sf.read(voice))
    c = client_for(url)
    before = _everything(services, tmp_path)
    made = _visit(c, tmp_path, recorded)
    assert made[0] == "making" and "책이 다 만들어졌어요" in made[1]  # the last plain words they read
    owner = _owner(services, set())
    book = services.store.list(owner)[0]
    assert len(book.pages) == 4 and all(p.chosen_image() and p.chosen_narration() for p in book.pages)
    assert book.voices[0].converter == "voice_match" and book.voices[0].consent.complete  # their voice, agreed

    page = c.predict(api_name="/kiosk_next")  # playback: picture, words and sound of page 2
    assert page[0] == "playback" and "data:image/jpeg;base64," in page[1] and page[2] and "4쪽 중 2쪽" in page[4]
    assert "<audio controls autoplay src='data:audio/wav;base64," in page[3]  # nothing copied to a file cache

    shown = c.predict(api_name="/kiosk_take_home")
    assert shown[0] == "take_home" and "<svg" in shown[1]  # the QR code beside the book
    link = _link(shown[1])
    first = httpx.get(link, timeout=30)  # another client: the visitor's phone
    assert first.status_code == 200 and first.content.startswith(b"%PDF")
    assert httpx.get(link, timeout=30).status_code == 404  # once only

    c.predict(2, api_name="/kiosk_print_ask")
    c.predict(2, api_name="/kiosk_print")
    args = printed.read_text().split("\n")
    assert args[:2] == ["-n", "2"] and args[-2].endswith(".pdf") and owner_key(owner) in args[-2]

    second_link = _link(c.predict(api_name="/kiosk_take_home")[1])
    uploads = [Path(p) for p in services.kiosk.visitor(owner).data["uploads"]]
    assert len(uploads) == 2 and all(p.is_file() for p in uploads)  # the web server's copies of photo and voice
    files = _files_of(services, owner)
    assert any(p.suffix == ".pdf" for p in files) and any(p.suffix == ".wav" for p in files)

    back = c.predict(api_name="/kiosk_new_visitor")
    assert back[0] == "welcome"
    assert [u["value"] for u in back[1:9]] == ["", "", "", "", "", None, None, False]  # their words, photo, voice
    assert _files_of(services, owner) == [] and not any(p.exists() for p in uploads)
    assert all((tmp_path / "gradio") in p.parents for p in uploads)
    assert [p for p in (tmp_path / "gradio").rglob("*") if p.is_file()] == []  # no copy in the web server's cache
    assert owner not in {info.owner for info in services.store.owners()}
    assert not (services.settings.data_dir / "owners" / owner_key(owner)).exists()
    assert httpx.get(second_link, timeout=30).status_code == 404  # their links went with them
    assert services.kiosk.visitor(owner) is None
    left = _everything(services, tmp_path) - before
    assert {p.relative_to(services.settings.data_dir).as_posix() for p in left} == {"joblog/jobs.jsonl"}  # hashed owner


def test_idle_timeout_forgets_but_waits_for_a_running_job(kiosk_app, client_for, tmp_path):
    url, services, clock, _ = kiosk_app
    kiosk, timeout = services.kiosk, services.kiosk.settings.idle_timeout_s
    writer = services.backends.get("writer", "storyteller")
    release, writing = threading.Event(), threading.Event()
    real_write = writer.write_story

    def slow_write(request, cancel):  # a story that takes as long as the test says
        writing.set()
        release.wait(30)
        return real_write(request, cancel)

    writer.write_story = slow_write
    try:
        c = client_for(url)
        c.predict(api_name="/kiosk_begin")
        c.predict(api_name="/kiosk_consent_yes")
        job = c.submit("순자", "할머니", "겨울마다 곶감을 말려 주셨어요", "", "", None, None, False, api_name="/kiosk_make")
        assert writing.wait(30)
        owner = _owner(services, set())
        clock.t += timeout * 5  # the visitor has not touched the screen for a long time...
        assert c.predict(0, api_name="/kiosk_tick") == ({"__type__": "update"}, {"__type__": "update"})
        assert kiosk.expire_idle() == [] and services.store.list(owner)  # ...but their book is being made
        release.set()
        assert "다 만들어졌어요" in job.result(timeout=60)[1]
    finally:
        writer.write_story = real_write
        release.set()
    link = _link(c.predict(api_name="/kiosk_take_home")[1])
    assert _files_of(services, owner)
    clock.t += timeout - 1  # counted from the end of the job (and their last tap)
    assert kiosk.expire_idle() == [] and _files_of(services, owner)
    clock.t += 2
    ticked = c.predict(0, api_name="/kiosk_tick")
    assert ticked == ("welcome", 1)  # back at welcome: the page reloads as a new visitor
    assert _files_of(services, owner) == [] and kiosk.visitor(owner) is None
    assert owner not in {info.owner for info in services.store.owners()}
    assert httpx.get(link, timeout=30).status_code == 404


def test_a_queued_book_is_not_idle_but_an_abandoned_queue_is(kiosk_app):
    _, services, clock, _ = kiosk_app
    kiosk, owner = services.kiosk, "anon:" + "d" * 32
    kiosk.expect_job(owner)  # pressed "make my book"; another visitor's book is being made first
    clock.t += kiosk.settings.idle_timeout_s * 3
    assert not kiosk.timed_out(owner)
    clock.t += 3600  # the page was closed and the queued job never ran
    assert kiosk.expire_idle() == [owner]


def test_a_link_serves_only_its_own_visitor_and_expires(kiosk_app, client_for, tmp_path):
    url, services, clock, _ = kiosk_app
    kiosk = services.kiosk
    a, b = "anon:" + "a" * 32, "anon:" + "b" * 32
    pdf_a, pdf_b = kiosk.export_dir(a) / "a.pdf", kiosk.export_dir(b) / "b.pdf"
    pdf_a.write_bytes(b"%PDF-A")
    pdf_b.write_bytes(b"%PDF-B")
    link_a, link_b = kiosk.issue_link(a, pdf_a), kiosk.issue_link(b, pdf_b)
    base = url.rstrip("/") + "/kiosk/take/"
    assert httpx.get(base + "not-a-token").status_code == 404
    kiosk.forget(a)
    assert httpx.get(base + link_a).status_code == 404  # A left: their link is gone
    assert httpx.get(base + link_b).content == b"%PDF-B"  # B's still works, and serves B's file
    late = kiosk.issue_link(b, pdf_b)
    clock.t += kiosk.settings.link_lifetime_s + 1
    assert httpx.get(base + late).status_code == 404  # expired


def test_consent_refused_and_missing_words_keep_the_visitor_safe(kiosk_app, client_for, tmp_path):
    url, services, _, _ = kiosk_app
    c = client_for(url)
    c.predict(api_name="/kiosk_begin")
    assert c.predict(api_name="/kiosk_consent_no") == "welcome"
    assert services.store.owners() == []  # "no thanks": nothing recorded
    c.predict(api_name="/kiosk_consent_yes")
    with pytest.raises(Exception, match="기억을 하나 이상"):
        c.predict("순자", "할머니", "", "", "", None, None, False, api_name="/kiosk_make")
    with pytest.raises(Exception, match="이름"):
        c.predict("", "할머니", "곶감", "", "", None, None, False, api_name="/kiosk_make")
    english = c.predict(api_name="/kiosk_english")
    assert any(str(u.get("value", "")).startswith("# Remember someone") for u in english if isinstance(u, dict))
    assert services.store.owners() == []


def test_a_crash_leaves_nothing_behind_at_the_next_start(tmp_path):
    from studio.config import Settings
    from studio.kiosk import Kiosk
    from studio.services import build_services

    services = build_services(Settings(data_dir=tmp_path / "data", mode="kiosk"))
    try:
        kiosk = Kiosk(services)
        owner = "anon:" + "c" * 32
        book = services.store.create(owner, "left behind", page_count=4)
        (kiosk.export_dir(owner) / "book.pdf").write_bytes(b"%PDF")
        assert services.store.list(owner)[0].id == book.id
        assert Kiosk(services).purge_all() == 1  # what the kiosk app does when it starts
        assert services.store.owners() == [] and not kiosk.exports_root.exists()
    finally:
        services.close()


def test_a_failed_book_says_why_keeps_nothing_half_made_and_is_counted(kiosk_app, client_for):
    from studio.backends.base import BackendError

    url, services, _, _ = kiosk_app
    writer = services.backends.get("writer", "storyteller")
    real_write = writer.write_story

    def broken(request, cancel):
        raise BackendError("story.writer_unavailable", writer="Offline storyteller", reason="disk full")

    writer.write_story = broken
    try:
        c = client_for(url)
        c.predict(api_name="/kiosk_begin")
        c.predict(api_name="/kiosk_consent_yes")
        with pytest.raises(Exception, match="disk full"):  # the reason, in words
            c.predict("순자", "할머니", "겨울마다 곶감을 말려 주셨어요", "", "", None, None, False, api_name="/kiosk_make")
    finally:
        writer.write_story = real_write
    owner = next(iter(services.kiosk._visitors))
    assert services.store.list(owner) == []  # the half-made book went
    made = c.predict("순자", "할머니", "겨울마다 곶감을 말려 주셨어요", "", "", None, None, False, api_name="/kiosk_make")
    assert "다 만들어졌어요" in made[1] and len(services.store.list(owner)) == 1  # trying again works
    outcomes = [(e["kind"], e["outcome"], e["error"]) for e in services.kiosk.job_log.read()]
    assert outcomes[0] == ("kiosk_story", "failed", "BackendError") and outcomes.count(("kiosk_story", "done", "")) == 1
