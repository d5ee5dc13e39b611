"""The Likeness tab through the running app on the tiny SD model: upload photos, see which are kept
and why, be refused without consent, train a few steps, and the character's pages use the LoRA."""
from __future__ import annotations

import pytest
from ui_helpers import refused
from gradio_client import handle_file

from studio import illustrate
from studio.book import Character, ImageSpec, Page
from likeness_fixtures import one_thread  # noqa: F401  (autouse)
from test_photos_prep import drawn_face
from tiny_sd import tiny_models  # noqa: F401  (session fixture)


def test_photos_to_a_trained_likeness_on_her_pages(launch_app, client_for, tiny_models, tmp_path):  # noqa: F811
    url, services = launch_app(sd_model=str(tiny_models.sd), device="cpu")
    c = client_for(url)
    book_id = c.predict("할머니", "", "ko", 4, api_name="/create_book")[0]["value"]

    def setup(book):
        book.characters.append(Character(name="Grandma", description="an old woman"))
        book.pages.append(Page(characters=["Grandma"], illustration_prompt="a garden",
                               image=ImageSpec(width=64, height=64, steps=2, seed=1, seed_locked=True)))

    services.store.update("local", book_id, setup)
    grandma_id = services.store.get("local", book_id).characters[0].id
    assert ("Grandma", grandma_id) in [tuple(x) for x in c.predict(api_name="/likeness_refresh")["choices"]]

    uploads = []
    for i, (centre, background) in enumerate([((160, 150), (120, 150, 170)), ((120, 130), (190, 170, 140)),
                                              ((170, 120), (150, 190, 150))]):
        path = tmp_path / f"grandma{i}.jpg"
        drawn_face((300, 300), centre=centre, r=60, seed=i, background=background).save(path, quality=92)
        uploads.append(path)
    (tmp_path / "notes.jpg").write_text("not a photo")
    uploads.append(tmp_path / "notes.jpg")
    gallery, table, status = c.predict(grandma_id, [handle_file(str(p)) for p in uploads], "ohwx", "grandmother",
                                       64, api_name="/likeness_prepare")
    assert len(gallery) == 3 and "ready" in status
    rows = table.get("value", table)["data"]
    assert [r[1] for r in rows[:3]] == ["kept"] * 3 and rows[3][1].startswith("not used")
    assert rows[0][2] == "a photo of ohwx grandmother"
    rows[0][2] = "a photo of ohwx grandmother, smiling"  # the family edits one caption
    assert "after the first steps" in c.predict(grandma_id, "fast", 2, 64, api_name="/likeness_estimate")

    no_consent = [grandma_id, {"headers": ["photo", "result", "caption"], "data": rows}, "ohwx", "fast", 2, 64]
    assert "consent" in refused(c, *no_consent, "", "", "", "", api_name="/likeness_train")
    assert not services.store.get("local", book_id).characters[0].lora
    status, _plot, _sample = c.predict(*no_consent, "Minji", "granddaughter", "2026-11-30",
                                       "We agree to draw Grandma from her photos.", api_name="/likeness_train")
    assert "every page" in status and "100%" in status
    assert "about 1 min on this machine" in c.predict(grandma_id, "fast", 2, 64, api_name="/likeness_estimate")
    grandma = services.store.get("local", book_id).characters[0]
    assert grandma.lora and grandma.trigger_word == "ohwx" and grandma.consent.given_by == "Minji"

    book = services.store.get("local", book_id)
    page = book.pages[-1]
    variant = illustrate.generate_variants(services, "local", book_id, page.id, page.image)[0]
    assert [lo["ref"] for lo in variant.params["spec"]["loras"]] == [grandma.lora]
