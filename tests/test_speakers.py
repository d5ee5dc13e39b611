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


def _speech_like(seconds: float, sr: int = 8000, loudness: float = 0.3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return (loudness * np.sin(2 * np.pi * 180 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _clip(folder, name: str, samples: np.ndarray, sr: int = 8000) -> str:
    import soundfile as sf

    path = folder / f"{name}.wav"
    sf.write(path, samples, sr)
    return str(path)


def test_xtts_takes_the_longest_clean_clips_of_every_recording_up_to_its_limit(tmp_path):
    from studio.backends.tts_xtts import MIN_REFERENCE_S, REFERENCE_LIMIT_S, reference_clips

    # 5 recordings x 4 clean clips of 3.5-9.5 s (the first recording holds the short ones): 20 clips
    lengths = [3.5 + 0.3 * i for i in range(20)]
    clips = [_clip(tmp_path, f"r{i // 4}c{i % 4}", _speech_like(seconds, seed=i)) for i, seconds in enumerate(lengths)]
    loud = _clip(tmp_path, "too-loud", np.clip(_speech_like(10.0) * 8, -1, 1))  # the longest, but clipped
    silent = _clip(tmp_path, "silent", np.zeros(8000 * 10, dtype=np.float32))
    short = _clip(tmp_path, "short", _speech_like(MIN_REFERENCE_S - 0.5))
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really")
    given = [loud, silent, *clips, short, str(broken), str(tmp_path / "gone.wav")]

    chosen = reference_clips(given)
    seconds = dict(zip(clips, lengths))
    assert not {loud, silent, short, str(broken)} & set(chosen)
    assert len(chosen) > 6 and sum(seconds[c] for c in chosen) <= REFERENCE_LIMIT_S
    assert [seconds[c] for c in chosen] == sorted((seconds[c] for c in chosen), reverse=True)
    assert chosen[0] == clips[-1]  # the last recording's longest clip leads (the 12 s style window)
    left_out = [seconds[c] for c in clips if c not in chosen]
    # greedy by length: everything left out is shorter than what was kept, or would not fit
    assert all(s < min(seconds[c] for c in chosen) or s + sum(seconds[c] for c in chosen) > REFERENCE_LIMIT_S
               for s in left_out)
    assert reference_clips(clips[:3]) == clips[:3][::-1]  # all of them when they fit, longest first
    assert reference_clips([silent, loud]) == []


class _FakeCoquiTTS:
    """Stands in for ``TTS.api.TTS`` (coqui-tts needs torchaudio, absent here): records how the
    studio calls it; its "speech" lasts 1 s divided by the speed it is asked for."""

    made: list = []

    def __init__(self, model_path: str, config_path: str):
        self.model_path, self.config_path, self.device, self.calls = model_path, config_path, None, []
        self.synthesizer = type("Synth", (), {"output_sample_rate": 24000})()
        _FakeCoquiTTS.made.append(self)

    def to(self, device):
        self.device = device
        return self

    def tts(self, text, language, speaker_wav, speed):
        self.calls.append(dict(text=text, language=language, speaker_wav=list(speaker_wav), speed=speed))
        return [0.1] * int(24000 / speed)


def test_xtts_is_placed_and_given_the_chosen_clips_and_the_rate(tmp_path, monkeypatch):
    import sys
    import types

    from studio.backends import tts_xtts

    asked = _placement_recorder(monkeypatch, "float32")
    monkeypatch.setitem(sys.modules, "TTS", types.ModuleType("TTS"))
    monkeypatch.setitem(sys.modules, "TTS.api", types.SimpleNamespace(TTS=_FakeCoquiTTS))
    monkeypatch.setattr(tts_xtts, "missing_packages", lambda *names: [])
    monkeypatch.setattr(_FakeCoquiTTS, "made", [])
    folder = tmp_path / "xtts"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    speaker = XttsSpeaker(Settings(data_dir=tmp_path / "d", xtts_model=str(folder), device="cpu"))
    clips = [_clip(tmp_path, f"c{i}", _speech_like(4 + i, seed=i)) for i in range(8)]  # 4..11 s: 60 s > limit

    natural = speaker.speak("할머니", "ko", reference_wavs=clips)
    slow = speaker.speak("할머니", "ko", reference_wavs=clips, rate=75)
    (tts,) = _FakeCoquiTTS.made  # loaded once
    assert asked == [("cpu", "xtts")] and str(tts.device) == "cpu"
    assert tts.calls[0]["speaker_wav"] == tts_xtts.reference_clips(clips) and len(tts.calls[0]["speaker_wav"]) > 1
    assert [call["speed"] for call in tts.calls] == [pytest.approx(1.0), pytest.approx(0.5)]
    assert slow.duration_s == pytest.approx(2 * natural.duration_s, rel=0.01)
    with pytest.raises(BackendError) as refused:
        speaker.speak("할머니", "ko", reference_wavs=[_clip(tmp_path, "quiet", np.zeros(80000, dtype=np.float32))])
    assert refused.value.key == "voice.xtts_no_clean_clip" and "3 seconds" in str(refused.value)
    assert len(tts.calls) == 2  # refused before XTTS was asked


def _placement_recorder(monkeypatch, dtype_name: str):
    """Replace the one voice placement with a recorder that answers the CPU and ``dtype_name``."""
    import torch

    from studio.backends import torch_device

    asked = []

    def placement(setting, model):
        asked.append((setting, model))
        return torch.device("cpu"), getattr(torch, dtype_name)

    monkeypatch.setattr(torch_device, "choose_voice_placement", placement)
    return asked


@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
def test_vits_is_placed_where_the_voice_placement_says(tmp_path, monkeypatch, dtype_name):
    import torch

    asked = _placement_recorder(monkeypatch, dtype_name)
    folder = make_vits(tmp_path / "vits")
    speaker = VitsSpeaker(Settings(data_dir=tmp_path / "d", vits_model_ko=str(folder), device="cpu"))
    audio = speaker.speak("안녕하세요 할머니", "ko")
    assert asked == [("cpu", "vits")]  # the studio's one device setting, for the VITS model
    model, _ = speaker._models[str(folder)]
    assert {p.dtype for p in model.parameters()} == {getattr(torch, dtype_name)}
    assert model.device.type == "cpu"
    assert audio.samples.dtype == np.float32 and np.isfinite(audio.samples).all() and audio.duration_s > 0.05
