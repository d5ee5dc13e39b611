"""Bad audio is refused from its header (before any full decode) and nothing is stored;
good audio is normalised, trimmed and sliced into 3-10 s clips with a measured pitch."""
from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
import soundfile as sf

from studio import audio as audiolib
from studio import narrate
from tiny_voice import speech_like


def _no_decode(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("decoded a file that the header check should have refused")
    monkeypatch.setattr(audiolib, "decode", fail)


def _wav(path, seconds, sr=24000, f0=200.0, seed=0):
    sf.write(path, speech_like(seconds, sr, f0, seed), sr)
    return path


def test_zero_bytes_text_and_corrupt_mp3_refused_before_decode(tmp_path, monkeypatch):
    _no_decode(monkeypatch)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("할머니 목소리 녹음입니다. this is text, not audio\n" * 20)
    bad_mp3 = tmp_path / "broken.mp3"
    bad_mp3.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + np.random.default_rng(0).bytes(3000))
    bad_wav = tmp_path / "cut.wav"
    bad_wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 8)
    low = tmp_path / "low.wav"
    sf.write(low, speech_like(4.0, 4000), 4000)
    cases = [(low, "4000 Hz"), (empty, "empty"), (text, "not an audio file"), (bad_mp3, "damaged"), (bad_wav, "damaged")]
    for path, words in cases:
        with pytest.raises(audiolib.AudioInputError, match=words):
            audiolib.prepare_recording(path)


def test_two_hour_file_refused_from_its_header_quickly(tmp_path, monkeypatch):
    long = tmp_path / "two_hours.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "7200",
                    "-c:a", "flac", str(long)], check=True, timeout=60)
    _no_decode(monkeypatch)
    start = time.perf_counter()
    with pytest.raises(audiolib.AudioInputError, match=r"2:00:00.*at most 10 minutes"):
        audiolib.prepare_recording(long, "two_hours.flac")
    assert time.perf_counter() - start < 2.0
    mp3 = tmp_path / "eleven.mp3"  # an MP3's duration comes from ffmpeg's header read
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "660",
                    "-c:a", "libmp3lame", "-b:a", "8k", str(mp3)], check=True, timeout=60)
    with pytest.raises(audiolib.AudioInputError, match="0:11:00"):
        audiolib.prepare_recording(mp3)


def test_silence_only_is_refused(tmp_path):
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(24000 * 8, dtype=np.float32), 24000)
    with pytest.raises(audiolib.AudioInputError, match="silent"):
        audiolib.prepare_recording(quiet)
    short = tmp_path / "short.wav"  # sound, but never 3 s of speech in a row
    sf.write(short, np.concatenate([speech_like(1.0, 24000), np.zeros(24000 * 2, np.float32)] * 3), 24000)
    with pytest.raises(audiolib.AudioInputError, match="too short"):
        audiolib.prepare_recording(short)


def test_good_recording_is_normalised_trimmed_and_sliced(tmp_path):
    sr_in = 44100
    speech = np.concatenate([np.zeros(sr_in, np.float32), 0.05 * speech_like(23.0, sr_in, 210.0),
                             np.zeros(int(1.2 * sr_in), np.float32), 0.05 * speech_like(1.0, sr_in, 210.0, 1),
                             np.zeros(sr_in * 2, np.float32)])
    path = tmp_path / "grandma.wav"
    sf.write(path, speech, sr_in)
    prepared = audiolib.prepare_recording(path)
    assert prepared.sample_rate == audiolib.WORK_SR
    lengths = [len(c) / prepared.sample_rate for c in prepared.clips]
    assert all(3.0 <= s <= 10.0 for s in lengths), lengths
    assert 20.0 <= sum(lengths) <= 24.0
    assert any("too short" in r for r in prepared.rejected)  # the 1 s fragment
    assert abs(audiolib.loudness_lufs(prepared.samples, prepared.sample_rate) - audiolib.RECORDING_LUFS) < 1.0
    assert len(prepared.samples) / prepared.sample_rate < 27.0  # leading/trailing silence trimmed
    assert 190 < prepared.median_pitch_hz < 235


def test_mp3_from_a_phone_decodes_through_ffmpeg(tmp_path):
    wav = _wav(tmp_path / "a.wav", 6.0, 22050, 180.0)
    mp3 = tmp_path / "phone.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "libmp3lame", "-b:a", "64k", str(mp3)],
                   check=True, timeout=60)
    prepared = audiolib.prepare_recording(mp3)
    assert 4.5 < prepared.usable_s < 6.5 and prepared.clips


def test_nothing_is_stored_when_one_file_is_bad(services, tmp_path):
    owner = "local"
    book = services.store.create(owner, "감나무")
    voice = narrate.create_voice(services, owner, book.id, "할머니")
    good = _wav(tmp_path / "good.wav", 6.0)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    with pytest.raises(audiolib.AudioInputError):
        narrate.add_recordings(services, owner, book.id, voice.id, [good, bad])
    assert not [p for p in services.store.media_for(owner).root.rglob("*") if p.is_file()]
    assert services.store.get(owner, book.id).voice(voice.id).recordings == []
    stored = narrate.add_recordings(services, owner, book.id, voice.id, [(good, "good.wav")])
    assert len(stored.recordings) == 1 and stored.recordings[0].clips
    assert 190 < stored.profile["median_pitch_hz"] < 215
    more = narrate.add_recordings(services, owner, book.id, voice.id, [_wav(tmp_path / "b.wav", 8.0, f0=260.0)])
    assert len(more.recordings) == 2 and more.profile["clips"] == 2
    assert abs(more.profile["usable_minutes"] * 60 - 14.0) < 1.0
    assert 200 < more.profile["median_pitch_hz"] < 265  # measured over both recordings
