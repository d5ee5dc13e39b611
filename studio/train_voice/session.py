"""A voice's training as the family sees it: start fresh or continue, in windows that fit a shared
GPU turn, with a small record of the run beside the checkpoint (settings, losses, state, samples)
so the page can show the curve, the samples and "continue training" after a restart without
opening the large checkpoint. Export of the voice's model with its consent.

Files (all in the voice's training folder in the data dir, never shown by path)::

    checkpoint.pt     the trainer's (weights, optimizer, step, elapsed time...)
    run.json          request, state, loss history, last progress, overtraining epoch
    samples/          epoch_0005.wav ... and standard.wav (the speech before conversion)
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from studio import audio as audiolib
from studio.backends.base import CancelToken
from studio.jobs import Progress
from studio.storage import write_json_atomic
from studio.train_voice import TrainingRefused
from studio.train_voice.plan import Preset, build_request, preset, require_consent, survey_voice

log = logging.getLogger(__name__)
RUN_FILE = "run.json"
RUN_WRITE_EVERY_S = 0.5  # the page reads the curve from the run record as often
MAX_POINTS = 2000  # loss points kept for the curve (older ones thinned)
SAMPLE_KEY = "voice_train_ui.sample_sentence"


def workdir(services, owner: str, voice_id: str) -> Path:
    from studio.train_voice.flow import voice_dir
    return voice_dir(services.settings, owner, voice_id)


def read_run(folder: Path) -> dict | None:
    try:
        return json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_run(folder: Path, run: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / RUN_FILE, run)


def status(services, owner: str, voice_id: str) -> dict:
    """What the page shows about this voice's training: run record, resumable or not, samples."""
    folder = workdir(services, owner, voice_id)
    run = read_run(folder) or {}
    resumable = (folder / "checkpoint.pt").is_file() and run.get("state") != "done" and bool(run.get("request"))
    return {"run": run, "resumable": resumable, "samples": samples(folder)}


def samples(folder: Path) -> list[tuple[int, Path]]:
    """(epoch, wav) of every sample so far, oldest first; epoch 0 is the speech before conversion."""
    found = []
    for path in sorted((folder / "samples").glob("*.wav")):
        if path.stem == "standard":
            found.append((0, path))
        elif path.stem.startswith("epoch_") and path.stem[6:].isdigit():
            found.append((int(path.stem[6:]), path))
    return sorted(found)


def sample_maker(services, owner: str, book_id: str, voice_id: str, folder: Path, f0_method: str = "pm"):
    """The fixed sentence in the book's language, spoken by the book's speaker once, then
    converted by the generator as it is at each sample epoch — with the pitch method the model is
    trained on (its pitch embedding learnt that method's curves)."""
    from studio import narrate
    from studio.backends.rvc.pipeline import ConversionOptions, convert
    from studio.mastering import master_take
    from studio.messages import text

    book = services.store.get(owner, book_id)
    voice = book.voice(voice_id)
    out = folder / "samples"
    standard: dict = {}

    def make(epoch: int, model) -> dict:
        try:
            return sample(epoch, model)
        except Exception:  # noqa: BLE001 - a sample that cannot be made must not stop hours of training
            log.warning("no training sample at epoch %s", epoch, exc_info=True)
            return {"epoch": epoch, "file": None}

    def sample(epoch: int, model) -> dict:
        if not standard:  # the book's own speech path (speaker, rate, pitch), without conversion
            plain = dataclasses.replace(voice, converter="none")
            spoken = narrate.render(services, plain, text(SAMPLE_KEY, book.language), book.language,
                                    owner=owner).standard
            standard["audio"] = spoken
            _write_wav(out / "standard.wav", spoken.samples, spoken.sample_rate)
        spoken = standard["audio"]
        features = services.backends.get("converter", "rvc").features()
        opts = ConversionOptions(index_rate=0.0, f0_method=f0_method, rmvpe_model=services.settings.rmvpe_model)
        wav, rate = convert(spoken.samples, spoken.sample_rate, model, features, opts)
        path = _write_wav(out / f"epoch_{epoch:04d}.wav", master_take(wav, rate, audiolib.NARRATION_LUFS), rate)
        return {"epoch": epoch, "file": path.name}

    return make


def _write_wav(path: Path, samples_: np.ndarray, rate: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(audiolib.wav_bytes(np.asarray(samples_, dtype=np.float32), rate))
    tmp.replace(path)
    return path


def train(services, owner: str, book_id: str, voice_id: str, preset_key: str | None, cancel: CancelToken,
          fresh: bool = True, pretrained: tuple[str, str] = ("", ""), window_steps: int | None = None,
          window_fn: Callable | None = None, f0_method: str = "pm") -> Iterator[Progress]:
    """Start (``fresh``) or continue this voice's training; yields the flow's events and keeps
    ``run.json`` current. With ``window_steps`` the trainer runs in windows of that many steps
    (each fits one shared-GPU turn; the checkpoint carries everything across windows). A
    ``window_fn`` (a ``zerogpu.GpuFunction`` over :func:`run_window`) runs each window as one
    GPU turn and hands back its events when the turn ends; cancel then acts between windows."""
    from studio.train_voice.flow import TrainRequest, train_voice
    from studio.train_voice.trainer import TrainOptions

    voice = services.store.get(owner, book_id).voice(voice_id)
    require_consent(voice)
    folder = workdir(services, owner, voice_id)
    if fresh:
        p = preset(preset_key or "")
        found = survey_voice(services, owner, book_id, voice_id, p)  # refusals before anything is removed
        request = build_request(services.settings, p, found, *pretrained, f0_method=f0_method)
        for name in ("checkpoint.pt", RUN_FILE):
            (folder / name).unlink(missing_ok=True)
        shutil.rmtree(folder / "samples", ignore_errors=True)
        run = {"request": _request_record(request, p), "state": "running", "losses": [], "val": [],
               "last": {}, "overtraining": None, "started": time.time()}
    else:
        run = read_run(folder)
        if not (run and run.get("request") and (folder / "checkpoint.pt").is_file()):
            raise TrainingRefused("voice_train_ui.nothing_to_continue")
        r = run["request"]
        request = TrainRequest(sample_rate=r["sample_rate"], f0_method=r["f0_method"],
                               options=TrainOptions(**r["options"]), config=r["config"], min_speech_s=r["min_speech_s"])
        run["state"] = "running"
    _write_run(folder, run)
    make_sample = sample_maker(services, owner, book_id, voice_id, folder, request.f0_method)
    request.max_steps = window_steps
    written, window = 0.0, 0
    try:
        while True:
            paused = False
            if window_fn is None:
                events = train_voice(services, owner, book_id, voice_id, request, cancel, make_sample)
            else:
                cancel.raise_if_cancelled()  # the last window left a checkpoint
                events = window_fn(owner, book_id, voice_id, request, local={"cancel": cancel})
            for event in events:
                kind = event.payload.get("event")
                if window and kind in ("survey", "features"):
                    continue  # said once, in the first window
                paused = kind == "paused" and window_steps is not None
                _record(run, event)
                if kind != "step" or time.monotonic() - written > RUN_WRITE_EVERY_S:
                    _write_run(folder, run)
                    written = time.monotonic()
                if not paused:
                    yield event
            window += 1
            if not paused:
                break
    except BaseException:
        run["state"] = "paused" if (folder / "checkpoint.pt").is_file() else "stopped"
        _write_run(folder, run)
        raise
    run["state"] = "done" if run["last"].get("event") == "published" else "paused"
    _write_run(folder, run)
    if run["state"] == "done":  # the model is in the media store; the large checkpoint can go
        (folder / "checkpoint.pt").unlink(missing_ok=True)


def run_window(services, owner: str, book_id: str, voice_id: str, request, cancel: CancelToken | None = None
               ) -> list[Progress]:
    """One window of training (``request.max_steps`` steps) as a plain call, for a GPU turn."""
    from studio.train_voice.flow import train_voice

    make_sample = sample_maker(services, owner, book_id, voice_id, workdir(services, owner, voice_id),
                               request.f0_method)
    return list(train_voice(services, owner, book_id, voice_id, request, cancel, make_sample))


def window_units(owner: str, book_id: str, voice_id: str, request, *_, **__) -> float:
    """The work of one window for the GPU clock: its training steps."""
    return float(request.max_steps or 1)


def steps_per_turn(clock) -> int:
    """Steps that fit one GPU turn, leaving 40% for loading, checks, samples and the index."""
    return max(1, int((clock.max_s - clock.overhead_s) * 0.6 / (clock.seconds_per_unit * 1.25)))


def _request_record(request, p: Preset) -> dict:
    return {"preset": p.key, "sample_rate": request.sample_rate, "f0_method": request.f0_method,
            "options": asdict(request.options), "config": request.config, "min_speech_s": request.min_speech_s}


def _record(run: dict, event: Progress) -> None:
    data = event.payload
    kind = data.get("event")
    if kind == "step":
        run["losses"].append({"step": data["step"], **{k: round(v, 4) for k, v in data["losses"].items()}})
        if len(run["losses"]) > MAX_POINTS:
            run["losses"] = run["losses"][::2]
    elif kind == "eval":
        run["val"].append({"epoch": data["epoch"], "mel": data["value"]})
    elif kind == "overtraining":
        run["overtraining"] = data["epoch"]
    keep = {k: v for k, v in data.items() if isinstance(v, (int, float, str, bool, type(None)))}
    if kind in ("step", "eval", "sample", "overtraining", "paused", "done", "published"):
        run["last"] = keep


def forget_voice(services, owner: str, voice_id: str) -> bool:
    """Delete a voice's training folder (checkpoint, samples of her voice, run record): to be
    called when the voice is deleted. Returns whether there was one."""
    folder = workdir(services, owner, voice_id)
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def forget_owner(services, owner: str) -> bool:
    """Delete every training folder of one owner (a visitor's data being purged)."""
    folder = workdir(services, owner, "x").parent
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


# -- export ---------------------------------------------------------------------------------------
def export_model(services, owner: str, book_id: str, voice_id: str, out_dir: Path) -> Path:
    """A zip with the voice's ``.pth`` (+ ``.index``) under the voice's name and the consent it
    was made under, for other RVC tools. Refused without a model or without consent."""
    from studio.naming import safe_slug
    from studio.train_voice.export import consent_record

    voice = services.store.get(owner, book_id).voice(voice_id)
    if "pth" not in voice.model_files:
        raise TrainingRefused("voice_train_ui.nothing_to_export", voice=voice.name)
    require_consent(voice)
    name = safe_slug(voice.name, fallback="voice")
    media = services.store.media_for(owner)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}-rvc.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(media.existing_path(voice.model_files["pth"]), f"{name}.pth")
        if voice.model_files.get("index"):
            zf.write(media.existing_path(voice.model_files["index"]), f"{name}.index")
        zf.writestr("consent.json", json.dumps(consent_record(voice.consent), ensure_ascii=False, indent=2))
    return target
