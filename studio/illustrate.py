"""Illustrating pages: prompt composition, variants, choosing, reproducing, the whole-book job.

Every generated image is stored as an ``ImageVariant`` whose ``params["spec"]`` is the exact
``ImageSpec`` that made it (final prompts, real seed), and whose PNG carries the same in an
A1111 ``parameters`` chunk. The whole-book job lives in ``studio.whole_book``: each finished
page is saved at once with ``store.update``, so a cancelled or crashed job resumes where it stopped.

    for event in illustrate_book(services, owner, book_id, cancel=token):
        print(f"{event.fraction:.0%} {event.message}")
"""
from __future__ import annotations

import contextlib
import copy
import functools
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from studio.backends.base import CancelToken, IllustrationRequest, StepCallback
from studio.book import Book, ImageSpec, ImageVariant, Page
from studio.image_params import PictureError, to_a1111, tone_grade
from studio.images import to_png_bytes
from studio.jobs import Progress

STYLES_PATH = Path(__file__).resolve().parents[1] / "assets" / "styles.json"
MAX_VARIANTS = 8
MAX_SIDE = 1536


@dataclass(frozen=True)
class StylePreset:
    id: str
    name_ko: str
    name_en: str
    template: str
    negative: str
    lora: str
    lora_weight: float
    steps: int
    guidance: float
    scheduler: str
    families: dict = field(default_factory=dict)  # per model family ("sdxl": {"steps": 30, ...})

    def label(self, language: str) -> str:
        return self.name_ko if language == "ko" else self.name_en


@functools.cache
def styles() -> dict[str, StylePreset]:
    data = json.loads(STYLES_PATH.read_text(encoding="utf-8"))
    return {key: StylePreset(id=key, **value) for key, value in data.items()}


def style(style_id: str, own: dict | None = None) -> StylePreset | None:
    """A bundled preset, or one of ``own`` (the owner's trained styles, ``studio.style_presets``)."""
    if not style_id:
        return None
    if own and style_id in own:
        return own[style_id]
    try:
        return styles()[style_id]
    except KeyError:
        raise PictureError("error.no_style", style=style_id) from None


def character_sheet(book: Book, page: Page) -> str:
    """The fixed descriptions of the people on this page, so they look the same on every page."""
    by_name = {c.name: c for c in book.characters}
    parts = [by_name[n].description.strip() for n in page.characters if n in by_name and by_name[n].description.strip()]
    return ", ".join(parts)


def compose_prompt(book: Book, page: Page, style_id: str = "", own: dict | None = None) -> tuple[str, str]:
    """(prompt, negative): the style words, then the character sheet, then the page's own prompt.

    That order matters: a text encoder reads a limited number of tokens, and when a long page
    prompt must be cut it is its end that goes, never the style or what grandma looks like."""
    scene = page.illustration_prompt.strip() or ", ".join(s for s in (page.setting, page.mood) if s.strip())
    characters = character_sheet(book, page)
    preset = style(style_id or book.style, own)
    if preset is None:
        return ", ".join(s for s in (characters, scene) if s), ""
    text = preset.template.format(prompt=scene, characters=characters)
    return ", ".join(s.strip() for s in text.split(",") if s.strip()), preset.negative


def apply_style(spec: ImageSpec, style_id: str, lora_dir: str = "") -> ImageSpec:
    """The preset's steps/guidance/scheduler, and its LoRA when that file is in ``lora_dir``."""
    from studio.book import LoraChoice

    out = copy.deepcopy(spec)
    preset = style(style_id)
    out.style = style_id
    if preset is None:
        return out
    out.steps, out.guidance, out.scheduler = preset.steps, preset.guidance, preset.scheduler
    preset_files = {p.lora for p in styles().values() if p.lora}
    out.loras = [lo for lo in out.loras if lo.ref not in preset_files]  # drop the previous preset's LoRA
    if preset.lora and lora_dir and (Path(lora_dir).expanduser() / preset.lora).is_file():
        out.loras.insert(0, LoraChoice(ref=preset.lora, weight=preset.lora_weight, name=preset.lora))
    return out


def own_styles(services, owner: str) -> dict:
    from studio.style_presets import owner_styles

    return owner_styles(services, owner)


def check_spec(spec: ImageSpec) -> None:
    if not (64 <= spec.width <= MAX_SIDE and 64 <= spec.height <= MAX_SIDE):
        raise PictureError("error.picture_size", largest=MAX_SIDE)
    if not 1 <= spec.steps <= 150:
        raise PictureError("error.steps")
    if not 0.0 <= spec.guidance <= 30.0:
        raise PictureError("error.guidance")
    if not 0.0 <= spec.strength <= 1.0:
        raise PictureError("error.strength")
    if not 0.0 <= spec.control.start <= spec.control.end <= 1.0:
        raise PictureError("error.control_range")


def model_family(backend, style_id: str = ""):
    """The illustrator's model family (None for the sketch), given the style the page uses."""
    detect = getattr(backend, "family", None)
    if detect is None:
        return None
    preset = style(style_id) if style_id in styles() else None
    return detect(preset.id if preset else "", preset.scheduler if preset else "")


def fit_to_family(spec: ImageSpec, family) -> ImageSpec:
    """``spec`` with the model family's defaults where nobody chose a value (see model_family.fit_spec)."""
    from studio.backends.model_family import fit_spec

    return fit_spec(spec, family, style(spec.style) if spec.style in styles() else None)


def final_spec(book: Book, page: Page, spec: ImageSpec, seed: int, family=None, own: dict | None = None) -> ImageSpec:
    """A copy with the prompts actually used (page's own edit, or composed), the real seed and,
    given the model's ``family``, that family's defaults where nobody chose a value."""
    from studio.likeness import character_loras

    out = copy.deepcopy(spec)
    out.loras = character_loras(book, page, out.loras)  # her likeness LoRA on every page she is on
    composed, negative = compose_prompt(book, page, spec.style, own)
    out.prompt = spec.prompt.strip() or composed
    out.negative_prompt = spec.negative_prompt.strip() or negative
    out.seed, out.seed_locked = int(seed), True
    return fit_to_family(out, family)


def page_context(book: Book, page: Page, spec: ImageSpec) -> dict[str, Any]:
    from studio.page_inputs import current_pose

    return {"setting": page.setting, "mood": page.mood, "text": page.text, "pose_hint": page.pose_hint,
            "people": current_pose(page, spec)["people"], "title": book.title,
            "characters": page_characters(book, page)}


def page_characters(book: Book, page: Page) -> list[dict[str, str]]:
    """The page's people with their character-sheet descriptions (the offline illustrator draws them)."""
    by_name = {c.name: c for c in book.characters}
    people = []
    for name in page.characters:
        found = by_name.get(name)
        relation = (found.relation if found else "") or (book.memories.relation if name == book.memories.subject_name else "")
        people.append({"name": name, "description": found.description if found else "", "relation": relation})
    return people


def _request(services, book: Book, page: Page, spec: ImageSpec, backend) -> tuple[IllustrationRequest, ImageSpec]:
    """The backend request for a *final* spec, and the spec with the control map's ref filled."""
    from studio.page_inputs import control_map_png, init_image, lora_paths

    check_spec(spec)
    spec = copy.deepcopy(spec)
    request = IllustrationRequest(spec=spec, prompt=spec.prompt, negative_prompt=spec.negative_prompt,
                                  page_context=page_context(book, page, spec))
    if getattr(backend, "uses_maps", True):  # the sketch draws from page_context alone
        if spec.control.kind != "none":
            request.control_image, png = control_map_png(services, page, spec, book.owner)  # made once, kept
            spec.control.map_image = services.store.media_for(book.owner).put_bytes(png, "png")
        request.init_image = init_image(services, spec, book.owner)
        request.lora_paths = lora_paths(services, spec, book.owner)
        from studio.likeness import reference_for, reference_uses_faceid

        request.reference_image, request.reference_scale = reference_for(services, book, page)
        request.reference_faceid = reference_uses_faceid(services, book, page)
    elif spec.init_image:  # the offline illustrator paints the page's photo
        request.init_image = init_image(services, spec, book.owner)
    return request, spec


def render(services, book: Book, page: Page, spec: ImageSpec, backend=None, cancel: CancelToken | None = None,
           on_step: StepCallback | None = None) -> tuple[Any, ImageSpec]:
    """One picture for a page from a *final* spec; returns (image, spec with the map ref filled)."""
    backend = backend or services.backends.active("illustrator")
    request, spec = _request(services, book, page, spec, backend)
    image = backend.illustrate(request, on_step=on_step, cancel=cancel)
    return tone_grade(image, spec.tone), spec


def render_variants(services, book: Book, page: Page, spec: ImageSpec, seeds: list[int], backend=None,
                    cancel: CancelToken | None = None,
                    on_step: StepCallback | None = None) -> list[tuple[Any, ImageSpec]]:
    """Pictures for several seeds of one *final* spec in one backend call when the backend can
    batch them (the control map is made and stored once); one by one otherwise."""
    backend = backend or services.backends.active("illustrator")
    batch = getattr(backend, "illustrate_variants", None)
    if batch is None or len(seeds) == 1:
        return [render(services, book, page, _with_seed(spec, seed), backend, cancel, on_step) for seed in seeds]
    request, spec = _request(services, book, page, spec, backend)
    images = batch(request, list(seeds), on_step=on_step, cancel=cancel)
    return [(tone_grade(image, spec.tone), _with_seed(spec, seed)) for image, seed in zip(images, seeds)]


def _with_seed(spec: ImageSpec, seed: int) -> ImageSpec:
    out = copy.deepcopy(spec)
    out.seed, out.seed_locked = int(seed), True
    return out


def dropped_words(backend, prompt: str) -> list[str]:
    """Words at the end of ``prompt`` that the illustrator's text encoder does not read (over its
    budget); [] when everything is read or the illustrator has no such limit (the sketch)."""
    check = getattr(backend, "dropped_words", None)
    return list(check(prompt) or []) if check else []


def dropped_words_note(variants: list[ImageVariant], language: str) -> str:
    """One line naming the prompt words the model could not read, or "" when it read them all."""
    from studio.messages import text

    words = list(dict.fromkeys(w for v in variants for w in v.params.get("dropped_words", [])))
    return text("models.prompt_words_dropped", language, words=" ".join(words)) if words else ""


def _store_variant(services, backend, image, spec: ImageSpec, owner: str) -> ImageVariant:
    model = getattr(backend, "source", "") or ""
    deterministic = bool(getattr(backend, "reproducible", True))
    text = to_a1111(spec, model=Path(model).name if model else "", backend=backend.name, deterministic=deterministic)
    ref = services.store.media_for(owner).put_bytes(to_png_bytes(image, text), "png")
    params = {"spec": spec.to_dict(), "parameters": text, "model": model}
    if not deterministic:  # "make again" then says it may differ (remote.remade_differs)
        params["deterministic"], params["service"] = False, getattr(backend, "service", "") or backend.label
    if dropped := dropped_words(backend, spec.prompt):
        params["dropped_words"] = dropped  # shown next to the picture: the family can shorten the prompt
    return ImageVariant(image=ref, params=params, backend=backend.name)


def _add_variant(services, owner: str, book_id: str, page_id: str, variant: ImageVariant, choose: bool) -> None:
    def change(book: Book) -> None:
        page = book.page(page_id)
        if not any(v.image == variant.image for v in page.variants):
            page.variants.append(variant)
        if choose or page.chosen_image() is None:
            page.chosen_variant = next(v.id for v in page.variants if v.image == variant.image)

    services.store.update(owner, book_id, change)


def save_spec(services, owner: str, book_id: str, page_id: str, spec: ImageSpec) -> Book:
    """Keep the page's settings (one write, skipped when nothing changed)."""
    check_spec(spec)
    book = services.store.get(owner, book_id)
    if book.page(page_id).image == spec:
        return book
    return services.store.update(owner, book_id, lambda b: setattr(b.page(page_id), "image", copy.deepcopy(spec)))


def generate_variants(services, owner: str, book_id: str, page_id: str, spec: ImageSpec, count: int = 1,
                      backend=None, cancel: CancelToken | None = None,
                      on_step: Callable[[int, int, int, int], None] | None = None) -> list[ImageVariant]:
    """``count`` pictures for a page (seed, seed+1, ...; random seeds when the seed is negative).

    The page's settings are saved first; each picture is saved as soon as it is made. The first
    one becomes the page's image when it has none yet; earlier variants stay available."""
    if not 1 <= int(count) <= MAX_VARIANTS:
        raise PictureError("error.variant_count", most=MAX_VARIANTS)
    backend = backend or services.backends.active("illustrator")
    book = save_spec(services, owner, book_id, page_id, spec)
    page = book.page(page_id)
    # A typed seed is used as typed (the lock only decides whether the UI moves it on afterwards);
    # a negative seed asks for new ones.
    seeds = [spec.seed + i if spec.seed >= 0 else secrets.randbelow(2**31) for i in range(int(count))]
    family, own = model_family(backend, spec.style), own_styles(services, owner)
    made = []
    if hasattr(backend, "illustrate_variants"):  # one call: the GPU denoises all variants together
        step = (lambda s, t, _p: on_step(0, 1, s, t)) if on_step else None
        with contextlib.ExitStack() as allowances:  # pictures per hour, per visitor (public Spaces)
            for _ in seeds:
                allowances.enter_context(_allowance(services, owner))
            pictures = render_variants(services, book, page, final_spec(book, page, spec, seeds[0], family, own), seeds,
                                       backend, cancel, step)
    else:
        pictures = []
        for i, seed in enumerate(seeds):
            step = (lambda s, t, _p, i=i: on_step(i, int(count), s, t)) if on_step else None
            with _allowance(services, owner):
                pictures.append(render(services, book, page, final_spec(book, page, spec, seed, family, own), backend,
                                       cancel, step))
    for image, used in pictures:
        variant = _store_variant(services, backend, image, used, owner)
        _add_variant(services, owner, book_id, page_id, variant, choose=False)
        made.append(variant)
    return made


def choose_variant(services, owner: str, book_id: str, page_id: str, variant_id: str) -> Book:
    def change(book: Book) -> None:
        page = book.page(page_id)
        if not any(v.id == variant_id for v in page.variants):
            raise PictureError("error.not_a_variant")
        page.chosen_variant = variant_id

    return services.store.update(owner, book_id, change)


def reproduce(services, owner: str, book_id: str, page_id: str, variant_id: str, backend=None,
              credentials=None) -> tuple[ImageVariant, bool]:
    """Make a variant again from its stored parameters; (variant, True) when the pixels match.
    ``credentials``: the visitor's, for a remote backend that bills them (Hugging Face)."""
    book = services.store.get(owner, book_id)
    page = book.page(page_id)
    original = next((v for v in page.variants if v.id == variant_id), None)
    if original is None:
        raise PictureError("error.not_a_variant")
    if backend is None:
        backend = services.backends.get("illustrator", original.backend) if original.backend else None
    from studio.backends.remote.common import with_credentials

    backend = with_credentials(backend or services.backends.active("illustrator"), credentials)
    spec = ImageSpec.from_dict(original.params.get("spec"))
    image, used = render(services, book, page, spec, backend)
    variant = _store_variant(services, backend, image, used, owner)
    if variant.image == original.image or _same_pixels(services, owner, variant.image, original.image):
        if variant.image != original.image:  # the same picture (a server may compress the same pixels differently)
            services.store.delete_media_if_unreferenced(owner, [variant.image])
        return original, True
    _add_variant(services, owner, book_id, page_id, variant, choose=False)
    return variant, False


def is_deterministic(variant: ImageVariant) -> bool:
    """False for a picture from a service that may answer the same settings differently."""
    return variant.params.get("deterministic", True) is not False


def _same_pixels(services, owner: str, ref: str, other: str) -> bool:
    from PIL import Image

    media = services.store.media_for(owner)
    try:
        with Image.open(media.existing_path(ref)) as a, Image.open(media.existing_path(other)) as b:
            return a.size == b.size and a.convert("RGB").tobytes() == b.convert("RGB").tobytes()
    except (OSError, ValueError):
        return False


def pages_to_illustrate(book: Book, backend_name: str = "sketch") -> list[Page]:
    """Pages not locked and not done yet. With a real model, a page whose picture is only a
    storyboard sketch is not done either (the sketch stays among its variants)."""
    def done(page: Page) -> bool:
        chosen = page.chosen_image()
        return chosen is not None and (chosen.backend != "sketch" or backend_name == "sketch")

    return [p for p in book.pages if not p.locked and not done(p)]


def illustrate_book(services, owner: str, book_id: str, backend=None,
                    cancel: CancelToken | None = None) -> Iterator[Progress]:
    """The whole-book job: every page not locked and not done (``studio.whole_book``)."""
    from studio.whole_book import illustrate_book as whole_book

    return whole_book(services, owner, book_id, backend, cancel)


def _allowance(services, owner: str):
    limits = getattr(services, "limits", None)
    return limits.page(owner) if limits is not None else contextlib.nullcontext()


def active_illustrator(services) -> Any:
    """The illustrator pages are drawn with now (the offline one when no other is available)."""
    return services.backends.active_or_none("illustrator") or services.backends.get("illustrator", "sketch")
