"""A drawing style of the family's own: pictures in that style -> a style LoRA -> one of their styles.

The same preparation and trainer as a person's likeness (``studio.likeness``), with what a style
needs instead: no face is required (a drawing is cropped square from its centre), captions come
from the style template with the trigger word (``an illustration in <token> style``), and the
finished LoRA is registered as one of the owner's style presets (``studio.style_presets``), offered
on the Pages tab at once. No consent record is asked for drawings; when a third or more of the
pictures show a real person's face (BlazeFace), the style would learn that face too, and the
family's consent is needed as for a person (``check_style_consent``).

A style belongs to the owner, not to a book: its training folder is keyed by its trigger word.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from studio.backends.base import CancelToken
from studio.jobs import Progress
from studio.train_lora import LoraOptions, LoraTrainingRefused

STYLE_FOLDER = "_style"  # beside the owner's book folders (book ids never start with "_")
LORA_FILE = "style.safetensors"


@dataclass
class StyleRequest:
    name: str
    trigger: str
    options: LoraOptions
    photos: list[Any] = field(default_factory=list)  # PreparedPhoto; empty: the saved set (resume)
    consent: Any = None  # studio.book.Consent: needed when the pictures show people's faces


def faces_in_dataset(folder: Path) -> tuple[int, int]:
    """(pictures that show a face, pictures) of a saved set; (0, n) when it was never measured."""
    from studio.likeness import read_captions

    total = len(read_captions(folder))
    try:
        faces = json.loads((folder / "faces.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0, total
    return sum(1 for f in faces if f is True), total


FACES_NEED_CONSENT = 1 / 3  # from this share of pictures with a real face, it is a person's likeness too


def check_style_consent(folder: Path, consent: Any) -> None:
    """A "style" learnt from photos of a person also learns that person's face: when at least a
    third of the pictures show a real face, the family says who agreed, as for a person."""
    faces, total = faces_in_dataset(folder)
    if total and faces >= total * FACES_NEED_CONSENT and not getattr(consent, "complete", False):
        raise LoraTrainingRefused("likeness.style_faces_need_consent", faces=faces, total=total)


def check_trigger(trigger: str) -> str:
    trigger = (trigger or "").strip()
    if not trigger or len(trigger) > 40 or not trigger.replace("_", "").isalnum() or not trigger.isascii():
        raise LoraTrainingRefused("likeness.bad_trigger")
    return trigger


def style_dir(services, owner: str, trigger: str) -> Path:
    from studio.likeness import training_dir

    return training_dir(services, owner, STYLE_FOLDER, check_trigger(trigger))


def prepare_for_style(services, owner: str, trigger: str, files: list, options: Any) -> list[Any]:
    """Check and crop pictures of the style (centre squares; no face needed); the kept ones replace
    any earlier set for this trigger word and its unfinished training."""
    import shutil

    from studio.likeness import save_dataset
    from studio.photos import prepare_photos

    options.subject, options.token = "style", check_trigger(trigger)
    results = prepare_photos(files, options)
    workdir = style_dir(services, owner, trigger)
    if any(r.kept for r in results):
        shutil.rmtree(workdir, ignore_errors=True)
        save_dataset(workdir / "dataset", results)
    return results


def saved_style_captions(services, owner: str, trigger: str) -> list[str]:
    from studio.likeness import read_captions

    return read_captions(style_dir(services, owner, trigger) / "dataset")


def set_style_captions(services, owner: str, trigger: str, captions: list[str]) -> None:
    from studio.likeness import write_captions

    write_captions(style_dir(services, owner, trigger) / "dataset", captions, check_trigger(trigger))


def train_style_lora(services, owner: str, request: StyleRequest, cancel: CancelToken | None = None,
                     max_steps: int | None = None, pipe: Any = None) -> Iterator[Progress]:
    """Train (or resume) the style's LoRA; when all steps are done, register it as the owner's style."""
    from studio.likeness import dataset_for, run_lora_training
    from studio.style_presets import register_style

    trigger = check_trigger(request.trigger)
    workdir = style_dir(services, owner, trigger)
    data = dataset_for(workdir, request.photos)
    if data is None:
        raise LoraTrainingRefused("likeness.style_no_pictures")
    check_style_consent(workdir / "dataset", request.consent)  # before any model is loaded
    consent = request.consent if getattr(request.consent, "complete", False) else None
    trainer, path = yield from run_lora_training(
        services, workdir, data, trigger, "style", request.options, workdir / LORA_FILE, consent,
        cancel, max_steps, pipe)
    if path is None:
        return  # a window ended: the checkpoint carries on next time
    preset = register_style(services, owner, path, request.name or trigger)
    yield trainer.event("registered", "likeness.style_registered", style_id=preset.id, name=preset.name_en)
