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
from test_app_pages import FORM, _plain


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
    assert c.predict(grandma_id, api_name="/likeness_person") == "grandmother"

    uploads = []
    for i, (centre, background) in enumerate([((160, 150), (120, 150, 170)), ((120, 130), (190, 170, 140)),
                                              ((170, 120), (150, 190, 150))]):
        path = tmp_path / f"grandma{i}.jpg"
        drawn_face((300, 300), centre=centre, r=60, seed=i, background=background).save(path, quality=92)
        uploads.append(path)
    (tmp_path / "notes.jpg").write_text("not a photo")
    uploads.append(tmp_path / "notes.jpg")
    gallery, table, status = c.predict("person", grandma_id, [handle_file(str(p)) for p in uploads], "ohwx",
                                       "grandmother", 64, api_name="/likeness_prepare")
    assert len(gallery) == 3 and "ready" in status
    rows = table.get("value", table)["data"]
    assert [r[1] for r in rows[:3]] == ["kept"] * 3 and rows[3][1].startswith("not used")
    assert rows[0][2] == "a photo of ohwx grandmother"
    rows[0][2] = "a photo of ohwx grandmother, smiling"  # the family edits one caption
    assert "after the first steps" in c.predict("person", grandma_id, "ohwx", "fast", 2, 64,
                                                api_name="/likeness_estimate")

    no_consent = ["person", grandma_id, "", {"headers": ["photo", "result", "caption"], "data": rows}, "ohwx", "fast",
                  2, 64]
    assert "consent" in refused(c, *no_consent, "", "", "", "", api_name="/likeness_train")
    assert not services.store.get("local", book_id).characters[0].lora
    status, warning, _plot, _sample = c.predict(*no_consent, "Minji", "granddaughter", "2026-11-30",
                                       "We agree to draw Grandma from her photos.", api_name="/likeness_train")
    assert "every page" in status and "100%" in status and warning == ""
    assert "about 1 min on this machine" in c.predict("person", grandma_id, "ohwx", "fast", 2, 64,
                                                      api_name="/likeness_estimate")
    grandma = services.store.get("local", book_id).characters[0]
    assert grandma.lora and grandma.trigger_word == "ohwx" and grandma.consent.given_by == "Minji"

    book = services.store.get("local", book_id)
    page = book.pages[-1]
    variant = illustrate.generate_variants(services, "local", book_id, page.id, page.image)[0]
    assert [lo["ref"] for lo in variant.params["spec"]["loras"]] == [grandma.lora]


def test_twelve_drawings_become_our_own_style_on_the_pages_tab(launch_app, client_for, tiny_models, tmp_path):  # noqa: F811
    """Style mode end to end: 12 generated drawings uploaded, kept without faces, trained a few
    steps in windows of 2 (the ZeroGPU way), registered, offered on the Pages tab to this visitor
    only, and a page illustrated with it carries its LoRA and words."""
    from test_style_training import drawings

    url, services = launch_app(mode="public", sd_model=str(tiny_models.sd), device="cpu", train_window_steps=2)
    c = client_for(url)  # public mode: every visitor is their own owner
    book_id = c.predict("크레용", "", "ko", 4, api_name="/create_book")[0]["value"]
    owner = services.store.owners()[0].owner
    services.store.update(owner, book_id, lambda b: b.pages.append(Page(
        illustration_prompt="a garden", image=ImageSpec(width=64, height=64, steps=2, seed=1, seed_locked=True))))
    page_id = services.store.get(owner, book_id).pages[-1].id
    bundled = [tuple(x) for x in c.predict(api_name="/list_styles")["choices"]]

    files = [handle_file(str(path)) for _, path in drawings(tmp_path, 12)]
    gallery, table, status = c.predict("style", None, files, "crayonish", "", 64, api_name="/likeness_prepare")
    rows = table.get("value", table)["data"]
    assert len(gallery) == 12 and [r[1] for r in rows] == ["kept"] * 12 and "ready" in status
    assert rows[0][2] == "an illustration in crayonish style"
    assert "3 steps" in c.predict("style", None, "crayonish", "fast", 3, 64, api_name="/likeness_estimate")
    job = c.submit("style", None, "Our crayons", {"headers": ["a", "b", "c"], "data": rows}, "crayonish", "fast", 3,
                   64, "", "", "", "", api_name="/likeness_train")  # no consent asked for a style
    status, warning, _plot, _sample = job.result(timeout=300)
    said = [out[0] for out in job.outputs()]
    assert any(line.startswith("This GPU turn has ended at step 2") for line in said)  # windows of 2 steps
    assert "Our crayons" in status and "Pages tab" in status and "100%" in status and warning == ""
    mine = [tuple(x) for x in c.predict(api_name="/list_styles")["choices"]]
    assert mine[:len(bundled)] == bundled and mine[-1][0] == "Our crayons" and len(mine) == len(bundled) + 1
    style_id = mine[-1][1]

    other = client_for(url)  # another visitor: their own owner, never our style
    assert style_id not in [x[1] for x in other.predict(api_name="/list_styles")["choices"]]

    c.predict(None, api_name="/list_pages")
    form = [_plain(v) for v in c.predict(page_id, api_name="/show_page")[FORM]]
    form = [_plain(v) for v in c.predict(page_id, style_id, *form, api_name="/pick_style")]
    assert form[0].startswith("illustration in crayonish style") and form[9] == style_id
    form[4] = 2  # two denoising steps on the tiny model
    c.predict(page_id, 1, *form, api_name="/generate_variants")
    page = services.store.get(owner, book_id).page(page_id)
    used = page.variants[-1].params["spec"]
    assert used["style"] == style_id and used["prompt"].startswith("illustration in crayonish style")
    assert len(used["loras"]) == 1 and used["loras"][0]["name"] == "Our crayons"

    # the family renames the style, then deletes it (after ticking "yes"): the page goes back to the default
    assert [tuple(x) for x in c.predict(api_name="/likeness_styles")["choices"]] == [("Our crayons", style_id)]
    listing, said, _ = c.predict(style_id, "Mina's crayons", api_name="/likeness_style_rename")
    assert listing["choices"] == [["Mina's crayons", style_id]] and "Mina's crayons" in said
    assert "cannot be brought back" in refused(c, style_id, False, api_name="/likeness_style_delete")
    assert style_id in [x[1] for x in c.predict(api_name="/list_styles")["choices"]]  # nothing deleted
    listing, said, sure = c.predict(style_id, True, api_name="/likeness_style_delete")
    assert listing["choices"] == [] and "1 page(s)" in said and sure is False
    assert style_id not in [x[1] for x in c.predict(api_name="/list_styles")["choices"]]
    kept = services.store.get(owner, book_id).page(page_id).image
    assert kept.style == "" and kept.loras == []
    assert "no longer among your styles" in refused(other, style_id, True, api_name="/likeness_style_delete")


def test_the_class_word_follows_the_chosen_person(launch_app, client_for):
    """The English word for who they are is the person's own, not the "grandmother" example."""
    url, services = launch_app()
    c = client_for(url)
    book_id = c.predict("Grandpa's boat", "", "en", 4, api_name="/create_book")[0]["value"]
    services.store.update("local", book_id, lambda b: b.characters.extend([
        Character(name="Harold", relation="grandpa", description="short white hair, a red flannel shirt"),
        Character(name="Sunja", relation="할머니")]))
    harold, sunja = (ch.id for ch in services.store.get("local", book_id).characters)
    c.predict(api_name="/likeness_refresh")
    assert c.predict(harold, api_name="/likeness_person") == "grandfather"
    assert c.predict(sunja, api_name="/likeness_person") == "grandmother"
