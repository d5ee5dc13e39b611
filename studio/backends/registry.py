"""Backend names -> "module:Class" strings. Nothing heavy is imported until a backend is used.

Order matters: with the setting "auto", the first *available* backend of a kind is active, so
real models come first and the offline one last (it is always available).
"""
from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from studio.backends.base import Availability, BackendError
from studio.config import Settings

log = logging.getLogger(__name__)

KINDS: dict[str, dict[str, str]] = {
    "writer": {
        "gemini": "studio.backends.gemini:GeminiWriter",
        "openai": "studio.backends.openai_compat:OpenAICompatWriter",
        "hf": "studio.backends.remote.hf_inference:HFWriter",
        "storyteller": "studio.backends.storyteller:OfflineStoryteller",
    },
    "illustrator": {
        "diffusers": "studio.backends.diffusers_sd:DiffusersIllustrator",
        "a1111": "studio.backends.remote.a1111:A1111Illustrator",
        "comfyui": "studio.backends.remote.comfyui:ComfyUIIllustrator",
        "hf": "studio.backends.remote.hf_inference:HFIllustrator",
        "sketch": "studio.backends.sketch:SketchIllustrator",
    },
    "pose_detector": {
        "vitpose": "studio.backends.pose_transformers:VitPoseDetector",
        "controlnet_aux": "studio.backends.controlnet_aux_maps:OpenposeAuxDetector",
        "mediapipe": "studio.backends.pose_mediapipe:MediaPipePoseDetector",  # bundled model, offline
    },
    "depth_estimator": {
        "transformers_depth": "studio.backends.depth_transformers:TransformersDepth",
        "controlnet_aux": "studio.backends.controlnet_aux_maps:DepthAuxEstimator",
    },
    "speaker": {
        "xtts": "studio.backends.tts_xtts:XttsSpeaker",
        "vits": "studio.backends.tts_vits:VitsSpeaker",
        "hf": "studio.backends.remote.hf_inference:HFSpeaker",
        "piper": "studio.backends.tts_piper:PiperSpeaker",  # English; eSpeak NG reads Korean
        "espeak": "studio.backends.tts_espeak:EspeakSpeaker",
    },
    "converter": {
        "rvc": "studio.backends.rvc:RvcConverter",
        "voice_match": "studio.backends.voice_match:BasicVoiceMatch",
    },
}

KIND_LABELS = {
    "writer": "Story writer",
    "illustrator": "Illustrator",
    "pose_detector": "Pose from photo",
    "depth_estimator": "Depth from photo",
    "speaker": "Speech",
    "converter": "Voice conversion",
}


@dataclass
class BackendStatus:
    kind: str
    name: str
    label: str
    active: bool
    availability: Availability


class Backends:
    """Creates backends on first use, one instance per name, and picks the active one."""

    def __init__(self, settings: Settings, kinds: dict[str, dict[str, str]] | None = None):
        self.settings = settings
        self.kinds = kinds or KINDS
        self._instances: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, kind: str, name: str) -> Any:
        try:
            target = self.kinds[kind][name]
        except KeyError:
            raise BackendError("error.no_such_engine", kind=KIND_LABELS.get(kind, kind), name=str(name)[:60]) from None
        with self._lock:
            key = (kind, name)
            if key not in self._instances:
                self._instances[key] = _load_class(target)(self.settings)
            return self._instances[key]

    def active(self, kind: str) -> Any:
        """The chosen backend (setting) or, on "auto", the first available one."""
        choice = getattr(self.settings, kind, "auto") or "auto"
        if choice != "auto":
            backend = self.get(kind, choice)
            status = backend.available()
            if not status.ok:
                raise BackendError("avail.engine_not_available", engine=backend.label, reason=status)
            return backend
        for name in self.kinds[kind]:
            try:
                backend = self.get(kind, name)
            except Exception as exc:  # a broken optional module must not take the app down
                log.warning("backend %s/%s failed to load: %s", kind, name, exc)
                continue
            if backend.available().ok:
                return backend
        raise BackendError("avail.no_engine", kind=f"kind.{kind}")

    def active_or_none(self, kind: str) -> Any | None:
        try:
            return self.active(kind)
        except BackendError:
            return None

    def statuses(self) -> list[BackendStatus]:
        rows = []
        for kind, names in self.kinds.items():
            active = self.active_or_none(kind)
            for name in names:
                try:
                    backend = self.get(kind, name)
                    avail, label = backend.available(), backend.label
                except Exception as exc:
                    avail, label = Availability.no("avail.could_not_load", detail=str(exc)), name
                rows.append(BackendStatus(kind, name, label, active is not None and active.name == name, avail))
        return rows


def _load_class(target: str) -> type:
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise BackendError("avail.could_not_load", detail=f"{target}: {exc}") from exc
    return getattr(module, class_name)
