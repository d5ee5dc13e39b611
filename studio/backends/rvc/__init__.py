"""RVC v1/v2 voice conversion implemented in the studio (no rvc-python): it loads the standard
files people already have — a ``.pth`` and an optional faiss ``.index`` — with HuBERT/ContentVec
features from transformers. The model is kept until a different file is asked for."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from studio.backends.base import Audio, Availability, BackendError, missing_packages
from studio.config import Settings


class RvcConverter:
    name = "rvc"
    label = "RVC voice model (.pth + .index)"

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._model_key: tuple[str, float] | None = None
        self._model = None
        self._index_key: tuple[str, float] | None = None
        self._index = None
        self._features = None
        self.loads = 0  # how many times a model file was actually loaded (tests check caching)

    def available(self) -> Availability:
        missing = missing_packages("torch", "transformers", "faiss", "parselmouth")
        if missing:
            return Availability.no("avail.needs_packages", packages=", ".join(missing))
        source = self.settings.hubert_model
        if not source:
            return Availability.no("avail.hubert_unset")
        from studio.backends.model_sources import TRANSFORMERS_MARKERS, check_source
        check = check_source(source, "GIEOK_HUBERT_MODEL", TRANSFORMERS_MARKERS, single_file=False)
        if not check.usable:
            return Availability.no("avail.hubert_problem", problem=Availability.said(False, check.key, **check.values))
        return Availability.yes("avail.rvc_ready")

    # -- cached loading ---------------------------------------------------------------------
    def model(self, path: str | Path):
        from studio.backends.rvc.checkpoint import ModelFileError, load_model
        key = (str(path), Path(path).stat().st_mtime)
        if self._model_key != key:
            try:
                self._model = load_model(path)
            except ModelFileError as exc:
                raise BackendError(exc.key, **exc.values) from None  # keeps the message key
            from studio.backends.torch_device import choose_voice_placement

            self._model.synthesizer.to(*choose_voice_placement(self.settings.device, "rvc"))
            self._model_key = key
            self.loads += 1
        return self._model

    def index(self, path: str | Path | None, feature_dim: int):
        from studio.backends.rvc.checkpoint import ModelFileError, read_index
        if not path:
            return None, None
        key = (str(path), Path(path).stat().st_mtime)
        if self._index_key != key:
            try:
                self._index = read_index(path, feature_dim)
            except ModelFileError as exc:
                raise BackendError(exc.key, **exc.values) from None
            self._index_key = key
        return self._index

    def features(self):
        from studio.backends.rvc.pipeline import FeatureExtractor
        status = self.available()
        if not status.ok:
            raise BackendError("error.voice_model_unavailable", detail=status)
        if self._features is None or self._features.source != self.settings.hubert_model:
            try:
                self._features = FeatureExtractor(self.settings.hubert_model, self.settings.device)
            except (OSError, ValueError) as exc:
                raise BackendError("error.voice_features_load", detail=str(exc)) from exc
        return self._features

    def convert(self, audio: Audio, voice: Any = None, model_path: str | None = None,
                index_path: str | None = None, **options: Any) -> Audio:
        from studio.backends.rvc.pipeline import ConversionOptions, convert

        if not model_path:
            raise BackendError("error.no_voice_model")
        from studio.backends.rvc.rmvpe import default_f0_method

        known = ConversionOptions.__dataclass_fields__
        opts = ConversionOptions(**{k: v for k, v in options.items() if k in known})
        if not options.get("f0_method"):  # nothing chosen: what RVC users expect when RMVPE is there
            opts.f0_method = default_f0_method(self.settings.rmvpe_model)
        opts.filter_radius = int(opts.filter_radius)
        opts.rmvpe_model = self.settings.rmvpe_model  # a file path comes from settings only
        opts.device = self.settings.device
        with self._lock:  # one conversion at a time: the model is shared and CPU-bound
            features = self.features()
            model = self.model(model_path)
            index, vectors = self.index(index_path, model.synthesizer.feature_dim)
            try:
                samples, rate = convert(audio.samples, audio.sample_rate, model, features, opts,
                                        index if opts.index_rate > 0 else None, vectors)
            except ValueError as exc:
                raise BackendError(str(exc)) from exc
        return Audio(samples, rate)
