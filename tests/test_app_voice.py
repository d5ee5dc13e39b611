"""The Voice tab through the running app: a voice from recordings with consent narrates a 4-page
Korean book (eSpeak + basic voice match), page 2 is regenerated alone, an RVC model file is used,
and after a reload the takes and choices are still there. Audio is checked by numbers."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file
from ui_helpers import refused, server_copies

from studio.audio import loudness_lufs, read_wav
from studio.book import Page
from tiny_voice import make_hubert, make_index, make_rvc_pth, speech_like

PAGES = ["옛날 옛적에 작은 마을에 순자 할머니가 살았어요.", "할머니는 감나무 아래에서 노래를 불렀어요.",
         "가을이면 빨간 감이 주렁주렁 열렸지요.", "우리는 할머니의 노래를 오래오래 기억해요."]
KNOBS = [0, 0.5, 0.33, 3, 0.25, 1.0, 150, 50, "harvest"]  # the tab's KNOB_ORDER, then the pitch method


def _espeak_recording(path, text, pitch):
    subprocess.run(["espeak-ng", "-v", "ko", "-p", str(pitch), "-s", "120", "-g", "2", "-w", str(path), text],
                   check=True, timeout=30)
    return path


def _choices(update):
    return [value for _, value in update["choices"]]


@pytest.fixture(scope="module")
def rvc_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("rvcapp")
    return make_hubert(root / "hubert"), make_rvc_pth(root / "grandma.pth"), make_index(root / "grandma.index")


def test_voice_narrates_a_book_and_everything_persists(launch_app, client_for, tmp_path, rvc_files):
    hubert, pth, index = rvc_files
    url, services = launch_app(hubert_model=str(hubert), max_file_size_mb=20)
    c = client_for(url)
    book_id = c.predict("할머니의 감나무", "", "ko", 4, api_name="/create_book")[0]["value"]
    services.store.update("local", book_id, lambda b: b.pages.extend(Page(text=t) for t in PAGES))
    page_ids = [p.id for p in services.store.get("local", book_id).pages]

    c.predict(api_name="/voice_refresh")
    out = c.predict("순자 할머니", api_name="/voice_create")
    voice_id = out[0]["value"]
    assert voice_id and "consent needed" in out[10]
    long_text = "할머니는 매일 아침 일찍 일어나 마당을 쓸고 감나무에 물을 주며 노래를 흥얼거리셨어요 " * 2
    rec1 = _espeak_recording(tmp_path / "rec1.wav", long_text, 80)
    rec2 = tmp_path / "rec2.wav"
    sf.write(rec2, speech_like(12.0, 44100, 240.0), 44100)
    mic = _espeak_recording(tmp_path / "mic.wav", long_text, 85)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    assert "not an audio file" in refused(c, voice_id, [handle_file(str(rec1)), handle_file(str(bad))], None,
                                          api_name="/voice_add_recordings")
    assert services.store.get("local", book_id).voice(voice_id).recordings == []
    out = c.predict(voice_id, [handle_file(str(rec1)), handle_file(str(rec2))], handle_file(str(mic)),
                    api_name="/voice_add_recordings")
    assert out[1].startswith("Recordings: 3 · usable speech:")
    voice = services.store.get("local", book_id).voice(voice_id)
    assert len(voice.recordings) == 3 and voice.profile["median_pitch_hz"] > 100
    assert [server_copies(name) for name in ("rec1.wav", "rec2.wav", "mic.wav")] == [[], [], []]
    assert server_copies("bad.wav")  # a refused file is not taken: the visitor still has it to hand

    c.predict(voice_id, "espeak", "voice_match", *KNOBS, api_name="/voice_pipeline")
    assert "consent" in refused(c, False, api_name="/narrate_book")  # her voice is not used without consent
    assert "statement" in refused(c, voice_id, "민수", "손자", "2026-11-22", "", api_name="/voice_consent")
    out = c.predict(voice_id, "민수", "손자", "2026-11-22", "할머니 목소리로 책을 읽어도 좋다고 가족이 동의합니다.",
                    api_name="/voice_consent")
    assert out[6] == "Consent given by 민수 on 2026-11-22."

    final = c.predict(False, api_name="/narrate_book")
    assert final.startswith("4 of 4 pages are narrated.")
    book = services.store.get("local", book_id)
    levels = []
    for page in book.pages:
        take = page.chosen_narration()
        samples, sr = read_wav(services.store.media_for("local").path(take.audio))
        assert take.duration_s == pytest.approx(len(samples) / sr, abs=1e-3) and take.duration_s > 1.5
        assert (take.speaker, take.converter) == ("espeak", "voice_match")
        levels.append(loudness_lufs(samples, sr))
    assert max(levels) - min(levels) < 1.0 and abs(np.mean(levels) + 18) < 1.0, levels

    c.predict(page_ids[1], api_name="/narration_page")
    pages_dd, takes_dd, audio = c.predict(voice_id, page_ids[1], api_name="/narrate_page")
    assert len(takes_dd["choices"]) == 2 and audio is not None
    first_take = _choices(takes_dd)[0]

    # the RVC model she already has: validated upload, then page 3 in the converted voice
    evil = tmp_path / "evil.pth"
    evil.write_bytes(b"\x80\x04\x95" + b"not a model")
    assert "pth" in refused(c, voice_id, handle_file(str(evil)), None, api_name="/voice_rvc_model")
    out = c.predict(voice_id, handle_file(str(pth)), handle_file(str(index)), api_name="/voice_rvc_model")
    assert "likeness: Voice model (RVC)" in out[10]
    standard, converted = c.predict(voice_id, "안녕하세요 할머니", api_name="/voice_preview")
    assert standard and converted
    _, takes3, _ = c.predict(voice_id, page_ids[2], api_name="/narrate_page")
    rvc_take = services.store.get("local", book_id).page(page_ids[2]).chosen_narration()
    assert rvc_take.converter == "rvc" and len(takes3["choices"]) == 2
    assert rvc_take.params["f0_method"] == "harvest"
    samples, sr = read_wav(services.store.media_for("local").path(rvc_take.audio))
    assert sr == 40000 and abs(loudness_lufs(samples, sr) + 18) < 1.0

    # reload: a new session opens the book and finds the takes and the choices
    c2 = client_for(url)
    c2.predict(api_name="/list_books")
    c2.predict(book_id, api_name="/open_book")
    c2.predict(api_name="/voice_refresh")
    _, takes_dd, _ = c2.predict(page_ids[1], api_name="/narration_page")
    assert len(takes_dd["choices"]) == 2 and takes_dd["value"] == _choices(takes_dd)[1]
    _, takes_dd, audio = c2.predict(page_ids[1], first_take, api_name="/narration_choose")
    assert takes_dd["value"] == first_take and audio is not None
    c3 = client_for(url)
    c3.predict(api_name="/list_books")
    c3.predict(book_id, api_name="/open_book")
    c3.predict(api_name="/voice_refresh")
    assert c3.predict(page_ids[1], api_name="/narration_page")[1]["value"] == first_take
    assert services.store.get("local", book_id).page(page_ids[1]).chosen_take == first_take


def test_whole_book_narration_can_be_stopped(launch_app, client_for, tmp_path):
    import time

    url, services = launch_app()
    c = client_for(url)
    book_id = c.predict("긴 책", "", "ko", 12, api_name="/create_book")[0]["value"]
    long_pages = [" ".join([t] * 5) for t in PAGES * 3]  # ~15 s each, so stopping lands mid-book
    services.store.update("local", book_id, lambda b: b.pages.extend(Page(text=t) for t in long_pages))
    c.predict(api_name="/voice_refresh")
    voice_id = c.predict("기본 목소리", api_name="/voice_create")[0]["value"]
    c.predict(voice_id, "espeak", "none", *KNOBS, api_name="/voice_pipeline")  # no likeness: no consent needed
    job = c.submit(False, api_name="/narrate_book")
    deadline = time.time() + 60
    while not any("1/12" in str(o) for o in job.outputs()) and time.time() < deadline:
        time.sleep(0.05)
    assert c.predict(api_name="/narrate_cancel") == "Stopping after the current page…"
    final = job.result(timeout=60)
    assert final.startswith("Stopped after"), final
    narrated = sum(1 for p in services.store.get("local", book_id).pages if p.chosen_take)
    assert 1 <= narrated < 12
    assert c.predict(api_name="/narrate_cancel") == "Nothing is running."
