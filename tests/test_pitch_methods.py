"""Pitch for RVC: pm and harvest always; CREPE through the optional torchcrepe when installed."""
from __future__ import annotations

import importlib.machinery
import sys
import types

import numpy as np
import pytest

from studio import narrate
from studio.backends.base import BackendError
from studio.backends.rvc import pipeline


def _tone(seconds=1.0, f0=220.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


@pytest.mark.parametrize("method", ["pm", "harvest"])
def test_weightless_methods_find_the_pitch_of_a_voice(method):
    from tiny_voice import speech_like  # harmonics + vibrato, like a voice (WORLD ignores pure sines)

    x = speech_like(1.0, 16000, 180.0)
    frames = len(x) // pipeline.HOP
    f0 = pipeline.extract_f0(x, frames, method)
    assert len(f0) == frames and (f0 > 0).mean() > 0.8
    assert abs(np.median(f0[f0 > 0]) - 180.0) < 15.0


@pytest.fixture
def fake_torchcrepe(monkeypatch):
    """Stands in for torchcrepe (which needs torchaudio, absent here): records how it is called
    and answers 220 Hz with periodicity low on the second half, as unvoiced speech would."""
    import torch

    calls = {}
    module = types.ModuleType("torchcrepe")
    module.__spec__ = importlib.machinery.ModuleSpec("torchcrepe", loader=None)

    def predict(audio, sr, hop, fmin, fmax, model, batch_size, device, return_periodicity):
        calls.update(sr=sr, hop=hop, shape=tuple(audio.shape), model=model)
        n = audio.shape[-1] // hop + 1
        periodicity = torch.ones(1, n)
        periodicity[:, n // 2:] = 0.01
        return torch.full((1, n), 220.0), periodicity

    module.predict = predict
    monkeypatch.setitem(sys.modules, "torchcrepe", module)
    monkeypatch.setattr(pipeline, "crepe_missing_reason", lambda: None)
    return calls


def test_crepe_is_used_through_torchcrepe_when_installed(fake_torchcrepe):
    x = _tone()
    frames = len(x) // pipeline.HOP
    f0 = pipeline.extract_f0(x, frames, "crepe")
    assert fake_torchcrepe == {"sr": 16000, "hop": 160, "shape": (1, len(x)), "model": "full"}
    assert len(f0) == frames
    assert np.all(f0[: frames // 2 - 1] == 220.0) and np.all(f0[frames // 2 + 1:] == 0.0)


def test_crepe_without_torchcrepe_says_what_to_do(monkeypatch):
    monkeypatch.setattr(pipeline, "crepe_missing_reason", lambda: "torchcrepe is not installed")
    monkeypatch.setattr(narrate, "crepe_missing_reason", lambda: "torchcrepe is not installed")
    with pytest.raises(BackendError, match="Use pm or harvest"):
        pipeline.extract_f0(_tone(), 100, "crepe")


def test_choosing_crepe_is_refused_up_front_when_absent(services, monkeypatch):
    monkeypatch.setattr(narrate, "crepe_missing_reason", lambda: "torchcrepe is not installed")
    book = services.store.create("fam", "t")
    voice = narrate.create_voice(services, "fam", book.id, "v", "ko")
    with pytest.raises(ValueError, match="'crepe' is not available"):
        narrate.set_pipeline(services, "fam", book.id, voice.id, "espeak", "rvc", {"f0_method": "crepe"})
    narrate.set_pipeline(services, "fam", book.id, voice.id, "espeak", "rvc", {"f0_method": "harvest"})
    assert services.store.get("fam", book.id).voice(voice.id).conversion["f0_method"] == "harvest"
