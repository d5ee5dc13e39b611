"""Narration flows without the UI: consent rules, takes kept and chosen, cancel mid-book."""
from __future__ import annotations

import pytest
import soundfile as sf

from studio import narrate
from studio.audio import loudness_lufs
from studio.backends.base import CancelToken, Cancelled
from studio.book import Page
from tiny_voice import speech_like

OWNER = "local"


@pytest.fixture
def book(services):
    b = services.store.create(OWNER, "감나무", page_count=4)
    texts = ["첫째 쪽입니다.", "둘째 쪽입니다.", "", "넷째 쪽입니다."]
    return services.store.update(OWNER, b.id, lambda bk: bk.pages.extend(Page(text=t) for t in texts))


def test_standard_voice_needs_no_consent_but_her_voice_does(services, book, tmp_path):
    voice = narrate.create_voice(services, OWNER, book.id, "기본")
    narrate.set_pipeline(services, OWNER, book.id, voice.id, "espeak", "none")
    take = narrate.narrate_page(services, OWNER, book.id, book.pages[0].id)
    assert take.converter == "none" and take.duration_s > 0.5
    ab = narrate.preview(services, OWNER, book.id, voice.id, "안녕하세요 할머니, 오늘도 노래해 주세요.")
    assert abs(loudness_lufs(ab.standard.samples, ab.standard.sample_rate) + 18) < 1.0
    assert abs(loudness_lufs(ab.result.samples, ab.result.sample_rate) + 18) < 1.0
    narrate.set_pipeline(services, OWNER, book.id, voice.id, "espeak", "voice_match")
    with pytest.raises(ValueError, match="consent"):
        narrate.narrate_page(services, OWNER, book.id, book.pages[0].id)
    with pytest.raises(ValueError, match="who gives consent, relation"):
        narrate.give_consent(services, OWNER, book.id, voice.id, "", " ", "2026-01-01", "ok")


def test_takes_are_kept_capped_and_chosen(services, book, monkeypatch):
    voice = narrate.create_voice(services, OWNER, book.id, "기본")
    narrate.set_pipeline(services, OWNER, book.id, voice.id, "espeak", "none", {"rate": 999, "transpose": -99})
    stored = services.store.get(OWNER, book.id).voice(voice.id)
    assert stored.conversion["rate"] == 450 and stored.conversion["transpose"] == -24.0  # clamped
    page_id = book.pages[1].id
    monkeypatch.setattr(narrate, "MAX_TAKES", 3)
    takes = [narrate.narrate_page(services, OWNER, book.id, page_id) for _ in range(4)]
    page = services.store.get(OWNER, book.id).page(page_id)
    assert [t.id for t in page.takes] == [t.id for t in takes[1:]] and page.chosen_take == takes[-1].id
    narrate.choose_take(services, OWNER, book.id, page_id, takes[1].id)
    assert services.store.get(OWNER, book.id).page(page_id).chosen_narration().id == takes[1].id
    with pytest.raises(ValueError, match="no longer on this page"):
        narrate.choose_take(services, OWNER, book.id, page_id, takes[0].id)
    with pytest.raises(ValueError, match="no longer in this book"):
        narrate.narrate_page(services, OWNER, book.id, "nope")
    with pytest.raises(ValueError, match="no text"):
        narrate.narrate_page(services, OWNER, book.id, book.pages[2].id)


def test_whole_book_skips_empty_pages_and_stops_on_cancel(services, book, tmp_path):
    voice = narrate.create_voice(services, OWNER, book.id, "할머니")
    rec = tmp_path / "rec.wav"
    sf.write(rec, speech_like(8.0, 24000, 230.0), 24000)
    narrate.add_recordings(services, OWNER, book.id, voice.id, [rec])
    narrate.give_consent(services, OWNER, book.id, voice.id, "민수", "손자", "2026-11-22", "동의합니다")
    token = CancelToken()
    events = []
    with pytest.raises(Cancelled):
        for event in narrate.narrate_book(services, OWNER, book.id, token):
            events.append(event)
            if event.done == 1:
                token.cancel()
    assert [e.done for e in events] == [0, 1] and events[0].total == 3
    narrated = [p for p in services.store.get(OWNER, book.id).pages if p.chosen_take]
    assert len(narrated) == 1  # the finished page stays saved
    rest = list(narrate.narrate_book(services, OWNER, book.id, only_missing=True))
    assert rest[-1].done == rest[-1].total == 2
    assert all(p.chosen_narration() for p in services.store.get(OWNER, book.id).pages if p.text)
