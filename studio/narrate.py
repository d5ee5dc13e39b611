"""Voices and narration: recordings -> speaker -> conversion -> a WAV take on each page.

Every change goes through ``store.update`` (the book is re-read under the lock), media are stored
only after all checks and work succeeded, and a take's ``duration_s`` is exactly its WAV's length
(exports rely on it). All narration is normalised to the same EBU R128 loudness.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from studio import audio as audiolib
from studio.backends.base import Audio, BackendError, CancelToken
from studio.backends.read_aloud import CHILD_RATE_WPM
from studio.backends.rvc.pipeline import crepe_missing_reason
from studio.backends.rvc.rmvpe import default_f0_method, f0_default_note, rmvpe_missing_reason  # noqa: F401 (tabs)
from studio.book import Book, Consent, NarrationTake, Recording, Voice
from studio.jobs import Progress
from studio.messages import Localized
from studio.narrate_gpu import speak_and_convert

CONVERTERS = ("voice_match", "rvc", "none")
MAX_TAKES = 8
# Praat autocorrelation (fast), WORLD harvest (steadier, slower), CREPE (optional torchcrepe),
# RMVPE (robust, needs rmvpe.pt via GIEOK_RMVPE_MODEL), FCPE (optional torchfcpe, weights inside it)
F0_METHODS = ("pm", "harvest", "crepe", "rmvpe", "fcpe")
PROFILE_CLIPS = 40  # about 5 minutes of clips is plenty to measure a voice
KNOBS = {  # name -> (default, low, high)
    "transpose": (0.0, -24.0, 24.0), "index_rate": (0.5, 0.0, 1.0), "protect": (0.33, 0.0, 0.5),
    "filter_radius": (3, 0, 7), "rms_mix_rate": (0.25, 0.0, 1.0), "strength": (1.0, 0.0, 1.0),
    "rate": (CHILD_RATE_WPM, 80, 450), "pitch": (50, 0, 99),  # words per minute; eSpeak's pitch scale
}


class NarrationError(Localized, ValueError):
    """Something the family can fix (a missing name, consent, text...); the message is a key."""


@dataclass
class Rendering:
    standard: Audio  # the speech backend's voice
    result: Audio  # after conversion and loudness normalisation
    speaker: str
    converter: str
    params: dict[str, Any]


# -- voices -------------------------------------------------------------------------------------
def create_voice(services, owner: str, book_id: str, name: str, language: str = "") -> Voice:
    name = (name or "").strip()[:100]
    if not name:
        raise NarrationError("voice.name_missing")

    def change(book: Book) -> None:
        voice.language = language if language in ("ko", "en") else book.language
        book.voices.append(voice)
        if not book.narration_voice:
            book.narration_voice = voice.id

    voice = Voice(name=name, converter="voice_match")
    services.store.update(owner, book_id, change)
    return voice


def add_recordings(services, owner: str, book_id: str, voice_id: str, files: list) -> Voice:
    """Check and prepare every file first; store nothing unless all of them are usable."""
    if not files:
        raise NarrationError("voice.no_recordings_chosen")
    book = services.store.get(owner, book_id)
    voice = book.voice(voice_id)
    settings = services.settings
    prepared = []
    for item in files:
        path, name = (item if isinstance(item, (tuple, list)) else (item, Path(str(item)).name))
        prepared.append((name, audiolib.prepare_recording(path, name, settings.ffmpeg_binary,
                                                           settings.subprocess_timeout_s)))
    media = services.store.media_for(owner)
    old_refs = [ref for r in voice.recordings for ref in r.clips]
    new_clips = [c for _, p in prepared for c in p.clips]
    usable_s = sum(_seconds(media.path(ref)) for ref in old_refs) + sum(len(c) for c in new_clips) / audiolib.WORK_SR
    # the voice is measured on at most PROFILE_CLIPS clips spread over old and new recordings
    old_pick = old_refs[:: max(1, len(old_refs) // (PROFILE_CLIPS // 2) + 1)]
    sample = [audiolib.read_wav(media.path(ref))[0] for ref in old_pick]
    sample += new_clips[:: max(1, len(new_clips) // (PROFILE_CLIPS - len(sample)) + 1)]
    profile = _profile(sample, audiolib.WORK_SR, usable_s, len(old_refs) + len(new_clips))
    recordings = []
    for name, p in prepared:
        recordings.append(Recording(
            audio=media.put_bytes(audiolib.wav_bytes(p.samples, p.sample_rate), "wav"),
            original_name=str(name)[:200], duration_s=round(len(p.samples) / p.sample_rate, 3),
            sample_rate=p.sample_rate, clips=[media.put_bytes(audiolib.wav_bytes(c, p.sample_rate), "wav")
                                              for c in p.clips],
            rejected=p.rejected))

    def change(b: Book) -> None:
        v = b.voice(voice_id)
        v.recordings.extend(recordings)
        v.profile = profile

    return services.store.update(owner, book_id, change).voice(voice_id)


def _profile(clips: list[np.ndarray], sr: int, usable_s: float, clip_count: int) -> dict[str, Any]:
    from studio.backends.voice_match import measure_profile
    profile = measure_profile(clips, sr)
    profile["usable_minutes"] = round(usable_s / 60.0, 2)
    profile["median_pitch_hz"] = round(audiolib.median_pitch(clips, sr), 1)
    profile["clips"] = clip_count
    return profile


def _seconds(path) -> float:
    import soundfile as sf
    return float(sf.info(str(path)).duration)


def give_consent(services, owner: str, book_id: str, voice_id: str, given_by: str, relation: str,
                 date: str, statement: str) -> Voice:
    consent = Consent(given_by=(given_by or "").strip()[:200], relation=(relation or "").strip()[:100],
                      date=(date or "").strip()[:40], statement=(statement or "").strip()[:2000])
    missing = [label for label, value in (("who gives consent", consent.given_by), ("relation", consent.relation),
                                          ("date", consent.date), ("statement", consent.statement)) if not value]
    if missing:
        raise NarrationError("voice.consent_incomplete", missing=", ".join(missing))

    def change(b: Book) -> None:
        b.voice(voice_id).consent = consent

    return services.store.update(owner, book_id, change).voice(voice_id)


def set_pipeline(services, owner: str, book_id: str, voice_id: str, speaker: str, converter: str,
                 knobs: dict[str, Any] | None = None, use_for_book: bool = True) -> Voice:
    if speaker not in ("", "auto") and speaker not in services.backends.kinds["speaker"]:
        raise NarrationError("voice.unknown_speaker", name=speaker)
    if converter not in CONVERTERS:
        raise NarrationError("voice.unknown_converter", name=converter)
    clean: dict[str, Any] = {}
    for key, value in (knobs or {}).items():
        if key == "f0_method" and value:
            if value not in F0_METHODS:
                raise NarrationError("voice.unknown_f0_method", methods=", ".join(F0_METHODS))
            if value == "crepe" and crepe_missing_reason():
                raise NarrationError("voice.f0_method_unavailable", method="crepe", reason=crepe_missing_reason())
            if value == "rmvpe" and rmvpe_missing_reason(services.settings.rmvpe_model):
                raise NarrationError("voice.f0_method_unavailable", method="rmvpe",
                                     reason=rmvpe_missing_reason(services.settings.rmvpe_model))
            if value == "fcpe":
                from studio.backends.rvc.fcpe import fcpe_missing_reason
                if reason := fcpe_missing_reason():
                    raise NarrationError("voice.f0_method_unavailable", method="fcpe", reason=reason)
            clean[key] = value
        elif key in KNOBS and value is not None:
            default, low, high = KNOBS[key]
            clean[key] = type(default)(min(high, max(low, float(value))))

    def change(b: Book) -> None:
        v = b.voice(voice_id)
        v.speaker, v.converter = ("" if speaker == "auto" else speaker), converter
        v.conversion.update(clean)
        if use_for_book:
            b.narration_voice = voice_id

    return services.store.update(owner, book_id, change).voice(voice_id)


def attach_rvc_model(services, owner: str, book_id: str, voice_id: str, pth_path: str,
                     index_path: str | None = None) -> Voice:
    """Validate the model (safe loader, layout) and its index before storing either."""
    from studio.backends.rvc.checkpoint import ModelFileError, load_model, read_index
    if not pth_path:
        raise NarrationError("voice.rvc_file_missing")
    try:
        model = load_model(pth_path)
        if index_path:
            read_index(index_path, model.synthesizer.feature_dim)
    except ModelFileError as exc:
        raise BackendError(exc.key, **exc.values) from None
    files = {"pth": services.store.media_for(owner).put_file(pth_path, "pth")}
    if index_path:
        files["index"] = services.store.media_for(owner).put_file(index_path, "index")

    def change(b: Book) -> None:
        v = b.voice(voice_id)
        v.model_files = files
        v.converter = "rvc"
        v.profile = {**v.profile, "rvc": {"version": model.version, "sample_rate": model.sample_rate,
                                          "f0": model.use_f0, "info": model.info[:200]}}

    return services.store.update(owner, book_id, change).voice(voice_id)


class _RecordingsChanged(Exception):
    """Someone changed the voice's recordings while its profile was being measured."""


def remove_recording(services, owner: str, book_id: str, voice_id: str, recording_id: str) -> Voice:
    """Drop one recording, re-measure the voice from the rest (with none left the profile is
    cleared, so basic voice match asks for recordings again) and delete its files now unless
    another book still uses them. Measuring happens outside the store lock, so it is redone
    if the recordings changed meanwhile."""
    for _ in range(3):
        voice = services.store.get(owner, book_id).voice(voice_id)
        gone = next((r for r in voice.recordings if r.id == recording_id), None)
        if gone is None:
            raise NarrationError("voice.recording_gone")
        measured_from = [r.id for r in voice.recordings]
        profile = _measured_profile(services.store.media_for(owner), [r for r in voice.recordings if r is not gone])
        try:
            updated = services.store.update(owner, book_id, _dropping(voice_id, gone.id, measured_from, profile))
        except _RecordingsChanged:
            continue
        services.store.delete_media_if_unreferenced(owner, [gone.audio, *gone.clips])
        return updated.voice(voice_id)
    raise NarrationError("voice.recordings_busy")


def _dropping(voice_id: str, recording_id: str, measured_from: list[str], profile: dict[str, Any]):
    def change(b: Book) -> None:
        v = b.voice(voice_id)
        if [r.id for r in v.recordings] != measured_from:
            raise _RecordingsChanged
        v.recordings = [r for r in v.recordings if r.id != recording_id]
        v.profile = {**profile, **({"rvc": v.profile["rvc"]} if "rvc" in v.profile else {})}  # model facts stay
    return change


def _measured_profile(media, recordings: list[Recording]) -> dict[str, Any]:
    refs = [ref for r in recordings for ref in r.clips]
    if not refs:
        return {}
    usable_s = sum(_seconds(media.path(ref)) for ref in refs)
    sample = [audiolib.read_wav(media.path(ref))[0] for ref in refs[:: -(-len(refs) // PROFILE_CLIPS)]]
    return _profile(sample, audiolib.WORK_SR, usable_s, len(refs))


def delete_voice(services, owner: str, book_id: str, voice_id: str) -> Voice:
    """Remove a voice, its recordings and model files (files deleted now unless another book uses
    them). Narration already made with it stays: those takes are the book's audio."""
    removed: list[Voice] = []

    def change(b: Book) -> None:
        removed.append(b.voice(voice_id))
        b.voices.remove(removed[0])
        if b.narration_voice == voice_id:
            b.narration_voice = None

    services.store.update(owner, book_id, change)
    voice = removed[0]
    refs = [ref for r in voice.recordings for ref in (r.audio, *r.clips)] + list(voice.model_files.values())
    services.store.delete_media_if_unreferenced(owner, refs)
    from studio.train_voice.session import forget_voice

    forget_voice(services, owner, voice_id)  # her training checkpoint and samples go too
    return voice


def uses_likeness(voice: Voice) -> bool:
    """Whether narrating with this voice uses the loved one's recordings or model."""
    return voice.converter in ("voice_match", "rvc") or voice.speaker == "xtts"


def require_consent(voice: Voice) -> None:
    if uses_likeness(voice) and not (voice.consent and voice.consent.complete):
        raise NarrationError("voice.consent_needed", name=voice.name)


# -- speaking -----------------------------------------------------------------------------------
def speaker_for(services, voice: Voice, language: str):
    """The speech backend that reads ``language`` for this voice: the voice's own choice, else
    the setting, else the first available backend that speaks the language (Piper for English
    when installed; eSpeak NG reads Korean)."""
    backends = services.backends
    if voice.speaker:
        return backends.get("speaker", voice.speaker)
    if (getattr(services.settings, "speaker", "auto") or "auto") != "auto":
        return backends.active("speaker")
    for name in backends.kinds["speaker"]:
        try:
            backend = backends.get("speaker", name)
        except BackendError:
            continue
        if backend.available().ok and _speaks(backend, language):
            return backend
    return backends.active("speaker")


def _speaks(backend, language: str) -> bool:
    supports = getattr(backend, "supports", None)
    return bool(supports(language)) if callable(supports) else True


def render(services, voice: Voice, text: str, language: str, seed: int = 0, owner: str = "",
           credentials=None) -> Rendering:
    """``credentials``: the visitor's, for a remote speaker that bills them (Hugging Face)."""
    from studio.backends.remote.common import with_credentials

    require_consent(voice)
    backends = services.backends
    media = services.store.media_for(owner)
    speaker = with_credentials(speaker_for(services, voice, language), credentials)
    _require_available(speaker)
    knobs: dict[str, Any] = {k: voice.conversion.get(k, d) for k, (d, _, _) in KNOBS.items()}
    knobs["f0_method"] = voice.conversion.get("f0_method") or default_f0_method(services.settings.rmvpe_model)
    options: dict[str, Any] = {"rate": knobs["rate"], "pitch": knobs["pitch"], "seed": seed}
    if speaker.name == "xtts":
        options["reference_wavs"] = [str(media.existing_path(ref)) for r in voice.recordings for ref in r.clips]
    converter_name = voice.converter or "none"
    converter, extra = None, {"seed": seed}
    if converter_name != "none":
        converter = backends.get("converter", converter_name)
        _require_available(converter)
        if converter_name == "rvc":
            if "pth" not in voice.model_files:
                raise NarrationError("voice.rvc_model_missing", name=voice.name)
            extra["model_path"] = str(media.existing_path(voice.model_files["pth"]))
            if voice.model_files.get("index"):
                extra["index_path"] = str(media.existing_path(voice.model_files["index"]))
    # the model work: one GPU turn on ZeroGPU when a torch model speaks or converts
    standard, result = speak_and_convert(services, speaker, converter, voice, text, language, options, knobs, extra)
    params = {**knobs, "seed": seed, "language": language, "lufs": audiolib.NARRATION_LUFS}
    # both sides of the A/B at the same loudness, so the comparison is about the voice only
    return Rendering(_leveled(standard), _leveled(result), speaker.name, converter_name, params)


def _leveled(audio: Audio) -> Audio:
    """The one place every take gets its loudness, whichever backend and converter made it."""
    from studio.mastering import master_take
    cleaned = audiolib.remove_dc(audio.samples, audio.sample_rate)
    return Audio(master_take(cleaned, audio.sample_rate, audiolib.NARRATION_LUFS), audio.sample_rate)


def _require_available(backend) -> None:
    status = backend.available()
    if not status.ok:
        raise BackendError("voice.speaker_unavailable", name=backend.label, reason=status)


def preview(services, owner: str, book_id: str, voice_id: str, text: str, credentials=None) -> Rendering:
    book = services.store.get(owner, book_id)
    return render(services, book.voice(voice_id), text, book.language, owner=owner, credentials=credentials)


def narrator(book: Book, voice_id: str | None = None) -> Voice:
    """The voice that reads the book (the one asked for, else the book's narrator)."""
    voice_id = voice_id or book.narration_voice
    if not voice_id and book.voices:
        raise NarrationError("voice.choose_narrator")
    if not voice_id:
        raise NarrationError("voice.create_first")
    return book.voice(voice_id)


def narrate_page(services, owner: str, book_id: str, page_id: str, voice_id: str | None = None,
                 credentials=None) -> NarrationTake:
    """Speak one page into a new take, keep it and choose it."""
    book = services.store.get(owner, book_id)
    page = book.page(page_id)
    voice = narrator(book, voice_id)
    if not page.text.strip():
        raise NarrationError("voice.page_no_text", page=book.pages.index(page) + 1)
    rendering = render(services, voice, page.text, book.language, seed=len(page.takes), owner=owner,
                       credentials=credentials)
    data = audiolib.wav_bytes(rendering.result.samples, rendering.result.sample_rate)
    take = NarrationTake(audio=services.store.media_for(owner).put_bytes(data, "wav"),
                         duration_s=round(len(rendering.result.samples) / rendering.result.sample_rate, 4),
                         speaker=rendering.speaker, converter=rendering.converter, voice_id=voice.id,
                         params=rendering.params)

    def change(b: Book) -> None:
        p = b.page(page_id)
        p.takes.append(take)
        p.chosen_take = take.id
        while len(p.takes) > MAX_TAKES:  # drop the oldest take that is not chosen
            p.takes.remove(next(t for t in p.takes if t.id != p.chosen_take))

    services.store.update(owner, book_id, change)
    return take


def choose_take(services, owner: str, book_id: str, page_id: str, take_id: str) -> None:
    def change(b: Book) -> None:
        p = b.page(page_id)
        if not any(t.id == take_id for t in p.takes):
            raise NarrationError("voice.take_gone")
        p.chosen_take = take_id

    services.store.update(owner, book_id, change)


def pages_to_narrate(book: Book, only_missing: bool = False) -> list:
    """The pages a whole-book narration reads; refused here (no words, no narrator, no consent)
    so a tab can ask before it starts a job that cannot run."""
    pages = [p for p in book.pages if p.text.strip() and not (only_missing and p.chosen_narration())]
    if not pages:
        raise NarrationError("voice.book_no_text")
    require_consent(narrator(book))
    return pages


def narrate_book(services, owner: str, book_id: str, cancel: CancelToken | None = None,
                 only_missing: bool = False, credentials=None) -> Iterator[Progress]:
    """Narrate every page (or only those without a chosen take); each page is saved as it is done."""
    cancel = cancel or CancelToken()
    book = services.store.get(owner, book_id)
    pages = pages_to_narrate(book, only_missing)  # refused before "Starting…": no progress line for a job that cannot run
    total = len(pages)
    yield Progress(0, total, "Starting…")
    for i, page in enumerate(pages, start=1):
        cancel.raise_if_cancelled()
        take = narrate_page(services, owner, book_id, page.id, credentials=credentials)
        yield Progress(i, total, f"Page {book.pages.index(page) + 1} narrated ({take.duration_s:.1f} s)",
                       {"page_id": page.id, "take_id": take.id})

