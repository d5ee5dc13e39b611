"""A family can take back what it gave: remove one recording (the voice is measured again from
the rest) or delete a whole voice (recordings and model files), through the studio and the running
app. Files go from disk at once unless another book still uses them; narration already made stays."""
from __future__ import annotations

import pytest
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from ui_helpers import refused

from studio import narrate
from studio.audio import read_wav
from studio.backends.base import BackendError
from studio.book import Page
from studio.storage import StoreError
from browser import browser_page, chromium_missing_reason, error_badges, open_studio
from tiny_voice import make_index, make_rvc_pth, speech_like

OWNER = "local"
TEXTS = ["옛날 옛적에 순자 할머니가 살았어요.", "할머니는 감나무 아래에서 노래를 불렀어요.", "감이 빨갛게 익었어요.", "우리는 기억해요."]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("rvcdelete")
    return make_rvc_pth(root / "grandma.pth"), make_index(root / "grandma.index")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    root = tmp_path_factory.mktemp("recs")
    low, high = root / "low.wav", root / "high.wav"
    sf.write(low, speech_like(24.0, 24000, 140.0), 24000)  # long enough for several clips
    sf.write(high, speech_like(21.0, 24000, 290.0, seed=1), 24000)
    return low, high


@pytest.fixture
def book(services):
    b = services.store.create(OWNER, "할머니의 감나무", page_count=4)
    return services.store.update(OWNER, b.id, lambda bk: bk.pages.extend(Page(text=t) for t in TEXTS))


def _paths(services, refs):
    return [services.store.media_for(OWNER).path(ref) for ref in refs]


def _recording_files(services, rec):
    return _paths(services, [rec.audio, *rec.clips])


def _her_voice(services, book_id, recs, model_files=None):
    voice = narrate.create_voice(services, OWNER, book_id, "순자 할머니")
    voice = narrate.add_recordings(services, OWNER, book_id, voice.id, list(recs))
    if model_files:
        voice = narrate.attach_rvc_model(services, OWNER, book_id, voice.id, str(model_files[0]), str(model_files[1]))
    narrate.give_consent(services, OWNER, book_id, voice.id, "민수", "손자", "2026-11-22", "동의합니다")
    return narrate.set_pipeline(services, OWNER, book_id, voice.id, "espeak", "voice_match")


def test_removing_one_of_two_recordings_remeasures_and_deletes_only_its_files(services, book, recordings):
    low, high = recordings
    voice = _her_voice(services, book.id, [low, high])
    keep, gone = voice.recordings
    assert len(gone.clips) >= 2 and gone.audio not in gone.clips and all(p.is_file() for p in _recording_files(services, gone))

    after = narrate.remove_recording(services, OWNER, book.id, voice.id, gone.id)
    assert [r.id for r in after.recordings] == [keep.id]
    assert services.store.get(OWNER, book.id).voice(voice.id).profile == after.profile
    assert not any(p.exists() for p in _recording_files(services, gone))
    assert all(p.is_file() for p in _recording_files(services, keep))
    # measured again: what is left is exactly her low recording, as if it had been added alone
    assert after.profile["clips"] == len(keep.clips) < voice.profile["clips"]
    assert after.profile["usable_minutes"] < voice.profile["usable_minutes"]
    assert abs(after.profile["median_pitch_hz"] - 140.0) < 15 < voice.profile["f0_p90_hz"] - after.profile["f0_p90_hz"]
    other_book = services.store.create(OWNER, "비교")
    alone = narrate.add_recordings(services, OWNER, other_book.id,
                                   narrate.create_voice(services, OWNER, other_book.id, "비교").id, [low])
    assert after.profile["median_pitch_hz"] == alone.profile["median_pitch_hz"]
    assert after.profile["f0_median_hz"] == pytest.approx(alone.profile["f0_median_hz"])
    services.store.delete(OWNER, other_book.id)

    last = narrate.remove_recording(services, OWNER, book.id, voice.id, keep.id)
    assert last.recordings == [] and last.profile == {}
    assert not any(p.exists() for p in _recording_files(services, keep))
    with pytest.raises(BackendError, match="Add recordings"):  # basic voice match needs her recordings again
        narrate.preview(services, OWNER, book.id, voice.id, "안녕하세요 할머니")
    with pytest.raises(ValueError, match="no longer in this voice"):
        narrate.remove_recording(services, OWNER, book.id, voice.id, keep.id)


def test_deleting_a_voice_removes_its_files_and_keeps_the_narration(services, book, recordings, model_files):
    her = _her_voice(services, book.id, recordings[:1], model_files)
    plain = narrate.create_voice(services, OWNER, book.id, "기본")
    narrate.set_pipeline(services, OWNER, book.id, plain.id, "espeak", "none", use_for_book=False)
    assert services.store.get(OWNER, book.id).narration_voice == her.id
    take = narrate.narrate_page(services, OWNER, book.id, book.pages[0].id)
    assert take.voice_id == her.id and take.converter == "voice_match"
    her_files = _recording_files(services, her.recordings[0]) + _paths(services, her.model_files.values())
    assert len(her.model_files) == 2 and all(p.is_file() for p in her_files)

    gone = narrate.delete_voice(services, OWNER, book.id, her.id)
    assert gone.id == her.id
    stored = services.store.get(OWNER, book.id)
    assert [v.id for v in stored.voices] == [plain.id] and stored.narration_voice is None
    assert not any(p.exists() for p in her_files)
    kept = stored.page(book.pages[0].id).chosen_narration()  # the book's audio stays, still playable
    assert kept.id == take.id and kept.voice_id == her.id
    samples, sr = read_wav(services.store.media_for(OWNER).path(kept.audio))
    assert len(samples) / sr == pytest.approx(kept.duration_s, abs=1e-3)
    with pytest.raises(ValueError, match="no longer in this book"):
        narrate.delete_voice(services, OWNER, book.id, her.id)


def test_another_family_cannot_remove_or_delete(services, book, recordings):
    voice = _her_voice(services, book.id, recordings[:1])
    rec = voice.recordings[0]
    with pytest.raises(StoreError, match="does not exist or is not yours"):
        narrate.remove_recording(services, "someone-else", book.id, voice.id, rec.id)
    with pytest.raises(StoreError, match="does not exist or is not yours"):
        narrate.delete_voice(services, "someone-else", book.id, voice.id)
    assert services.store.get(OWNER, book.id).voice(voice.id).recordings == [rec]
    assert all(p.is_file() for p in _recording_files(services, rec))


def test_files_another_book_uses_are_not_deleted(services, book, recordings, model_files):
    voice = _her_voice(services, book.id, recordings[:1], model_files)
    rec = voice.recordings[0]
    files = _recording_files(services, rec) + _paths(services, voice.model_files.values())
    copy = services.store.duplicate(OWNER, book.id)
    # another family who happened to upload the very same recording has its own copy of the files
    stranger = services.store.create("stranger", "남의 책")
    theirs = narrate.add_recordings(services, "stranger", stranger.id,
                                    narrate.create_voice(services, "stranger", stranger.id, "할머니").id,
                                    recordings[:1]).recordings[0]
    assert (theirs.audio, theirs.clips) == (rec.audio, rec.clips)

    narrate.remove_recording(services, OWNER, copy.id, voice.id, rec.id)
    narrate.delete_voice(services, OWNER, copy.id, voice.id)
    assert services.store.get(OWNER, copy.id).voices == []
    assert all(p.is_file() for p in files)  # the original book still uses all of them

    narrate.delete_voice(services, OWNER, book.id, voice.id)
    model = _paths(services, voice.model_files.values())
    assert not any(p.exists() for p in model)  # nobody uses the model any more
    assert not any(p.exists() for p in _recording_files(services, rec))  # ours are gone ...
    stranger_media = services.store.media_for("stranger")  # ... the stranger's own copies stay
    assert all(stranger_media.path(ref).is_file() for ref in (theirs.audio, *theirs.clips))
    assert services.store.get("stranger", stranger.id).voices[0].recordings == [theirs]


def test_remove_and_delete_through_the_app(launch_app, client_for, recordings, model_files):
    low, high = recordings
    url, services = launch_app()
    c = client_for(url)
    book_id = c.predict("할머니의 감나무", "", "ko", 4, api_name="/create_book")[0]["value"]
    services.store.update(OWNER, book_id, lambda b: b.pages.extend(Page(text=t) for t in TEXTS))
    page_id = services.store.get(OWNER, book_id).pages[1].id
    c.predict(api_name="/voice_refresh")
    voice_id = c.predict("순자 할머니", api_name="/voice_create")[0]["value"]
    out = c.predict(voice_id, [handle_file(str(low)), handle_file(str(high))], None, api_name="/voice_add_recordings")
    assert out[1].startswith("Recordings: 2 ·") and len(out[-3]["choices"]) == 2  # then the cleared uploads
    keep, gone = services.store.get(OWNER, book_id).voice(voice_id).recordings
    measured_both = services.store.get(OWNER, book_id).voice(voice_id).profile

    assert refused(c, voice_id, None, api_name="/voice_remove_recording") == "Choose the recording to remove."
    out = c.predict(voice_id, gone.id, api_name="/voice_remove_recording")
    assert out[1].startswith("Recordings: 1 ·") and [v for _, v in out[-1]["choices"]] == [keep.id]
    voice = services.store.get(OWNER, book_id).voice(voice_id)
    assert [r.id for r in voice.recordings] == [keep.id] and voice.profile["clips"] < measured_both["clips"]
    assert not any(p.exists() for p in _recording_files(services, gone))
    assert all(p.is_file() for p in _recording_files(services, keep))

    out = c.predict(voice_id, handle_file(str(model_files[0])), handle_file(str(model_files[1])),
                    api_name="/voice_rvc_model")
    assert "Voice model (RVC)" in out[10]
    voice = narrate.set_pipeline(services, OWNER, book_id, voice_id, "espeak", "none")
    _, takes, audio = c.predict(voice_id, page_id, api_name="/narrate_page")
    assert len(takes["choices"]) == 1 and audio is not None
    her_files = _recording_files(services, keep) + _paths(services, voice.model_files.values())
    assert len(voice.model_files) == 2 and all(p.is_file() for p in her_files)

    out = c.predict(voice_id, api_name="/voice_delete")
    assert out[0]["choices"] == [] and out[0]["value"] is None and "deleted" in out[10]
    assert out[-1]["choices"] == []  # the recordings list (the API leaves out the confirm row)
    book = services.store.get(OWNER, book_id)
    assert book.voices == [] and book.narration_voice is None
    assert not any(p.exists() for p in her_files)
    take = book.page(page_id).chosen_narration()
    assert take.voice_id == voice_id and services.store.media_for(OWNER).path(take.audio).is_file()
    _, takes, audio = c.predict(page_id, api_name="/narration_page")  # still playable in the tab
    assert len(takes["choices"]) == 1 and audio is not None
    with pytest.raises(AppError, match="not in the list of choices"):  # a stale voice is refused
        c.predict(voice_id, api_name="/voice_delete")


def test_a_recording_added_meanwhile_is_in_the_new_measure(services, book, recordings, monkeypatch):
    low, high = recordings
    voice = _her_voice(services, book.id, [low])
    first = voice.recordings[0]
    measure = narrate._measured_profile
    calls = []

    def measured_while_another_tab_adds(media, recs):  # another tab adds her high recording mid-measure
        calls.append([r.id for r in recs])
        if len(calls) == 1:
            narrate.add_recordings(services, OWNER, book.id, voice.id, [high])
        return measure(media, recs)

    monkeypatch.setattr(narrate, "_measured_profile", measured_while_another_tab_adds)
    after = narrate.remove_recording(services, OWNER, book.id, voice.id, first.id)
    added = services.store.get(OWNER, book.id).voice(voice.id).recordings
    assert calls[0] == [] and len(calls) == 2 and [r.original_name for r in after.recordings] == ["high.wav"]
    assert added == after.recordings and after.profile["clips"] == len(after.recordings[0].clips)
    assert after.profile["median_pitch_hz"] > 250  # measured from the recording that is really left


@pytest.mark.skipif(chromium_missing_reason() is not None, reason=str(chromium_missing_reason()))
def test_a_korean_family_removes_a_recording_and_deletes_the_voice_after_confirming(launch_app, recordings, tmp_path):
    url, services = launch_app()
    book = services.store.create(OWNER, "할머니의 감나무", page_count=4)
    voice = narrate.create_voice(services, OWNER, book.id, "순자 할머니")
    narrate.add_recordings(services, OWNER, book.id, voice.id, recordings[:1])
    with browser_page(locale="ko-KR", height=1400) as page:
        open_studio(page, url, lambda: page.get_by_text("할머니의 감나무").first)
        page.get_by_role("button", name="열기").click()
        page.locator("#gieok-open-book").get_by_text("할머니의 감나무").wait_for(timeout=45000)
        page.get_by_role("tab", name="목소리").click()
        page.get_by_text("녹음 1개 · 쓸 수 있는 말소리").wait_for(timeout=45000)
        page.get_by_role("button", name="이 녹음 파일 빼기").click()
        page.get_by_text("아직 녹음이 없어요. 또렷하게").wait_for(timeout=45000)  # the voice panel (the training step says it too)
        assert services.store.get(OWNER, book.id).voice(voice.id).recordings == []
        warning = page.get_by_text("이미 낭독한 쪽의 낭독은 그대로 남습니다")
        assert warning.count() == 0 or not warning.is_visible()
        page.get_by_role("button", name="목소리 삭제하기…").click()
        warning.wait_for(timeout=60000)
        page.get_by_role("button", name="남겨 두기").click()  # changed her mind: nothing happens
        warning.wait_for(state="hidden", timeout=60000)
        assert [v.id for v in services.store.get(OWNER, book.id).voices] == [voice.id]
        page.get_by_role("button", name="목소리 삭제하기…").click()
        page.get_by_role("button", name="네, 이 목소리와 녹음 파일을 삭제합니다").click()
        page.get_by_text("“순자 할머니” 목소리를 지웠어요.").wait_for(timeout=45000)
        warning.wait_for(state="hidden", timeout=60000)
        page.screenshot(path=str(tmp_path / "voice-delete.png"), full_page=True)
        assert error_badges(page) == []
    assert services.store.get(OWNER, book.id).voices == []


def test_after_deleting_the_narration_voice_the_book_asks_which_voice_reads_it(services):
    book = services.store.create("fam", "두 목소리")
    page = Page(text="옛날 옛적에")
    services.store.update("fam", book.id, lambda b: b.pages.append(page))
    first = narrate.create_voice(services, "fam", book.id, "할머니", "ko")
    narrate.create_voice(services, "fam", book.id, "할아버지", "ko")
    narrate.set_pipeline(services, "fam", book.id, first.id, "espeak", "none")
    narrate.delete_voice(services, "fam", book.id, first.id)
    with pytest.raises(ValueError, match="Choose which voice reads this book"):
        narrate.narrate_page(services, "fam", book.id, page.id)
