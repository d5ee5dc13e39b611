"""The Pages tab's dropdowns carry ids, never storage references (issue: media refs in the UI/API)."""
from __future__ import annotations

import re

from studio.book import LoraChoice, Page
from tabs import pages_views

REF = re.compile(r"[0-9a-f]{64}\.[a-z0-9]+")


def test_memory_photos_and_loras_are_offered_by_id(services):
    media = services.store.media_for("local")
    photo = media.put_bytes(b"a photo of grandma", "png")
    lora = media.put_bytes(b"a lora file", "lora")
    book = services.store.create("local", "Grandma", "", "en", 4)

    def change(b):
        b.memories.photos.append(photo)
        page = Page(text="In the garden")
        page.image.loras = [LoraChoice(ref=lora, weight=0.7, name="watercolour")]
        b.pages.append(page)

    book = services.store.update("local", book.id, change)
    page = book.pages[0]
    offered = str(pages_views.memory_choices(book)) + str(pages_views.form_values(services, book, page))
    assert not REF.search(offered) and "watercolour" in offered
    photo_id = pages_views.memory_choices(book)[0][1]
    assert pages_views.memory_ref(book, photo_id) == photo and pages_views.memory_ref(book, "photo-x") is None
    # the form's LoRA id comes back as the stored file, with its weight
    values = pages_views.form_values(services, book, page)
    plain = [v.get("value") if isinstance(v, dict) else v for v in values]
    spec = pages_views.spec_from_form(services, book, page, plain)
    assert [(lo.ref, lo.weight, lo.name) for lo in spec.loras] == [(lora, 0.7, "watercolour")]
