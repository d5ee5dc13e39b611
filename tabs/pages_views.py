"""Pages tab, section: the form <-> ImageSpec mapping and the pictures shown (not a tab itself).

Pictures are handed to Gradio as stable files (``common.picture``), never as PIL images: Gradio
rewrote its cache file for the same PIL image on every update, which broke thumbnails that a
browser was still reading during whole-book illustration.
"""
from __future__ import annotations

import hashlib

import gradio as gr

from studio import illustrate, page_inputs, poses
from studio.book import ImageSpec, LoraChoice
from tabs.common import picture, say, visitor_language

LORA_SLOTS = 3
FORM_NAMES = ["prompt", "negative", "seed", "seed_locked", "steps", "guidance", "width", "height", "scheduler", "style"]
RANDOM_SEED = -1


def style_choices(services=None, owner: str = ""):
    """The bundled styles, then the owner's own trained styles (only theirs)."""
    ko = visitor_language() == "ko"
    own = illustrate.own_styles(services, owner) if services is not None and owner else {}
    return [(say("pg.no_style"), "")] + [(s.name_ko if ko else s.name_en, k) for k, s in
                                         [*illustrate.styles().items(), *own.items()]]


def choice_id(kind: str, ref: str) -> str:
    """What a dropdown carries for a stored file: a name derived from it, never the storage
    reference itself (the page and the API see ids; the studio looks the file up again)."""
    return f"{kind}-{hashlib.sha256(ref.encode()).hexdigest()[:12]}" if ref else ""


def loras_by_id(services, book) -> dict[str, LoraChoice]:
    return {choice_id("lora", lo.ref): lo for lo in page_inputs.book_loras(services, book)}


def memory_choices(book) -> list[tuple[str, str]]:
    return [(str(i + 1), choice_id("photo", ref)) for i, ref in enumerate(book.memories.photos)]


def memory_ref(book, photo_id: str) -> str | None:
    return next((ref for ref in book.memories.photos if choice_id("photo", ref) == photo_id), None)


def form_values(services, book, pg):
    spec = pg.image
    own = illustrate.own_styles(services, book.owner)
    composed, composed_neg = illustrate.compose_prompt(book, pg, spec.style, own)
    choices = [("—", "")] + [(lo.name or lo.ref[:12], lora_id) for lora_id, lo in loras_by_id(services, book).items()]
    lora_cells = []
    for i in range(LORA_SLOTS):
        lo = spec.loras[i] if i < len(spec.loras) else LoraChoice(ref="", weight=0.8)
        lora_cells += [gr.update(choices=choices, value=choice_id("lora", lo.ref)), lo.weight]
    # a seed not kept shows as "new each time": a page never starts on seed 0 like every other page
    seed = spec.seed if spec.seed_locked else RANDOM_SEED
    return [spec.prompt or composed, spec.negative_prompt or composed_neg, seed, spec.seed_locked,
            spec.steps, spec.guidance, spec.width, spec.height, spec.scheduler,
            gr.update(choices=style_choices(services, book.owner), value=spec.style), *lora_cells,
            spec.control.kind, spec.control.scale, spec.control.start, spec.control.end, spec.strength, spec.tone]


def spec_from_form(services, book, pg, values) -> ImageSpec:
    v = dict(zip(FORM_NAMES, values[:10]))
    rest = values[10:]
    lora_cells, (kind_, scale_, start_, end_, strength_, tone_) = rest[:2 * LORA_SLOTS], rest[2 * LORA_SLOTS:]
    spec = ImageSpec.from_dict(pg.image.to_dict())
    composed, composed_neg = illustrate.compose_prompt(book, pg, v["style"] or "",
                                                       illustrate.own_styles(services, book.owner))
    # Unedited text follows the composition, so later story edits still reach the picture.
    spec.prompt = "" if (v["prompt"] or "").strip() == composed else (v["prompt"] or "").strip()
    spec.negative_prompt = "" if (v["negative"] or "").strip() == composed_neg else (v["negative"] or "").strip()
    seed = v["seed"]
    spec.seed = RANDOM_SEED if seed is None or seed == "" else int(seed)
    spec.seed_locked = bool(v["seed_locked"])
    spec.steps, spec.guidance = int(v["steps"]), float(v["guidance"])
    spec.width, spec.height = int(v["width"]) // 8 * 8, int(v["height"]) // 8 * 8
    spec.scheduler, spec.style = v["scheduler"] or "default", v["style"] or ""
    known = loras_by_id(services, book)
    spec.loras = [LoraChoice(ref=known[i].ref, weight=float(w), name=known[i].name) for i, w in
                  zip(lora_cells[::2], lora_cells[1::2]) if i in known]
    spec.control.kind, spec.control.scale = kind_, float(scale_)
    spec.control.start, spec.control.end = float(start_), float(end_)
    spec.strength, spec.tone = float(strength_), tone_
    return spec


def seed_of(variant):
    return variant.params.get("spec", {}).get("seed", "?")


def variants_view(services, owner, pg):
    gal = [(picture(services, owner, v.image), ("★ " if v.id == pg.chosen_variant else "")
            + say("pg.caption", number=i + 1, seed=seed_of(v))) for i, v in enumerate(pg.variants)]
    gal = [(path, caption) for path, caption in gal if path]
    choices = [(say("pg.caption", number=i + 1, seed=seed_of(v)), v.id) for i, v in enumerate(pg.variants)]
    return gal, gr.update(choices=choices, value=pg.chosen_variant)


def overview_view(services, book):
    shown = []
    for i, p in enumerate(book.pages):
        chosen = p.chosen_image()
        path = picture(services, book.owner, chosen.image, 256) if chosen else None
        if path:
            shown.append((path, str(i + 1)))
    return shown


def pose_view(pg, highlight=None):
    pose = page_inputs.current_pose(pg)
    w, h = pg.image.width, pg.image.height
    factor = 384 / max(w, h)
    img = poses.render(pose, max(64, int(w * factor)), max(64, int(h * factor)), highlight=highlight)
    return img, gr.update(choices=[(str(i + 1), i) for i in range(len(pose["people"]))], value=0)


def page_choices(book):
    return [(say("pg.page_label", number=i + 1, text=(p.text or p.illustration_prompt or "…")[:40]), p.id)
            for i, p in enumerate(book.pages)]
