"""Her face on every page: a LoRA trained on a character's photos, attached to the character.

``train_character_lora`` is the one call a tab makes: the kept photos (``studio.photos``) and
their captions are saved in the character's training folder (so a restart can resume without
the uploads), the LoRA trainer runs as a job on a fresh copy of the active base model, and when
it finishes the file is kept with the book's media and attached to the character with its
trigger word and the consent record. ``final_spec`` then adds the LoRA of every character on a
page (``character_loras``), and the trigger word reaches the prompt through the character sheet.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generator, Iterator

from studio.backends.base import BackendError, CancelToken
from studio.jobs import Progress
from studio.storage import write_json_atomic
from studio.train_lora import LoraOptions, LoraTrainer, LoraTrainingRefused, TrainingSet, check_consent

LORA_FILE = "likeness.safetensors"
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass
class LikenessRequest:
    character_id: str
    trigger: str
    options: LoraOptions
    photos: list[Any] = field(default_factory=list)  # PreparedPhoto; empty: the saved set (resume)
    consent: Any = None  # studio.book.Consent
    subject: str = "person"


def training_dir(services, owner: str, book_id: str, character_id: str) -> Path:
    """Ids only in the path (checked: they come through the API too). Inside the owner's own
    folder, so deleting or expiring the owner removes their photos and face crops too."""
    from studio.owners import owner_folder

    if not all(_ID.fullmatch(str(v or "")) for v in (book_id, character_id)):
        raise LoraTrainingRefused("likeness.no_character")
    return owner_folder(services.settings.data_dir, owner) / "training" / book_id / character_id


def _character(book, character_id: str):
    found = next((c for c in book.characters if c.id == character_id), None)
    if found is None:
        raise LoraTrainingRefused("likeness.no_character")
    return found


def save_dataset(folder: Path, photos: list[Any]) -> TrainingSet | None:
    kept = [p for p in photos if p.kept]
    if not kept:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    captions = []
    for i, photo in enumerate(kept):
        photo.crop.save(folder / f"{i:03d}.png", format="PNG")
        captions.append(photo.caption)
    # which pictures show a real face (a style's consent rule)
    write_json_atomic(folder / "faces.json", [bool(getattr(p, "shows_face", False)) for p in kept])
    write_json_atomic(folder / "captions.json", captions, ensure_ascii=False)
    return TrainingSet([p.crop for p in kept], captions)



def load_dataset(folder: Path) -> TrainingSet | None:
    from PIL import Image

    if not (folder / "captions.json").is_file():
        return None
    captions = read_captions(folder)
    images = []
    for i in range(len(captions)):
        with Image.open(folder / f"{i:03d}.png") as img:
            images.append(img.convert("RGB"))
    return TrainingSet(images, captions)


def training_pipeline(services):
    """A fresh copy of the active base model for training (the illustrator's own copy keeps its
    page LoRAs untouched), and the device to train on."""
    from studio.backends.torch_device import choose_placement

    illustrator = services.backends.get("illustrator", "diffusers")
    status = illustrator.available()
    if not status.ok:
        raise BackendError("likeness.no_base_model", reason=status)
    placement = choose_placement(getattr(services.settings, "device", "auto"))
    pipe = illustrator._load_pipeline(illustrator.source, placement.dtype)  # its own config folders for single files
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(placement.device), placement.device


def train_character_lora(services, owner: str, book_id: str, request: LikenessRequest,
                         cancel: CancelToken | None = None, max_steps: int | None = None,
                         pipe: Any = None) -> Iterator[Progress]:
    """Train (or resume) the character's LoRA; when all steps are done, attach it."""
    check_consent(request.subject, request.consent)  # nothing is written without it
    _character(services.store.get(owner, book_id), request.character_id)
    if not request.trigger.strip() or not request.trigger.replace("_", "").isalnum():
        raise LoraTrainingRefused("likeness.bad_trigger")
    workdir = training_dir(services, owner, book_id, request.character_id)
    data = dataset_for(workdir, request.photos)
    if data is None:
        raise LoraTrainingRefused("likeness.no_photos")
    trainer, path = yield from run_lora_training(
        services, workdir, data, request.trigger.strip(), request.subject, request.options,
        workdir / LORA_FILE, request.consent, cancel, max_steps, pipe)
    if path is None:
        return  # a window ended: the checkpoint carries on next time
    attach_lora(services, owner, book_id, request.character_id, path, request.consent)
    yield trainer.event("attached", "likeness.attached")


def dataset_for(workdir: Path, photos: list[Any]) -> TrainingSet | None:
    """The new photos saved as the training set, or (none given: a resume) the saved set."""
    return save_dataset(workdir / "dataset", photos) if photos else load_dataset(workdir / "dataset")


def run_lora_training(services, workdir: Path, data: TrainingSet, trigger: str, subject: str,
                      options: LoraOptions, lora_path: Path, consent: Any, cancel: CancelToken | None,
                      max_steps: int | None, pipe: Any = None
                      ) -> Generator[Progress, None, tuple[LoraTrainer, Path | None]]:
    """The training shared by a person's likeness and a style: runs (or resumes) the trainer on a
    fresh base model, records this machine's speed, and saves the LoRA when all steps are done.
    Returns the trainer and the saved file, or None for the file when a window ended first."""
    data.trigger, data.subject = trigger, subject
    if pipe is None:
        pipe, options.device = training_pipeline(services)
    trainer = LoraTrainer(pipe, data, options, workdir, consent=consent,
                          base_model=services.settings.sd_model, fresh_if_changed=True)
    try:
        yield from trainer.run(cancel, max_steps)
    finally:
        record_speed(services, trainer)
    if trainer.step < trainer.total_steps:
        return trainer, None
    return trainer, trainer.save_lora(lora_path)


def attach_lora(services, owner: str, book_id: str, character_id: str, path: str | Path,
                consent: Any = None, weight: float = 0.8):
    """Keep the LoRA with the book's media and give it to the character, with its trigger word
    (added to the character sheet, so every page prompt that shows her carries it)."""
    from studio.lora_export import read_metadata

    meta = read_metadata(path)
    subject = meta.get("subject", "person")
    if subject == "person" and consent is None and meta.get("consent"):
        from studio.book import Consent

        consent = Consent.from_dict(meta["consent"])
    check_consent(subject, consent)
    trigger = str(meta.get("trigger") or "").strip()
    ref = services.store.media_for(owner).put_file(path, "lora")

    def change(book) -> None:
        character = _character(book, character_id)
        character.lora, character.trigger_word, character.lora_weight = ref, trigger, float(weight)
        if consent is not None:
            character.consent = consent
        if trigger and trigger not in character.description.split(", ")[0].split():
            character.description = ", ".join(s for s in (trigger, character.description.strip()) if s)

    book = services.store.update(owner, book_id, change)
    return _character(book, character_id)


def character_loras(book, page, loras: list) -> list:
    """The page's LoRAs plus the likeness LoRA of every character on the page (once each)."""
    from studio.book import LoraChoice

    out = list(loras)
    by_name = {c.name: c for c in book.characters}
    for name in page.characters:
        character = by_name.get(name)
        if character is not None and character.lora and not any(lo.ref == character.lora for lo in out):
            out.append(LoraChoice(ref=character.lora, weight=character.lora_weight, name=f"{character.name} ♥"))
    return out


def set_reference_photo(services, owner: str, book_id: str, character_id: str, path: str | Path,
                        consent: Any, scale: float = 0.6, faceid: bool = False):
    """One photo of the character that conditions every page she is on (IP-Adapter; with
    ``faceid``, through her face's identity, only when FaceID can be used here); like training,
    it needs the family's consent, and nothing is stored without it."""
    from studio.images import open_user_image, to_png_bytes

    check_consent("person", consent)
    if not 0.0 <= float(scale) <= 1.5:
        raise LoraTrainingRefused("likeness.bad_reference_scale")
    if faceid:
        from studio.backends.faceid import FaceIdLikeness

        status = FaceIdLikeness(services.settings).available()
        if not status.ok:
            raise LoraTrainingRefused("likeness.faceid_unavailable", reason=status)
    _character(services.store.get(owner, book_id), character_id)
    ref = services.store.media_for(owner).put_bytes(to_png_bytes(open_user_image(path)), "png")

    def change(book) -> None:
        character = _character(book, character_id)
        character.reference_photo, character.reference_scale, character.consent = ref, float(scale), consent
        character.reference_faceid = bool(faceid)

    book = services.store.update(owner, book_id, change)
    return _character(book, character_id)


def _reference_character(services, book, page):
    """The first character on the page with a consented reference photo whose adapter (plain or
    FaceID) is configured; a photo waiting for its adapter leaves the page as it was."""
    by_name = {c.name: c for c in book.characters}
    for name in page.characters:
        character = by_name.get(name)
        if character and character.reference_photo and character.consent and character.consent.complete:
            setting = "ip_adapter_faceid" if character.reference_faceid else "ip_adapter"
            if getattr(services.settings, setting, ""):
                return character
    return None


def reference_for(services, book, page) -> tuple[Any, float]:
    """(photo, scale) of the page's reference character (``_reference_character``); (None, 0.0)
    when there is none."""
    from PIL import Image

    character = _reference_character(services, book, page)
    if character is None:
        return None, 0.0
    with Image.open(services.store.media_for(book.owner).path(character.reference_photo)) as img:
        return img.convert("RGB"), float(character.reference_scale)


def reference_uses_faceid(services, book, page) -> bool:
    character = _reference_character(services, book, page)
    return bool(character is not None and character.reference_faceid)


# Presets: steps grow with the number of photos (about 80-150 passes over each), capped; the
# ETA during training comes from the job runner's measured seconds per step.
# Without prior preservation, a few prepared photos are set aside and checked every ``eval_every``
# steps (one in ten, from 5 photos on); more passes over each photo than ``RISKY_PASSES`` (or a
# high learning rate with many passes) is where DreamBooth runs without it start copying photos.
RISKY_PASSES = 150
RISKY_LEARNING_RATE = 1e-4
PRESETS = {
    "fast": {"rank": 4, "learning_rate": 2e-4, "steps_per_photo": 60, "max_steps": 600},
    "balanced": {"rank": 8, "learning_rate": 1e-4, "steps_per_photo": 100, "max_steps": 1200},
    "best": {"rank": 16, "learning_rate": 1e-4, "steps_per_photo": 150, "max_steps": 2000},
}


def preset_options(preset: str, photos: int, resolution: int = 512, **overrides) -> LoraOptions:
    if preset not in PRESETS:
        raise LoraTrainingRefused("likeness.bad_preset")
    p = PRESETS[preset]
    steps = min(p["max_steps"], max(100, p["steps_per_photo"] * max(1, photos)))
    values = dict(rank=p["rank"], learning_rate=p["learning_rate"], steps=steps, resolution=resolution,
                  sample_every=max(50, steps // 5), holdout=max(1, photos // 10) if photos >= 5 else 0)
    values.update({k: v for k, v in overrides.items() if v is not None})
    values.setdefault("eval_every", max(1, values["steps"] // 20))  # about 20 checks, 3 rising in a row warn
    return LoraOptions(**values)


def overtraining_risk(options: LoraOptions, photos: int, subject: str = "person") -> bool:
    """A person trained without prior preservation for many passes over each photo (or a high
    learning rate with many): the LoRA may start copying the photos instead of learning her."""
    if subject != "person" or options.prior_preservation or photos <= 0:
        return False
    passes = options.steps * options.batch_size / photos
    return passes > RISKY_PASSES or (options.learning_rate > RISKY_LEARNING_RATE and passes > RISKY_PASSES / 2)


def memory_photo_files(services, owner: str, book_id: str) -> list[tuple[str, Path]]:
    """The open book's memory photos as (name, path) pairs for the preparation (the owner's own
    files only; a missing one is skipped, the preparation says how many were found)."""
    from studio.media import MediaError

    book = services.store.get(owner, book_id)
    media, found = services.store.media_for(owner), []
    for i, ref in enumerate(book.memories.photos):
        try:
            found.append((f"memory {i + 1}", media.existing_path(ref)))
        except MediaError:
            continue
    if not found:
        raise LoraTrainingRefused("likeness.train_no_memory_photos")
    return found


def prepare_for_character(services, owner: str, book_id: str, character_id: str, files: list,
                          options: Any) -> list[Any]:
    """Check and crop a new set of photos for this character; the kept ones (with captions)
    replace any earlier set and its unfinished training."""
    import shutil

    from studio import photo_models
    from studio.photos import prepare_photos

    _character(services.store.get(owner, book_id), character_id)
    models = photo_models.for_settings(services.settings)  # a configured model that is missing: refused now
    results = prepare_photos(files, options, models=models)
    workdir = training_dir(services, owner, book_id, character_id)
    if any(r.kept for r in results):
        shutil.rmtree(workdir, ignore_errors=True)
        save_dataset(workdir / "dataset", results)
    return results


def saved_captions(services, owner: str, book_id: str, character_id: str) -> list[str]:
    _character(services.store.get(owner, book_id), character_id)
    return read_captions(training_dir(services, owner, book_id, character_id) / "dataset")


def set_captions(services, owner: str, book_id: str, character_id: str, captions: list[str], trigger: str) -> None:
    _character(services.store.get(owner, book_id), character_id)
    write_captions(training_dir(services, owner, book_id, character_id) / "dataset", captions, trigger)


def read_captions(folder: Path) -> list[str]:
    index = folder / "captions.json"
    return json.loads(index.read_text(encoding="utf-8")) if index.is_file() else []


def write_captions(folder: Path, captions: list[str], trigger: str) -> None:
    """The family's edits of the captions; each keeps the trigger word (put back when removed)."""
    old = read_captions(folder)
    if len(captions) != len(old):
        raise LoraTrainingRefused("likeness.captions_changed")
    clean = []
    for text in captions:
        text = " ".join(str(text).split())[:300]
        clean.append(text if trigger in text.replace(",", " ").split() else ", ".join(s for s in (trigger, text) if s))
    if clean != old:
        (folder.parent / "checkpoint.pt").unlink(missing_ok=True)  # other captions: a new training
        write_json_atomic(folder / "captions.json", clean, ensure_ascii=False)


# -- estimates from this machine's own earlier trainings ----------------------------------------
def _speed_key(family: str, options: LoraOptions) -> str:
    return f"{family}|{options.resolution}|{options.batch_size}|{options.rank}|{options.device}"


def _speed_file(services) -> Path:
    return Path(services.settings.data_dir) / "training" / "speed.json"


def record_speed(services, trainer: LoraTrainer) -> None:
    """Seconds per step measured by a training here, for the next estimate (same model family,
    size, batch, rank and device)."""
    if trainer.step <= 0:
        return
    path = _speed_file(services)
    try:
        table = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        table = {}
    table[_speed_key(trainer.family, trainer.options)] = round(trainer.elapsed_s / trainer.step, 4)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, table)


def estimate_seconds(services, options: LoraOptions, family: str) -> float | None:
    """steps x seconds per step measured here before; None when this machine has not trained such
    a LoRA yet (the time left then shows after the first steps)."""
    path = _speed_file(services)
    if not path.is_file():
        return None
    try:
        per_step = json.loads(path.read_text(encoding="utf-8")).get(_speed_key(family, options))
    except ValueError:
        return None
    return None if per_step is None else float(per_step) * options.steps


def estimate_text(services, options: LoraOptions, lang: str | None = None, photos: int = 0,
                  subject: str = "person") -> str:
    """The preset's steps and, when this machine has trained such a LoRA before, the time it takes;
    then a warning when a person's training this long risks overtraining."""
    from studio.messages import text

    line = _estimate_line(services, options, lang)
    if overtraining_risk(options, photos, subject):
        line += "\n\n※ " + text("likeness.train_risk_overtraining", lang, passes=round(
            options.steps * options.batch_size / photos))
    return line


def _estimate_line(services, options: LoraOptions, lang: str | None = None) -> str:
    from studio.backends.torch_device import choose_placement
    from studio.messages import text

    illustrator = services.backends.get("illustrator", "diffusers")
    family = "SDXL" if illustrator.model_cross_attention_dim() == 2048 else "SD 1.x"
    options.device = choose_placement(getattr(services.settings, "device", "auto")).device
    seconds = estimate_seconds(services, options, family)
    if seconds is None:
        return text("likeness.estimate_unknown", lang, steps=options.steps)
    return text("likeness.estimate", lang, steps=options.steps, minutes=max(1, round(seconds / 60)))
