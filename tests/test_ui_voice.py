"""A person in a Korean browser makes a voice from a recording, gives consent and narrates the book."""
from __future__ import annotations

import pytest
import soundfile as sf

from browser import browser_page, chromium_missing_reason, error_badges, open_studio
from studio.book import Page
from tiny_voice import speech_like

pytestmark = pytest.mark.skipif(chromium_missing_reason() is not None, reason=str(chromium_missing_reason()))


def test_voice_from_recording_to_narrated_book(launch_app, tmp_path):
    url, services = launch_app()
    book = services.store.create("local", "할머니의 감나무", page_count=4)
    texts = ["옛날 옛적에 할머니가 살았어요.", "감나무 아래에서 노래를 불렀어요.", "감이 빨갛게 익었어요.", "우리는 기억해요."]
    services.store.update("local", book.id, lambda b: b.pages.extend(Page(text=t) for t in texts))
    recording = tmp_path / "할머니.wav"
    sf.write(recording, speech_like(15.0, 44100, 230.0), 44100)
    with browser_page(locale="ko-KR", height=1400) as page:
        open_studio(page, url, lambda: page.get_by_text("할머니의 감나무").first)
        page.get_by_role("button", name="열기").click()
        page.locator("#gieok-open-book").get_by_text("할머니의 감나무").wait_for(timeout=60000)
        page.get_by_role("tab", name="목소리").click()
        page.get_by_label("새 목소리 이름").fill("순자 할머니")
        page.get_by_role("button", name="목소리 만들기").click()
        page.get_by_text("동의 필요").first.wait_for(timeout=60000)
        files = page.locator("#gieok-voice-files")
        files.locator("input[type=file]").set_input_files(str(recording))
        files.get_by_text("할머니.wav").first.wait_for(timeout=60000)
        page.get_by_role("button", name="녹음 추가").click()
        page.get_by_text("녹음 1개 · 쓸 수 있는 말소리").wait_for(timeout=30000)
        page.get_by_label("동의하는 분").fill("민수")
        page.get_by_label("그분과의 관계", exact=True).fill("손자")
        page.get_by_role("button", name="동의 저장").click()
        page.get_by_text("민수 님이").wait_for(timeout=60000)
        page.get_by_role("button", name="책 전체 낭독").click()
        page.get_by_text("4쪽 중 4쪽을 읽었어요.").wait_for(timeout=90000)
        page.screenshot(path=str(tmp_path / "voice.png"), full_page=True)
        assert error_badges(page) == []
    pages = services.store.get("local", book.id).pages
    assert all(p.chosen_narration() and p.chosen_narration().converter == "voice_match" for p in pages)
