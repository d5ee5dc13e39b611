"""Narration a family would keep: every take at −18 LUFS with true peak ≤ −1 dBTP (Korean on
eSpeak NG, English on Piper when installed), the storyteller's pauses and pitch movement
measured on the audio, and Piper's failures (missing, stuck, killed, broken) leave nothing behind."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from studio import mastering, narrate
from studio.audio import frame_db, read_wav
from studio.backends.base import BackendError
from studio.backends.tts_espeak import EspeakSpeaker
from studio.backends.tts_piper import PiperSpeaker
from studio.book import Page

OWNER = "local"
KO_PAGES = ["순자 할머니는 눈 내리는 숲 속 작은 집에 살았어요. 할머니는 3살 손녀에게 옛날이야기를 들려주셨지요.",
            "할머니, 내일도 이야기해 주실 거예요? 그럼, 물론이지!"]
EN_PAGES = ["Grandpa Harold lived in a small house by the sea. Every morning, he walked to the harbor.",
            "Did he ever get tired? Never, he said."]
PIPER = PiperSpeaker(None).available()  # settings are not read by available()


def _book(services, language, pages):
    book = services.store.create(OWNER, "책", language=language, page_count=4)
    return services.store.update(OWNER, book.id, lambda b: b.pages.extend(Page(text=t) for t in pages))


def _standard_voice(services, book_id, speaker=""):
    voice = narrate.create_voice(services, OWNER, book_id, "기본")
    narrate.set_pipeline(services, OWNER, book_id, voice.id, speaker or "auto", "none")
    return voice


def _gaps(samples, sr, floor_db=-50.0, min_s=0.1):
    """Lengths (s) of the silent stretches between sounds."""
    db = frame_db(samples, sr, 0.005)
    quiet = db < db.max() + floor_db
    gaps, run = [], 0
    for q in quiet:
        if q:
            run += 1
        else:
            if run * 0.005 >= min_s:
                gaps.append(run * 0.005)
            run = 0
    return gaps


@pytest.mark.parametrize("language,pages", [("ko", KO_PAGES), ("en", EN_PAGES)])
def test_every_take_lands_at_minus_18_lufs_with_true_peak_headroom(services, language, pages):
    book = _book(services, language, pages)
    _standard_voice(services, book.id)
    expected = "piper" if language == "en" and PIPER.ok else "espeak"
    for page in book.pages:
        take = narrate.narrate_page(services, OWNER, book.id, page.id)
        samples, sr = read_wav(services.store.media_for(OWNER).path(take.audio))  # the stored 16-bit file itself
        assert take.speaker == expected
        assert abs(mastering.loudness_lufs(samples, sr) + 18.0) <= 1.0
        assert mastering.true_peak_db(samples) <= -1.0
        assert np.max(np.abs(samples)) < 0.95  # nothing clipped


def test_master_take_limits_peaks_without_clipping_and_leaves_clean_speech_alone():
    sr = 22050
    rng = np.random.default_rng(0)
    t = np.arange(sr * 4) / sr
    speech = (0.05 * np.sin(2 * np.pi * 150 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    spiky = speech.copy()
    spiky[rng.integers(0, len(t), 40)] = 0.9  # clicks: a plain gain to −18 LUFS would clip them
    out = mastering.master_take(spiky, sr)
    assert abs(mastering.loudness_lufs(out, sr) + 18.0) < 0.5 and mastering.true_peak_db(out) <= -1.0
    gentle = mastering.master_take(speech, sr)  # no peaks over the ceiling: only a gain
    assert abs(mastering.loudness_lufs(gentle, sr) + 18.0) < 0.3
    assert np.corrcoef(gentle, speech)[0, 1] > 0.9999
    assert mastering.true_peak_db(np.zeros(10)) == float("-inf") and not mastering.master_take(np.zeros(100), sr).any()


def test_loudness_range_of_steady_and_changing_sound():
    sr = 16000
    t = np.arange(sr * 12) / sr
    tone = 0.1 * np.sin(2 * np.pi * 440 * t)
    assert mastering.loudness_range(tone, sr) < 0.5
    stepped = tone * np.where(t < 6, 1.0, 0.25)  # 12 dB quieter in the second half
    assert 9.0 < mastering.loudness_range(stepped, sr) < 13.0


def test_storyteller_pauses_at_commas_sentences_and_paragraphs(settings):
    speaker = EspeakSpeaker(settings)
    audio = speaker.speak("할머니는, 감나무 아래에서 노래를 불렀어요. 아이는 웃었어요.\n\n겨울이 왔어요.", "ko")
    gaps = _gaps(audio.samples, audio.sample_rate)
    assert any(0.2 <= g <= 0.35 for g in gaps), gaps  # comma ~250 ms
    assert any(0.5 <= g <= 0.65 for g in gaps), gaps  # sentence ~550 ms
    assert any(0.85 <= g <= 1.0 for g in gaps), gaps  # paragraph ~900 ms
    plain = speaker.speak("할머니는, 감나무 아래에서 노래를 불렀어요. 아이는 웃었어요.\n\n겨울이 왔어요.", "ko", style="plain")
    assert max(_gaps(plain.samples, plain.sample_rate), default=0) < 0.8  # eSpeak alone: no paragraph pause


def test_storyteller_pitch_moves_more_than_plain_espeak(settings):
    speaker = EspeakSpeaker(settings)
    text = " ".join(KO_PAGES)
    told = mastering.pitch_movement(*_pair(speaker.speak(text, "ko")))
    plain = mastering.pitch_movement(*_pair(speaker.speak(text, "ko", style="plain", rate=150)))
    # measured: about 7 semitones (10th–90th percentile) against about 5 for plain eSpeak
    assert told["spread_st"] >= plain["spread_st"] + 1.0, (told, plain)
    assert told["near_median"] < plain["near_median"]


def _pair(audio):
    return audio.samples, audio.sample_rate


def test_storyteller_reads_numbers_the_korean_way(settings, monkeypatch):
    said = []
    speaker = EspeakSpeaker(settings)
    real = speaker._say

    def spy(binary, text, *args, **kwargs):
        said.append(text)
        return real(binary, text, *args, **kwargs)

    monkeypatch.setattr(speaker, "_say", spy)
    speaker.speak("손녀는 3살이에요. 1998년에 감 5개를 땄어요.", "ko")
    assert "세 살이에요." in said[0] and "천구백구십팔 년에 감 다섯 개를 땄어요." in said[1]


def test_rate_knob_changes_espeak_duration_through_narration(services):
    book = _book(services, "ko", KO_PAGES[:1])
    voice = _standard_voice(services, book.id, "espeak")
    durations = []
    for rate in (100, 220):
        narrate.set_pipeline(services, OWNER, book.id, voice.id, "espeak", "none", {"rate": rate})
        durations.append(narrate.narrate_page(services, OWNER, book.id, book.pages[0].id).duration_s)
    assert durations[0] > durations[1] * 1.4, durations


# -- Piper ------------------------------------------------------------------------------------
needs_piper = pytest.mark.skipif(not PIPER.ok, reason=f"Piper is not installed here: {PIPER.reason}")


@needs_piper
def test_piper_reads_english_with_sentence_pauses_and_the_rate_knob(settings):
    speaker = PiperSpeaker(settings)
    slow = speaker.speak(EN_PAGES[1], "en", rate=100)
    fast = speaker.speak(EN_PAGES[1], "en", rate=250)
    assert slow.sample_rate == 22050 and slow.duration_s > fast.duration_s * 1.5
    assert any(0.5 <= g <= 0.65 for g in _gaps(fast.samples, fast.sample_rate)), "a sentence pause"
    with pytest.raises(BackendError, match="English only"):
        speaker.speak("안녕하세요", "ko")


@needs_piper
def test_pitch_knob_moves_piper_through_narration(services):
    book = _book(services, "en", EN_PAGES[1:])
    voice = _standard_voice(services, book.id, "piper")
    medians = []
    for pitch in (50, 80):  # 30 steps ≈ +5 semitones
        narrate.set_pipeline(services, OWNER, book.id, voice.id, "piper", "none", {"pitch": pitch})
        take = narrate.narrate_page(services, OWNER, book.id, book.pages[0].id)
        medians.append(mastering.pitch_movement(*read_wav(services.store.media_for(OWNER).path(take.audio)))["median_hz"])
    semitones = 12 * np.log2(medians[1] / medians[0])
    assert 3.5 < semitones < 6.5, medians


def _failing_piper(script):
    def command(self, model, config, out_dir, length_scale):
        return [sys.executable, "-c", script, str(out_dir)]
    return command


@pytest.mark.parametrize("script,timeout,message", [
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 60, "stopped before it finished"),
    ("import time; time.sleep(30)", 1, "took longer than 1 seconds"),
    ("import sys; print('onnxruntime: model is broken', file=sys.stderr); sys.exit(3)", 60, "model is broken"),
    ("import sys, os; os.makedirs(sys.argv[1]); open(os.path.join(sys.argv[1], '1.wav'), 'wb').write(b'RIFF')",
     60, "sentences came back"),
])
def test_piper_failures_say_so_and_store_nothing(services, monkeypatch, script, timeout, message):
    monkeypatch.setattr(PiperSpeaker, "command", _failing_piper(script))
    monkeypatch.setattr("studio.backends.tts_piper.voice_files", lambda: (services.settings.data_dir, services.settings.data_dir))
    monkeypatch.setattr("studio.backends.tts_piper.missing_packages", lambda *names: [])
    services.settings.subprocess_timeout_s = timeout
    book = _book(services, "en", EN_PAGES)
    _standard_voice(services, book.id, "piper")
    media_before = sorted(p.name for p in services.settings.media_dir.rglob("*") if p.is_file())
    with pytest.raises(BackendError, match=message) as caught:
        narrate.narrate_page(services, OWNER, book.id, book.pages[0].id)
    assert "Nothing was saved" in str(caught.value) and "저장된 것은 없어요" in caught.value.render("ko")
    page = services.store.get(OWNER, book.id).page(book.pages[0].id)
    assert page.takes == [] and page.chosen_take is None
    assert sorted(p.name for p in services.settings.media_dir.rglob("*") if p.is_file()) == media_before


def test_piper_missing_says_why_and_english_falls_back_to_espeak(services, monkeypatch):
    monkeypatch.setattr("studio.backends.tts_piper.missing_packages", lambda *names: list(names[:1]))
    speaker = services.backends.get("speaker", "piper")
    status = speaker.available()
    assert not status.ok and "piper-tts is not installed" in status.reason
    book = _book(services, "en", EN_PAGES[:1])
    voice = _standard_voice(services, book.id)
    assert narrate.speaker_for(services, voice, "en").name == "espeak"  # auto: the next that reads English
    narrate.set_pipeline(services, OWNER, book.id, voice.id, "piper", "none")  # chosen by the family
    with pytest.raises(BackendError, match="piper-tts is not installed"):
        narrate.narrate_page(services, OWNER, book.id, book.pages[0].id)
    assert services.store.get(OWNER, book.id).pages[0].takes == []
    monkeypatch.setattr("studio.backends.tts_piper.missing_packages", lambda *names: [])
    monkeypatch.setattr("studio.backends.tts_piper.voice_files", lambda: None)
    assert "voice is not installed" in speaker.available().reason


def test_a_take_made_through_the_running_app_is_at_the_promised_loudness(launch_app, client_for):
    url, services = launch_app()
    c = client_for(url)
    book_id = c.predict("Grandpa Harold", "", "en", 4, api_name="/create_book")[0]["value"]
    book = services.store.update(OWNER, book_id, lambda b: b.pages.append(Page(text=EN_PAGES[1])))
    c.predict(api_name="/voice_refresh")
    voice_id = c.predict("Narrator", api_name="/voice_create")[0]["value"]
    knobs = [0, 0.5, 0.33, 3, 0.25, 1.0, 130, 50, "pm"]  # the tab's KNOB_ORDER, then the pitch method
    c.predict(voice_id, "auto", "none", *knobs, api_name="/voice_pipeline")
    c.predict(book.pages[0].id, api_name="/narration_page")
    _, takes, audio = c.predict(voice_id, book.pages[0].id, api_name="/narrate_page")
    assert len(takes["choices"]) == 1 and audio is not None
    take = services.store.get(OWNER, book_id).pages[0].chosen_narration()
    assert take.speaker == ("piper" if PIPER.ok else "espeak")
    samples, sr = read_wav(services.store.media_for(OWNER).path(take.audio))
    assert abs(mastering.loudness_lufs(samples, sr) + 18.0) <= 1.0 and mastering.true_peak_db(samples) <= -1.0
