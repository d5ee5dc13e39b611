"""What goes into a page's picture besides the prompt: pose, photos, control maps, style LoRAs.

Uploads are checked before anything heavy happens: photos through ``open_user_image`` (size
read from the header, bombs and truncated files refused), LoRAs as ``.safetensors`` only with
their header read to refuse a LoRA made for another base model. Every change to a page goes
through ``store.update``.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

from studio import poses
from studio.backends.base import BackendError
from studio.backends.lora_files import LoraFileError, inspect_lora
from studio.book import CONTROL_KINDS, Book, ImageSpec, LoraChoice, Page, is_media_ref
from studio.image_params import PictureError
from studio.images import open_user_image, to_png_bytes

MAX_LORA_BYTES = 1024 * 1024 * 1024


# -- poses -------------------------------------------------------------------------------------
def current_pose(page: Page, spec: ImageSpec | None = None) -> dict[str, Any]:
    """The page's edited pose, else its chosen bundled pose, else the Story tab's pose hint."""
    control = (spec or page.image).control
    if control.pose:
        return poses.validate(control.pose)
    for name in (control.pose_id, page.pose_hint, "standing"):
        if name in poses.bundled_names():
            return poses.bundled(name)
    return poses.bundled("standing")


def _update_control(services, owner: str, book_id: str, page_id: str, change: Callable[[Page], None]) -> Page:
    book = services.store.update(owner, book_id, lambda b: change(b.page(page_id)))
    return book.page(page_id)


def choose_pose(services, owner: str, book_id: str, page_id: str, pose_id: str) -> Page:
    """Use a bundled pose on this page. It steers Stable Diffusion through ControlNet openpose
    when that model is set up (switched on here); the sketch draws the pose in any case."""
    fresh = poses.bundled(pose_id)

    def change(page: Page) -> None:
        page.image.control.pose_id = pose_id
        page.image.control.pose = fresh
        if page.image.control.kind == "none" and services.settings.controlnet_openpose:
            page.image.control.kind = "openpose"

    return _update_control(services, owner, book_id, page_id, change)


def edit_pose(services, owner: str, book_id: str, page_id: str,
              edit: Callable[[dict[str, Any]], dict[str, Any]]) -> Page:
    """Apply one pose edit (e.g. ``lambda p: poses.move_joint(p, 0, 4, .3, .2)``) and save it."""
    def change(page: Page) -> None:
        page.image.control.pose = edit(current_pose(page))

    return _update_control(services, owner, book_id, page_id, change)


# -- photos ------------------------------------------------------------------------------------
def store_photo(services, path: str | Path, owner: str) -> str:
    """Check and decode an uploaded photo safely; keep it as a clean PNG (no EXIF/GPS)."""
    image = open_user_image(path)
    return services.store.media_for(owner).put_bytes(to_png_bytes(image), "png")


def set_page_photo(services, owner: str, book_id: str, page_id: str, path: str | Path | None,
                   purpose: str) -> Page:
    """``purpose`` "init" (img2img source) or "control" (pose/depth/edges source); None clears it."""
    if purpose not in ("init", "control"):
        raise PictureError("error.photo_purpose")
    ref = store_photo(services, path, owner) if path else None

    def change(page: Page) -> None:
        if purpose == "init":
            page.image.init_image = ref
        else:
            page.image.control.source_image = ref

    return _update_control(services, owner, book_id, page_id, change)


def use_memory_photo(services, owner: str, book_id: str, page_id: str, ref: str) -> Page:
    book = services.store.get(owner, book_id)
    if ref not in book.memories.photos and not any(ref in c.photos for c in book.characters):
        raise PictureError("error.not_a_memory")
    return _update_control(services, owner, book_id, page_id, lambda p: setattr(p.image, "init_image", ref))


def _open_ref(services, ref: str, owner: str):
    from PIL import Image

    with Image.open(services.store.media_for(owner).existing_path(ref)) as img:
        return img.convert("RGB")


def detect_pose(services, owner: str, book_id: str, page_id: str) -> Page:
    """Keypoints from the page's control photo into the pose editor (needs a pose detector)."""
    page = services.store.get(owner, book_id).page(page_id)
    ref = page.image.control.source_image
    if not ref:
        raise PictureError("error.pose_photo_first")
    detector = services.backends.active_or_none("pose_detector")
    if detector is None:
        raise BackendError("error.no_pose_finder")
    pose = detector.detect(_open_ref(services, ref, owner))

    def change(p: Page) -> None:
        p.image.control.pose, p.image.control.pose_id = pose, ""
        p.image.control.kind = "openpose"

    return _update_control(services, owner, book_id, page_id, change)


def control_map(services, page: Page, spec: ImageSpec, owner: str):
    """The ControlNet input for this page: the rendered pose, or a map made from the page's photo."""
    return control_map_png(services, page, spec, owner)[0]


def control_map_png(services, page: Page, spec: ImageSpec, owner: str):
    """(control map, its PNG bytes): made once per content and kept (``studio.control_maps``)."""
    from studio.backends.edges import EDGE_DETECTORS
    from studio.control_maps import MAPS, photo_key, pose_key

    kind = spec.control.kind
    if kind not in CONTROL_KINDS or kind == "none":
        raise PictureError("error.control_kind", kind=kind)
    width, height = spec.width, spec.height
    if kind == "openpose":
        pose = current_pose(page, spec)
        return MAPS.get(pose_key(pose, width, height), lambda: poses.render(pose, width, height))
    ref = spec.control.source_image
    if not ref:
        raise PictureError("error.control_needs_photo")
    services.store.media_for(owner).existing_path(ref)  # the owner's photo, before any cache look-up
    if kind == "depth":
        estimator = services.backends.active_or_none("depth_estimator")
        if estimator is None:
            raise BackendError("error.no_depth_finder")
        detect, maker = estimator.detect, estimator  # this very model (held by the key: no stale map)
    else:
        detect, maker = EDGE_DETECTORS[kind]().detect, kind
    return MAPS.get(photo_key(kind, owner, ref, width, height, maker),
                    lambda: detect(_open_ref(services, ref, owner).resize((width, height))))


def map_preview(services, page: Page, kind: str, owner: str):
    """The control map this page would use with ``kind``, for the editor (None when it needs a
    photo or a model: depth maps are only made when a picture is generated)."""
    if kind in ("none", "depth"):
        return None
    spec = ImageSpec.from_dict(page.image.to_dict())
    spec.control.kind = kind
    try:
        return control_map(services, page, spec, owner)
    except (ValueError, BackendError):
        return None


def init_image(services, spec: ImageSpec, owner: str):
    return _open_ref(services, spec.init_image, owner) if spec.init_image else None


# -- LoRAs -------------------------------------------------------------------------------------
def lora_file(services, ref: str, owner: str) -> Path:
    """Where a LoRA lives: a user upload (media ref) or a preset file name in GIEOK_LORA_DIR."""
    if is_media_ref(ref):
        path = services.store.media_for(owner).path(ref)
    else:
        if not ref or Path(ref).name != ref or not ref.endswith(".safetensors"):
            raise PictureError("error.lora_name", name=ref)
        folder = services.settings.lora_dir
        if not folder:
            raise BackendError("error.lora_folder", name=ref)
        path = Path(folder).expanduser() / ref
    if not path.is_file():
        raise BackendError("error.lora_missing", name=ref)
    return path


def lora_paths(services, spec: ImageSpec, owner: str) -> dict[str, str]:
    return {lo.ref: str(lora_file(services, lo.ref, owner)) for lo in spec.loras}


def check_lora_upload(services, path: str | Path, original_name: str) -> None:
    name = Path(original_name or str(path)).name
    if not name.lower().endswith(".safetensors"):
        raise PictureError("error.lora_type", name=name)
    if Path(path).stat().st_size > MAX_LORA_BYTES:
        raise PictureError("error.lora_size", name=name)
    try:
        inspect_lora(path)  # a readable LoRA file, or a clear error below
    except LoraFileError as exc:
        raise PictureError("error.lora_unreadable", name=name, detail=exc) from None  # rendered in the reader's language
    sd = services.backends.get("illustrator", "diffusers")
    if sd.available().ok:
        sd.check_lora(path)  # the illustrator's one check: names the LoRA's and the model's families


def add_user_lora(services, owner: str, book_id: str, page_id: str, path: str | Path,
                  original_name: str = "", weight: float = 0.8) -> LoraChoice:
    """Keep an uploaded style LoRA with the book and use it on this page."""
    check_lora_upload(services, path, original_name)
    ref = services.store.media_for(owner).put_file(path, "lora")  # media exts are short; the loader reads safetensors only
    choice = LoraChoice(ref=ref, weight=weight, name=Path(original_name or str(path)).name[:120])

    def change(page: Page) -> None:
        if not any(lo.ref == ref for lo in page.image.loras):
            page.image.loras.append(copy.deepcopy(choice))

    _update_control(services, owner, book_id, page_id, change)
    return choice


def book_loras(services, book: Book) -> list[LoraChoice]:
    """Every LoRA this book can use: files in GIEOK_LORA_DIR, then user uploads on any page."""
    found: dict[str, LoraChoice] = {}
    folder = services.settings.lora_dir
    if folder and Path(folder).expanduser().is_dir():
        for path in sorted(Path(folder).expanduser().glob("*.safetensors")):
            found[path.name] = LoraChoice(ref=path.name, weight=0.8, name=path.name)
    for page in book.pages:
        for lo in page.image.loras:
            found.setdefault(lo.ref, LoraChoice(ref=lo.ref, weight=0.8, name=lo.name or lo.ref[:12]))
    return list(found.values())
