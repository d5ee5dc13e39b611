"""Before training: what the recordings hold, how long to train (presets), and how long it will
take on this computer (a few real steps timed, then extrapolated).

Epochs follow what RVC users report: about 50 for 10 minutes of clear speech, about 10 for 30
minutes (fewer minutes need more passes over them). The balanced curve goes through both points,
``epochs = 50 * (10 / minutes) ** 1.465``; "quick" is 0.4 of it (about 20 at 10 minutes) and
"best" twice it. Nothing here imports torch at module level.
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from studio.train_voice import TrainingRefused
from studio.train_voice.dataset import MIN_SPEECH_S, Survey, survey

CURVE_EPOCHS, CURVE_MINUTES, CURVE_POWER = 50.0, 10.0, math.log(5) / math.log(3)  # 10 min -> 50, 30 -> 10
# RVC users report about 6 minutes per epoch for 15 minutes of speech on an RTX 3080: a GPU figure
# the studio cannot measure on a CPU-only computer, so it is shown as an estimate from that report.
FIELD_GPU_S_PER_SPEECH_MINUTE_EPOCH = 6 * 60 / 15
TIMED_STEPS = 3  # the first is a warm-up; the others are timed
ESTIMATE_BUDGET_S = 20.0  # stop timing once the steps took this long (a full model on a slow CPU)


@dataclass(frozen=True)
class Preset:
    key: str
    factor: float = 1.0  # times the balanced epoch curve
    min_epochs: int = 5
    max_epochs: int = 500
    sample_rate: int = 40000
    batch_size: int = 4
    config: tuple | None = None  # None: the published v2 config for the sample rate
    d_shrink: int = 1
    epochs: int | None = None  # fixed, whatever the minutes (tests)
    sample_every: int | None = None  # epochs between samples; None: about 8 samples per training
    min_speech_s: float = MIN_SPEECH_S


PRESETS: dict[str, Preset] = {
    "quick": Preset("quick", factor=0.4, max_epochs=200),
    "balanced": Preset("balanced", factor=1.0, max_epochs=500),
    "best": Preset("best", factor=2.0, max_epochs=1000),
}
DEFAULT_PRESET = "balanced"


def preset(key: str) -> Preset:
    if key not in PRESETS:
        raise TrainingRefused("voice_train_ui.unknown_preset", name=str(key)[:40])
    return PRESETS[key]


def epochs_for(p: Preset, speech_minutes: float) -> int:
    if p.epochs is not None:
        return p.epochs
    minutes = max(speech_minutes, 0.5)
    raw = CURVE_EPOCHS * (CURVE_MINUTES / minutes) ** CURVE_POWER * p.factor
    epochs = int(min(p.max_epochs, max(p.min_epochs, raw)))
    return epochs if epochs < 20 else int(round(epochs / 5) * 5)


def sample_every_for(p: Preset, epochs: int) -> int:
    return p.sample_every if p.sample_every is not None else max(1, round(epochs / 8))


def device_for(settings) -> tuple[str, str]:
    """(device, precision) for training: a CUDA GPU when the one placement rule picks it."""
    from studio.backends.torch_device import choose_placement

    placement = choose_placement(getattr(settings, "device", "auto"))
    if placement.device.startswith("cuda"):
        import torch
        return "cuda", "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "cpu", "fp32"  # mps lacks ops the discriminators use: train on the CPU there


def resolve_pretrained(source: str, settings) -> str:
    """A pretrained base as a local file: a path (local mode only), or ``owner/name/path/in/repo.pth``
    on the Hugging Face hub, found through the studio's model-source check (offline: cache only)."""
    source = (source or "").strip()
    if not source:
        return ""
    # "owner/name/file.pth" names a file in a hub repo; a path starts with / . ~ or exists here
    if source.startswith(("/", ".", "~")) or Path(source).expanduser().exists():
        if getattr(settings, "mode", "local") != "local":
            raise TrainingRefused("voice_train_ui.pretrained_path_public")
        return str(Path(source).expanduser())
    parts = source.split("/")
    if len(parts) < 3 or not source.endswith(".pth"):
        raise TrainingRefused("voice_train_ui.pretrained_bad_source", source=source[:200])
    repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
    import os

    from huggingface_hub import hf_hub_download
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    try:
        return hf_hub_download(repo, filename, local_files_only=offline)
    except Exception:  # noqa: BLE001 - not found, offline, network: one clear refusal
        raise TrainingRefused("voice_train_ui.pretrained_not_found", source=source[:200]) from None


def pitch_method_reason(method: str, settings) -> str | None:
    """Why this pitch method cannot prepare the recordings here, or None. FCPE counts as there
    only when torchfcpe really imports (with the studio's resampler in place of torchaudio's)."""
    from studio.backends.rvc.pipeline import crepe_missing_reason
    from studio.backends.rvc.rmvpe import rmvpe_missing_reason

    if method == "crepe":
        return crepe_missing_reason()
    if method == "rmvpe":
        return rmvpe_missing_reason(settings.rmvpe_model)
    if method == "fcpe":
        from studio.backends.rvc.fcpe import fcpe_missing_reason
        return fcpe_missing_reason()
    return None  # pm and harvest are weightless and always installed


def pitch_methods(settings) -> dict[str, str | None]:
    """Every pitch method the studio knows, with why it is missing (None: usable)."""
    from studio.narrate import F0_METHODS

    return {method: pitch_method_reason(method, settings) for method in F0_METHODS}


def check_pitch_method(method: str, settings) -> str:
    from studio.narrate import F0_METHODS

    if method not in F0_METHODS:
        raise TrainingRefused("train_voice.unknown_f0_method", name=str(method)[:40], methods=", ".join(F0_METHODS))
    if reason := pitch_method_reason(method, settings):
        raise TrainingRefused("train_voice.f0_unavailable", method=method, reason=reason)
    return method


def build_request(settings, p: Preset, found: Survey, pretrained_g: str = "", pretrained_d: str = "",
                  f0_method: str = "pm"):
    """The training request for a preset, the measured minutes of speech and a pitch method."""
    from studio.train_voice.flow import TrainRequest
    from studio.train_voice.trainer import TrainOptions

    epochs = epochs_for(p, found.speech_s / 60)
    slices = len(found.slices)
    n_val = max(1, slices // 10) if slices >= 4 else 0
    steps_per_epoch = max(1, math.ceil((slices - n_val) / p.batch_size))
    device, precision = device_for(settings)
    options = TrainOptions(epochs=epochs, batch_size=p.batch_size, save_every=steps_per_epoch,
                           sample_every=sample_every_for(p, epochs), d_shrink=p.d_shrink, device=device,
                           precision=precision, pretrained_g=resolve_pretrained(pretrained_g, settings),
                           pretrained_d=resolve_pretrained(pretrained_d, settings))
    return TrainRequest(sample_rate=p.sample_rate, f0_method=check_pitch_method(f0_method, settings), options=options,
                        config=list(p.config) if p.config else None, min_speech_s=p.min_speech_s)


def survey_voice(services, owner: str, book_id: str, voice_id: str, p: Preset) -> Survey:
    """What the voice's recordings hold; refusals (none, silence, too little) raise."""
    voice = services.store.get(owner, book_id).voice(voice_id)
    media = services.store.media_for(owner)
    recordings = [(r.original_name or r.id, media.existing_path(r.audio)) for r in voice.recordings if r.audio]
    return survey(recordings, p.sample_rate, p.min_speech_s)


def require_consent(voice) -> None:
    if voice.consent is None or not voice.consent.complete:
        raise TrainingRefused("train_voice.no_consent", voice=voice.name)


@dataclass
class Estimate:
    device: str  # where the steps were timed: "cpu" or "cuda"
    seconds_per_step: float
    total_steps: int
    epochs: int
    features_s: float  # preparing the slices not prepared yet
    total_s: float
    gpu_s: float | None  # from the field figure, when timed on a CPU with a published config


def estimate(services, owner: str, book_id: str, voice_id: str, p: Preset, pretrained_g: str = "",
             pretrained_d: str = "", cancel=None, f0_method: str = "pm") -> Estimate:
    """Run ``TIMED_STEPS`` real steps of the chosen config on a few slices and extrapolate.
    Features of those slices land in the voice's feature cache, so the training reuses them."""
    from studio.backends.rvc import RvcConverter
    from studio.train_voice.dataset import extract, extractor_identity
    from studio.train_voice.flow import V2_CONFIGS, feature_cache_dir
    from studio.train_voice.trainer import VoiceTrainer

    voice = services.store.get(owner, book_id).voice(voice_id)
    require_consent(voice)
    found = survey_voice(services, owner, book_id, voice_id, p)
    request = build_request(services.settings, p, found, pretrained_g, pretrained_d, f0_method)
    opts = request.options
    few = replace(found, slices=found.slices[:3 * opts.batch_size + 1], warnings=[])
    settings = services.settings
    features = RvcConverter(settings).features()
    started = time.perf_counter()
    items, stats = extract(few, feature_cache_dir(settings, owner, voice_id), features, extractor_identity(settings.hubert_model),
                           opts.version, request.f0_method, settings.rmvpe_model, cancel)
    per_slice = (time.perf_counter() - started) / max(1, stats["computed"]) if stats["computed"] else 0.0
    config = list(request.config or V2_CONFIGS[request.sample_rate])
    timed = replace(opts, epochs=max(opts.epochs, TIMED_STEPS), sample_every=0, eval_every=0,
                    save_every=10 ** 9, pretrained_g="", pretrained_d="")
    elapsed: list[float] = []
    with tempfile.TemporaryDirectory(prefix="gieok-estimate-") as tmp:
        trainer = VoiceTrainer(items, config, timed, Path(tmp))
        for event in trainer.run(cancel, TIMED_STEPS):
            if event.payload["event"] == "step":
                elapsed.append(event.payload["elapsed_s"])
                if elapsed[-1] > ESTIMATE_BUDGET_S:
                    break  # a slow computer: one step (with its warm-up, so rather over) says enough
    per_step = [b - a for a, b in zip(elapsed, elapsed[1:])] or elapsed[:1]
    seconds_per_step = sorted(per_step)[len(per_step) // 2]
    slices = len(found.slices)
    n_val = max(1, slices // 10) if slices >= 4 else 0
    total_steps = math.ceil((slices - n_val) / opts.batch_size) * opts.epochs
    features_s = per_slice * max(0, slices - len(few.slices))
    gpu_s = None
    if opts.device == "cpu" and request.config is None:
        gpu_s = FIELD_GPU_S_PER_SPEECH_MINUTE_EPOCH * found.speech_s / 60 * opts.epochs + features_s / 10
    return Estimate(opts.device, seconds_per_step, total_steps, opts.epochs, features_s,
                    seconds_per_step * total_steps + features_s, gpu_s)
