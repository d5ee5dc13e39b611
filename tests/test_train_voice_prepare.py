"""Preparing a voice's recordings: FCPE pitch (torchfcpe with the studio's resampler), music and
several-speaker warnings in the survey, and the feature cache kept per family and per voice."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from studio import audio as audiolib
from studio.book import Recording
from studio.config import Settings
from studio.narrate import create_voice, delete_voice
from studio.train_voice.content_check import beat, held_note_share, music_reasons, pitch_track, several_speakers
from studio.train_voice.dataset import survey
from studio.train_voice.flow import TrainRequest, feature_cache_dir, train_voice
from tiny_voice import make_hubert, speech_like
from tiny_voice_train import CONSENT, TINY_TRAIN_CONFIG, speechy

SR = 16000


def glide(seconds: float = 2.0, silence_s: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """A harmonic tone gliding 220 -> 440 Hz (one octave per ``seconds``), then silence; and the
    true pitch at each 10 ms frame centre (0 in the silence)."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(220 * 2 ** (t / seconds)) / SR
    x = np.concatenate([0.5 * np.sin(phase) + 0.2 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase),
                        np.zeros(int(silence_s * SR))]).astype(np.float32)
    centres = np.arange(len(x) // 160 + 1) * 160
    truth = np.where(centres < len(t), 220 * 2 ** (centres / SR / seconds), 0.0)
    return x, truth


def chord_and_drums(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """An A major chord held under drum clicks on every half second (120 beats a minute)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = sum(0.1 * np.sin(2 * np.pi * k * 440 * 2 ** ((m - 69) / 12) * t) / k for m in (57, 61, 64) for k in range(1, 6))
    click = int(0.03 * sr)
    for start in np.arange(0, seconds - 0.05, 0.5):
        i = int(start * sr)
        x[i:i + click] += 0.6 * rng.standard_normal(click) * np.exp(-np.arange(click) / (0.005 * sr))
    return x.astype(np.float32)


# -- FCPE -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fcpe():
    from studio.backends.rvc import fcpe as module
    if module.fcpe_missing_reason():
        pytest.skip(f"torchfcpe not usable here: {module.fcpe_missing_reason()}")
    return module


def test_fcpe_tracks_a_glide_to_a_few_cents_and_silence_is_unvoiced(fcpe):
    from studio.backends.rvc.pipeline import extract_f0
    x, truth = glide()
    f0 = extract_f0(x.astype(np.float64), len(truth), "fcpe", device="cpu")  # the shared pitch entry point
    assert f0.shape == truth.shape
    inner = (truth > 0) & (np.arange(len(truth)) > 5) & (np.arange(len(truth)) < 195)  # not the edges
    tracked = inner & (f0 > 0)
    assert tracked.sum() > 0.9 * inner.sum()
    cents = 1200 * np.abs(np.log2(f0[tracked] / truth[tracked]))
    assert np.median(cents) < 10, np.median(cents)
    silence = np.arange(len(truth)) * 160 > 2.1 * SR
    assert np.all(f0[silence] == 0)


def test_fcpe_uses_the_studios_resampler_and_leaves_no_torchaudio_behind(fcpe):
    import torch
    from torchfcpe import mel_extractor
    real = sys.modules.get("torchaudio")  # the stand-in (a module without a file) is gone after loading
    assert real is None or getattr(real, "__file__", None)
    assert mel_extractor.Resample is fcpe.polyphase_resampler()
    x, truth = glide()
    x48 = audiolib.resample(x, SR, 48000)  # the model then resamples to its 16 kHz with our resampler
    model = fcpe._model("cpu")
    with torch.inference_mode():
        f0 = model.infer(torch.from_numpy(x48)[None, :, None], sr=48000, threshold=fcpe.THRESHOLD)[0, :, 0].numpy()
    aligned = f0[:len(truth)]  # frames of the model's 16 kHz, whatever the input rate
    tracked = (truth > 0) & (aligned > 50) & (np.arange(len(aligned)) > 5) & (np.arange(len(aligned)) < 195)
    assert np.median(1200 * np.abs(np.log2(aligned[tracked] / truth[tracked]))) < 15
    resampled = fcpe.polyphase_resampler()(48000, 16000)(torch.from_numpy(x48)[None])
    np.testing.assert_allclose(resampled[0].numpy(), audiolib.resample(x48, 48000, 16000), atol=1e-6)


def test_fcpe_missing_says_why_and_training_refuses_it(monkeypatch):
    from studio.backends.rvc import fcpe as module
    from studio.train_voice import TrainingRefused
    from studio.train_voice.plan import check_pitch_method, pitch_methods
    module._module.cache_clear()
    module._model.cache_clear()
    for name in [n for n in sys.modules if n == "torchfcpe" or n.startswith(("torchfcpe.", "local_attention"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "local_attention", None)  # as if the package were not installed
    try:
        reason = module.fcpe_missing_reason()
        assert reason and "local_attention" in reason
        settings = Settings(rmvpe_model="")
        assert pitch_methods(settings)["fcpe"] == reason and pitch_methods(settings)["pm"] is None
        with pytest.raises(TrainingRefused) as info:
            check_pitch_method("fcpe", settings)
        assert info.value.key == "train_voice.f0_unavailable" and "local_attention" in str(info.value)
        with pytest.raises(TrainingRefused) as info:
            check_pitch_method("yin", settings)
        assert info.value.key == "train_voice.unknown_f0_method"
    finally:
        module._module.cache_clear()  # the next caller imports the real package again
        module._model.cache_clear()


# -- music and several speakers -------------------------------------------------------------------
def test_music_signs_are_found_in_a_chord_with_drums_and_not_in_speech():
    music = chord_and_drums(12)
    assert music_reasons(music) == ["train_voice.music_held_notes", "train_voice.music_beat"]
    for speech in (audiolib.resample(speechy(12, seed=s), audiolib.WORK_SR, SR) for s in (0, 3)):
        assert music_reasons(speech) == []
        assert held_note_share(pitch_track(speech)) < 0.1 and beat(speech)[0] < 0.3
    assert music_reasons(speech_like(12, SR, f0=120)) == []


def test_the_survey_warns_about_music_with_each_recordings_reasons_and_still_accepts(tmp_path):
    speech, music = tmp_path / "talk.wav", tmp_path / "party.wav"
    speech.write_bytes(audiolib.wav_bytes(speechy(20.0), audiolib.WORK_SR))
    music.write_bytes(audiolib.wav_bytes(chord_and_drums(10.0, audiolib.WORK_SR), audiolib.WORK_SR))
    found = survey([("talk.wav", speech), ("party.wav", music)], 40000, min_speech_s=5)
    assert ("train_voice.warn_music", {"count": 1}) in found.warnings
    assert found.summary()["music"] == {"party.wav": ["train_voice.music_held_notes", "train_voice.music_beat"]}
    plain = survey([("talk.wav", speech)], 40000, min_speech_s=5)
    assert plain.music == [] and "train_voice.warn_music" not in dict(plain.warnings)


def test_two_voices_an_octave_apart_are_noticed_and_one_voice_is_not(tmp_path):
    assert several_speakers([200, 205, 190, 210, 198, 100, 104, 97, 102])
    assert not several_speakers([200, 205, 190, 210, 198, 185, 220, 195, 202])
    assert not several_speakers([200, 205, 190, 210, 198, 195, 100])  # one odd slice is not a second person
    grandma, grandpa = tmp_path / "grandma.wav", tmp_path / "grandpa.wav"
    grandma.write_bytes(audiolib.wav_bytes(speechy(15.0), audiolib.WORK_SR))
    grandpa.write_bytes(audiolib.wav_bytes(speech_like(15.0, audiolib.WORK_SR, f0=95), audiolib.WORK_SR))
    both = survey([("grandma.wav", grandma), ("grandpa.wav", grandpa)], 40000, min_speech_s=5)
    assert ("train_voice.warn_several_speakers", {}) in both.warnings
    alone = survey([("grandma.wav", grandma)], 40000, min_speech_s=5)
    assert ("train_voice.warn_several_speakers", {}) not in alone.warnings


# -- the feature cache belongs to one family's voice ---------------------------------------------
def _features_event(services, owner, book_id, voice_id) -> dict:
    request = TrainRequest(config=TINY_TRAIN_CONFIG, min_speech_s=5)
    events = train_voice(services, owner, book_id, voice_id, request)
    try:
        for event in events:
            if event.payload["event"] == "features":
                return event.payload
    finally:
        events.close()  # no training needed: the features are what this test is about
    raise AssertionError("no features event")


def _voice(services, owner, clip):
    book = services.store.create(owner, "Grandma's book")
    voice = create_voice(services, owner, book.id, "Grandma")
    ref = services.store.media_for(owner).put_bytes(audiolib.wav_bytes(clip, audiolib.WORK_SR), "wav")

    def change(b):
        b.voice(voice.id).recordings = [Recording(audio=ref, original_name="grandma.wav")]
        b.voice(voice.id).consent = CONSENT

    services.store.update(owner, book.id, change)
    return book.id, voice.id


def test_features_are_cached_per_family_read_again_and_deleted_with_the_voice_or_family(tmp_path):
    from studio.owners import owner_folder
    from studio.services import build_services
    settings = Settings(data_dir=tmp_path / "data", mode="local", hubert_model=str(make_hubert(tmp_path / "hubert")))
    services = build_services(settings)
    clip = speechy(12.0)
    book_a, voice_a = _voice(services, "anon:a", clip)
    book_b, voice_b = _voice(services, "anon:b", clip)  # the same recording, another visitor
    first = _features_event(services, "anon:a", book_a, voice_a)
    assert first["computed"] > 0 and first["cached"] == 0
    cache_a = feature_cache_dir(settings, "anon:a", voice_a)
    assert cache_a.is_relative_to(owner_folder(settings.data_dir, "anon:a")) and any(cache_a.rglob("*.npz"))
    assert not (tmp_path / "data" / "cache" / "voice_features").exists()  # nothing shared
    again = _features_event(services, "anon:a", book_a, voice_a)
    assert again["computed"] == 0 and again["cached"] == first["computed"]  # a second run reads them
    other = _features_event(services, "anon:b", book_b, voice_b)
    assert other["computed"] == first["computed"] and other["cached"] == 0  # never another family's
    delete_voice(services, "anon:a", book_a, voice_a)
    assert not cache_a.exists()
    cache_b = feature_cache_dir(settings, "anon:b", voice_b)
    assert cache_b.exists() and services.store.delete_owner("anon:b")
    assert not cache_b.exists()
    services.close()


def test_a_training_request_carries_the_chosen_pitch_method(tmp_path):
    from studio.train_voice.plan import PRESETS, build_request
    wav = tmp_path / "talk.wav"
    wav.write_bytes(audiolib.wav_bytes(speechy(8.0), audiolib.WORK_SR))
    found = survey([("talk.wav", wav)], 40000, min_speech_s=5)
    settings = Settings(data_dir=tmp_path / "data")
    assert build_request(settings, PRESETS["quick"], found, f0_method="harvest").f0_method == "harvest"
    assert build_request(settings, PRESETS["quick"], found).f0_method == "pm"
