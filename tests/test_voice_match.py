"""Basic voice match moves speech toward the measured voice (numbers, not ears)."""
from __future__ import annotations

import numpy as np
import pytest

from studio.audio import median_pitch
from studio.backends.base import Audio, BackendError
from studio.backends.tts_espeak import EspeakSpeaker
from studio.backends.voice_match import BasicVoiceMatch, measure_profile
from studio.book import Voice
from tiny_voice import speech_like


@pytest.fixture(scope="module")
def spoken():
    from studio.config import Settings
    return EspeakSpeaker(Settings()).speak("옛날 옛적에 감나무 아래에서 할머니가 노래를 불렀어요.", "ko")


def test_profile_measures_pitch_range_formants_and_envelope():
    profile = measure_profile([speech_like(4.0, 24000, 230.0), speech_like(4.0, 24000, 250.0, 1)], 24000)
    assert 215 < profile["f0_median_hz"] < 265
    assert profile["f0_p10_hz"] < profile["f0_median_hz"] < profile["f0_p90_hz"]
    assert len(profile["formants_hz"]) == 3 and all(f > 0 for f in profile["formants_hz"])
    assert len(profile["envelope_db"]) > 20


def test_speech_moves_to_her_pitch_and_keeps_its_length(spoken, settings):
    target = measure_profile([speech_like(6.0, 24000, 260.0)], 24000)
    voice = Voice(name="할머니", profile=target)
    before = median_pitch([spoken.samples], spoken.sample_rate)
    out = BasicVoiceMatch(settings).convert(spoken, voice)
    after = median_pitch([out.samples], out.sample_rate)
    assert before < 150 and abs(after - 260.0) / 260.0 < 0.12, (before, after)
    assert abs(out.duration_s - spoken.duration_s) < 0.02
    assert np.abs(out.samples).max() <= 1.0 and np.sqrt(np.mean(out.samples ** 2)) > 0.01
    half = BasicVoiceMatch(settings).convert(spoken, voice, strength=0.5)
    middle = median_pitch([half.samples], half.sample_rate)
    assert before * 1.1 < middle < after * 0.95  # strength interpolates on the log scale


def test_transpose_raises_her_pitch_by_semitones(spoken, settings):
    voice = Voice(profile=measure_profile([speech_like(6.0, 24000, 200.0)], 24000))
    base = median_pitch([BasicVoiceMatch(settings).convert(spoken, voice).samples], 16000)
    up = median_pitch([BasicVoiceMatch(settings).convert(spoken, voice, transpose=12).samples], 16000)
    assert 1.8 < up / base < 2.2


def test_lower_voice_and_no_recordings(spoken, settings):
    low = Voice(profile=measure_profile([speech_like(5.0, 24000, 95.0)], 24000))
    out = BasicVoiceMatch(settings).convert(spoken, low)
    assert median_pitch([out.samples], out.sample_rate) < 110
    with pytest.raises(BackendError, match="Add recordings"):
        BasicVoiceMatch(settings).convert(spoken, Voice(name="empty"))
    with pytest.raises(BackendError, match="too short"):
        BasicVoiceMatch(settings).convert(Audio(np.zeros(100, np.float32), 16000), low)


def test_label_is_honest(settings):
    assert "not a clone" in BasicVoiceMatch(settings).label
