"""Speech backends: eSpeak NG (ko/en), a tiny VITS saved locally (offline), XTTS when installed."""
from __future__ import annotations

import numpy as np
import pytest

from studio.audio import frame_db
from studio.backends.base import BackendError
from studio.backends.registry import Backends
from studio.backends.tts_espeak import EspeakSpeaker
from studio.backends.tts_vits import VitsSpeaker
from studio.backends.tts_xtts import XttsSpeaker
from studio.config import Settings
from tiny_voice import make_vits


def _audible(audio) -> bool:
    return float(np.max(frame_db(audio.samples, audio.sample_rate))) > -30


@pytest.mark.parametrize("language,text", [("ko", "옛날 옛적에 감나무 아래에서 할머니가 노래를 불렀어요."),
                                           ("en", "Once upon a time, grandmother sang under the persimmon tree.")])
def test_espeak_speaks_korean_and_english(language, text, settings):
    speaker = EspeakSpeaker(settings)
    assert speaker.available().ok
    audio = speaker.speak(text, language)
    assert audio.sample_rate == 22050 and audio.samples.dtype == np.float32
    assert 2.0 < audio.duration_s < 8.0 and _audible(audio)
    slower = speaker.speak(text, language, rate=100)
    assert slower.duration_s > audio.duration_s * 1.2  # the rate knob really changes speed


def test_espeak_reads_text_starting_with_a_dash_and_refuses_empty(settings):
    speaker = EspeakSpeaker(settings)
    assert speaker.speak("--help me read this", "en").duration_s > 0.5
    with pytest.raises(BackendError, match="no text"):
        speaker.speak("   ", "ko")


def test_espeak_missing_binary_says_why(tmp_path):
    speaker = EspeakSpeaker(Settings(data_dir=tmp_path, espeak_binary="no-such-espeak"))
    status = speaker.available()
    assert not status.ok and "not installed" in status.reason


def test_tiny_vits_loads_offline_and_speaks_once_loaded(tmp_path):
    folder = make_vits(tmp_path / "vits")
    speaker = VitsSpeaker(Settings(data_dir=tmp_path / "d", vits_model_ko=str(folder)))
    assert speaker.available().ok, speaker.available().reason
    audio = speaker.speak("안녕하세요 할머니", "ko")
    assert audio.sample_rate == 16000 and audio.duration_s > 0.05 and np.isfinite(audio.samples).all()
    again = speaker.speak("안녕하세요 할머니", "ko")
    assert len(speaker._models) == 1  # loaded once
    np.testing.assert_array_equal(audio.samples, again.samples)  # same seed, same take
    with pytest.raises(BackendError, match="No VITS model is set for en"):
        speaker.speak("hello", "en")


def test_vits_romanises_korean_for_uroman_models_once(tmp_path):
    pytest.importorskip("uroman", reason="uroman is not installed (requirements.txt lists it)")
    folder = make_vits(tmp_path / "vits", uroman=True)
    speaker = VitsSpeaker(Settings(data_dir=tmp_path / "d", vits_model_ko=str(folder)))
    short = speaker.speak("할", "ko")
    longer = speaker.speak("할머니 감나무", "ko")
    assert speaker._uroman is not None and longer.duration_s > short.duration_s
    assert speaker._romanize("할머니") == "halmeoni"


def test_vits_not_configured_or_not_downloaded_says_why(tmp_path):
    assert "no model set" in VitsSpeaker(Settings(data_dir=tmp_path)).available().reason
    missing = VitsSpeaker(Settings(data_dir=tmp_path, vits_model_ko="facebook/mms-tts-kor-not-here"))
    assert "not downloaded" in missing.available().reason
    folder = VitsSpeaker(Settings(data_dir=tmp_path, vits_model_ko=str(tmp_path / "nope")))
    assert "not found" in folder.available().reason  # the one source check (model_sources)


def test_xtts_optional(tmp_path):
    speaker = XttsSpeaker(Settings(data_dir=tmp_path))
    status = speaker.available()
    assert not status.ok and status.reason
    try:
        import TTS  # noqa: F401
    except ImportError:
        pytest.skip(f"coqui-tts is not installed here: {status.reason}")
    pytest.skip("XTTS weights are not present locally (set GIEOK_XTTS_MODEL to run this)")


def test_registry_prefers_piper_for_english_and_espeak_reads_korean(services):
    from studio import narrate
    from studio.book import Voice

    voice = Voice(name="기본", converter="none")
    assert narrate.speaker_for(services, voice, "ko").name == "espeak"
    piper_ok = services.backends.get("speaker", "piper").available().ok
    assert narrate.speaker_for(services, voice, "en").name == ("piper" if piper_ok else "espeak")
    assert Backends(services.settings).active("speaker").name == ("piper" if piper_ok else "espeak")


def test_rate_knob_changes_vits_duration(tmp_path):
    folder = make_vits(tmp_path / "vits")
    speaker = VitsSpeaker(Settings(data_dir=tmp_path / "d", vits_model_ko=str(folder)))
    text = "안녕하세요 할머니 감나무 아래에서 노래를 불렀다"
    slow, natural, fast = (speaker.speak(text, "ko", rate=r).duration_s for r in (75, 150, 300))
    # (durations are whole frames per letter, so halving the rate less than halves a tiny take)
    assert slow > natural * 1.4 and natural > fast * 1.3 and slow > fast * 2.2, (slow, natural, fast)
    assert speaker.speak(text, "ko", speaking_rate=2.0).duration_s == pytest.approx(fast, rel=0.1)


def test_rate_knob_reaches_vits_through_narration(services, tmp_path):
    from studio import narrate
    from studio.book import Page

    services.settings.vits_model_ko = str(make_vits(tmp_path / "vits"))
    book = services.store.create("local", "책", page_count=4)
    book = services.store.update("local", book.id, lambda b: b.pages.append(Page(text="안녕하세요 할머니 감나무 아래에서")))
    voice = narrate.create_voice(services, "local", book.id, "기본")
    durations = []
    for rate in (90, 270):
        narrate.set_pipeline(services, "local", book.id, voice.id, "vits", "none", {"rate": rate})
        take = narrate.narrate_page(services, "local", book.id, book.pages[0].id)
        assert take.speaker == "vits"
        durations.append(take.duration_s)
    assert durations[0] > durations[1] * 2.0, durations


def test_xtts_gets_clips_from_all_recordings_up_to_its_limit(tmp_path):
    import soundfile as sf

    from studio.backends.tts_xtts import REFERENCE_LIMIT_S, reference_clips

    clips = []
    for i in range(40):  # 40 clips of 8 s: 320 s, more than XTTS needs
        path = tmp_path / f"clip{i:02d}.wav"
        sf.write(path, np.zeros(8 * 8000, dtype=np.float32), 8000)
        clips.append(str(path))
    chosen = reference_clips(clips)
    assert len(chosen) > 6 and len(chosen) * 8 <= REFERENCE_LIMIT_S
    assert chosen[0] == clips[0] and int(chosen[-1][-6:-4]) >= 30  # spread over every recording
    assert reference_clips(clips[:5]) == clips[:5]
    assert reference_clips(clips[:3] + [str(tmp_path / "gone.wav")]) == clips[:3]
