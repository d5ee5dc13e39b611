"""Train a Voice of a book: consent check, dataset, training job, export, and the result set as
the voice's RVC model. Every refusal happens before anything is written."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from studio.backends.base import CancelToken
from studio.jobs import Progress
from studio.train_voice import TrainingRefused
from studio.train_voice.dataset import MIN_SPEECH_S, extract, extractor_identity, survey
from studio.train_voice.trainer import TrainOptions, VoiceTrainer

# The published RVC v2 configs (the 18-entry list every .pth carries), by sample rate
V2_CONFIGS = {
    32000: [513, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3, [10, 8, 2, 2],
            512, [20, 16, 4, 4], 109, 256, 32000],
    40000: [1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3, [10, 10, 2, 2],
            512, [16, 16, 4, 4], 109, 256, 40000],
    48000: [1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3, [12, 10, 2, 2],
            512, [24, 20, 4, 4], 109, 256, 48000],
}


@dataclass
class TrainRequest:
    sample_rate: int = 40000
    f0_method: str = "pm"
    options: TrainOptions = field(default_factory=TrainOptions)
    config: list | None = None  # None: the published v2 config for the sample rate
    min_speech_s: float = MIN_SPEECH_S
    max_steps: int | None = None  # stop (with a checkpoint) after this many steps in this run


def voice_dir(settings, owner: str, voice_id: str) -> Path:
    """Per-voice training folder inside the owner's own folder, so forgetting a family (deleting
    an owner, an anonymous visitor expiring, a kiosk visitor leaving) takes her training with it."""
    from studio.owners import owner_folder

    return owner_folder(settings.data_dir, owner) / "train_voice" / voice_id


def feature_cache_dir(settings, owner: str, voice_id: str) -> Path:
    """The voice's prepared slices (pitch and HuBERT features, by content): inside her training
    folder, so they go when the voice or the family is forgotten, and no other visitor of a
    shared studio ever reads them. A second training of the same voice reads them back."""
    return voice_dir(settings, owner, voice_id) / "features"


def train_voice(services, owner: str, book_id: str, voice_id: str, request: TrainRequest,
                cancel: CancelToken | None = None, sample_fn: Callable | None = None) -> Iterator[Progress]:
    from studio.backends.rvc import RvcConverter

    voice = services.store.get(owner, book_id).voice(voice_id)
    if voice.consent is None or not voice.consent.complete:
        raise TrainingRefused("train_voice.no_consent", voice=voice.name)
    recordings = [(r.original_name or r.id, services.store.media_for(owner).path(r.audio)) for r in voice.recordings if r.audio]
    found = survey(recordings, request.sample_rate, request.min_speech_s)
    yield Progress(0, 1, "train_voice.surveyed", {"event": "survey", "summary": found.summary(),
                                                  "warnings": list(found.warnings)})
    settings = services.settings
    features = RvcConverter(settings).features()  # the studio's one HuBERT source check and loader
    items, stats = extract(found, feature_cache_dir(settings, owner, voice_id), features, extractor_identity(settings.hubert_model),
                           request.options.version, request.f0_method, settings.rmvpe_model, cancel)
    yield Progress(0, 1, "train_voice.features_ready", {"event": "features", **stats,
                                                        "warnings": list(found.warnings)})
    config = list(request.config or V2_CONFIGS[request.sample_rate])
    workdir = voice_dir(settings, owner, voice_id)
    trainer = VoiceTrainer(items, config, request.options, workdir, sample_fn)
    finished = False
    for event in trainer.run(cancel, request.max_steps):
        finished = event.payload.get("event") == "done"
        yield event
    if finished:
        yield _publish(services, owner, book_id, voice_id, trainer, items, config)


def _publish(services, owner: str, book_id: str, voice_id: str, trainer: VoiceTrainer, items, config) -> Progress:
    """Write the .pth and .index into the media store and make them the voice's model."""
    from studio.train_voice.export import build_index, export_pth

    voice = services.store.get(owner, book_id).voice(voice_id)
    workdir = trainer.workdir
    opts = trainer.options
    pth = export_pth(trainer.net_g, config, workdir / "model.pth", version=opts.version, use_f0=opts.use_f0,
                     epoch=opts.epochs, step=trainer.step, voice_name=voice.name, consent=voice.consent)
    index = build_index(items, workdir / "model.index")
    media = services.store.media_for(owner)
    refs = {"pth": media.put_file(pth, "pth"), "index": media.put_file(index, "index")}

    def change(book) -> None:
        v = book.voice(voice_id)
        v.model_files = dict(refs)
        v.converter = "rvc"
        v.profile = {**v.profile, "rvc": {"version": opts.version, "sample_rate": int(config[-1]),
                                          "f0": opts.use_f0, "info": f"{opts.epochs} epochs, trained here"}}

    services.store.update(owner, book_id, change)
    return Progress(trainer.total_steps, trainer.total_steps, "train_voice.published",
                    {"event": "published", "pth": str(pth), "index": str(index), **refs})
