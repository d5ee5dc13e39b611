"""The Pages tab through the running app: a 6-page book illustrated page by page with sketches,
three variants on page 2 (keep the second), the rest in one call, all still there after a reload."""
from __future__ import annotations

import pytest
from ui_helpers import refused, toasts

from studio.book import ImageSpec, Page
from tiny_sd import tiny_models  # noqa: F401  (session fixture)


def _plain(value):
    return value["value"] if isinstance(value, dict) and value.get("__type__") == "update" else value


FORM = slice(2, 24)  # /show_page outputs: page text, locked, then the form the generate call takes


def test_a_family_illustrates_a_book_with_sketches(launch_app, client_for):
    url, services = launch_app()
    c = client_for(url)
    drop, *_ = c.predict("할머니의 감나무", "", "ko", 6, api_name="/create_book")
    book_id = drop["value"]
    services.store.update("local", book_id, lambda b: setattr(b, "pages", [
        Page(text=f"{i + 1}쪽 이야기", illustration_prompt=f"grandmother and child, scene {i + 1}",
             setting="persimmon garden", mood="warm", pose_hint="walking hand in hand",
             image=ImageSpec(width=192, height=128)) for i in range(6)]))

    pages, overview, status = c.predict(None, api_name="/list_pages")
    assert status.startswith("Pictures: picture-book drawings made offline") and "GIEOK" not in status and overview == []
    page_ids = [value for _, value in pages["choices"]]
    assert len(page_ids) == 6

    # page 2: a style, a pose, one pose edit, three seeds, keep the second
    form = [_plain(v) for v in c.predict(page_ids[1], api_name="/show_page")[FORM]]
    assert form[0].startswith("grandmother and child, scene 2")  # the composed prompt, editable
    form = [_plain(v) for v in c.predict(page_ids[1], "watercolor", *form, api_name="/pick_style")]
    assert "watercolor" in form[0] and form[4] == 25  # the preset's steps
    pose_img, person, kind = c.predict(page_ids[1], "hugging", api_name="/choose_pose")
    assert kind == "none" and len(person["choices"]) == 2  # no ControlNet set up: the sketch draws the pose
    gallery, variant, overview, status, _ = c.predict(page_ids[1], 3, *form, api_name="/generate_variants")
    assert len(gallery) == 3 and len(variant["choices"]) == 3 and status.startswith("3 pictures made")
    second = variant["choices"][1][1]
    gallery, variant, overview = c.predict(page_ids[1], second, api_name="/choose_variant")
    assert variant["value"] == second and len(overview) == 1

    # page 4 keeps its words but is locked; the rest in one call
    c.predict(page_ids[3], True, api_name="/lock_page")
    overview, message = c.predict(api_name="/illustrate_book")
    assert message.startswith("4 pages illustrated") and len(overview) == 5

    # reload: a new browser session sees the same book, page 2 still shows the second variant
    c2 = client_for(url)
    c2.predict(api_name="/list_books")
    c2.predict(book_id, api_name="/open_book")
    c2.predict(None, api_name="/list_pages")
    shown = c2.predict(page_ids[1], api_name="/show_page")
    assert _plain(shown[-1]) == second and len(shown[-2]) == 3
    book = services.store.get("local", book_id)
    assert book.pages[1].chosen_variant == second and book.pages[1].image.style == "watercolor"
    assert book.pages[1].image.control.pose_id == "hugging"
    assert [p.chosen_image() is not None for p in book.pages] == [True, True, True, False, True, True]
    assert all(v.backend == "sketch" for p in book.pages for v in p.variants)


def test_bad_lora_upload_shows_a_clear_error(launch_app, client_for, tmp_path):
    from gradio_client import handle_file

    url, services = launch_app()
    c = client_for(url)
    drop, *_ = c.predict("Book", "", "en", 4, api_name="/create_book")
    services.store.update("local", drop["value"], lambda b: setattr(b, "pages", [Page(text="one")]))
    pages, *_ = c.predict(None, api_name="/list_pages")
    c.predict(None, api_name="/show_page")  # no page chosen yet: nothing happens, no error
    assert refused(c, None, "canny", api_name="/preview_map") == "Choose a page first."
    bad = tmp_path / "style.safetensors"
    bad.write_bytes(b"this is not a safetensors file at all")
    assert "not a valid .safetensors" in refused(c, pages["value"], handle_file(str(bad)), api_name="/upload_lora")
    from PIL import Image

    photo = tmp_path / "family.png"
    Image.new("RGB", (64, 48), (250, 250, 250)).save(photo)
    cut = tmp_path / "cut.png"
    cut.write_bytes(photo.read_bytes()[:60])
    said = refused(c, pages["value"], handle_file(str(cut)), api_name="/set_init_photo")
    assert "damaged" in said or "not an image" in said
    assert services.store.get("local", drop["value"]).pages[0].image.init_image is None
    assert c.predict(pages["value"], handle_file(str(photo)), api_name="/set_map_photo").startswith("The photo will guide")
    assert c.predict(pages["value"], "canny", api_name="/preview_map") is not None  # an edge map of the photo
    assert c.predict(pages["value"], "depth", api_name="/preview_map") is None  # made at generation time


def test_with_a_model_configured_pages_are_painted_by_stable_diffusion(launch_app, client_for, tiny_models):  # noqa: F811
    url, services = launch_app(sd_model=str(tiny_models.sd), controlnet_openpose=str(tiny_models.controlnet))
    c = client_for(url)
    drop, *_ = c.predict("Tiny", "", "en", 4, api_name="/create_book")
    services.store.update("local", drop["value"], lambda b: setattr(b, "pages", [
        Page(text=f"page {i}", illustration_prompt="a grandmother in the garden",
             image=ImageSpec(width=64, height=64, steps=2)) for i in range(4)]))
    pages, _, status = c.predict(None, api_name="/list_pages")
    assert status.startswith("Pictures: Stable Diffusion")
    page_ids = [value for _, value in pages["choices"]]
    c.predict(page_ids[1], "reading together", api_name="/choose_pose")
    before = services.store.get("local", drop["value"]).pages[1].image.control.pose
    c.predict(page_ids[1], 0, api_name="/mirror_person")  # edit the pose: mirror the first person
    assert services.store.get("local", drop["value"]).pages[1].image.control.pose != before
    form = [_plain(v) for v in c.predict(page_ids[1], api_name="/show_page")[FORM]]
    form[2], form[3] = 7, True  # seed 7, locked: seeds 7, 8, 9
    gallery, variant, _, status, seed_after = c.predict(page_ids[1], 3, *form, api_name="/generate_variants")
    assert "(seeds 7, 8, 9)" in status and seed_after == 7  # kept: the lock is ticked
    c.predict(page_ids[1], variant["choices"][1][1], api_name="/choose_variant")
    overview, message = c.predict(api_name="/illustrate_book")
    assert message.startswith("3 pages illustrated") and len(overview) == 4
    book = services.store.get("local", drop["value"])
    assert all(p.chosen_image().backend == "diffusers" for p in book.pages)
    assert book.pages[1].chosen_image().params["spec"]["seed"] == 8
    assert book.pages[1].chosen_image().params["spec"]["control"]["kind"] == "openpose"


def test_stop_button_cancels_the_whole_book_job_within_a_step(launch_app, client_for, tiny_models):  # noqa: F811
    import time

    url, services = launch_app(sd_model=str(tiny_models.sd))
    c = client_for(url)
    drop, *_ = c.predict("Long", "", "en", 4, api_name="/create_book")
    services.store.update("local", drop["value"], lambda b: setattr(b, "pages", [
        Page(text=f"page {i}", image=ImageSpec(width=64, height=64, steps=40)) for i in range(4)]))
    c.predict(None, api_name="/list_pages")
    job = c.submit(api_name="/illustrate_book")
    deadline = time.time() + 60
    while not any(v.backend for p in services.store.get("local", drop["value"]).pages for v in p.variants):
        assert time.time() < deadline, "the first page never finished"
        time.sleep(0.05)
    started = time.time()
    assert "Stopping" in c.predict(api_name="/cancel_illustration")  # not stuck behind the GPU queue
    job.result(timeout=60)
    assert any("Stopped" in said for said in toasts(job))
    assert time.time() - started < 10
    book = services.store.get("local", drop["value"])
    # page 2 was stopped part-way (not finished first), page 1 is kept, nothing half-made is stored
    assert [len(p.variants) for p in book.pages] == [1, 0, 0, 0] and book.pages[0].chosen_image()


def test_a_typed_seed_is_used_as_typed_and_random_gives_others(launch_app, client_for):
    url, services = launch_app()
    c = client_for(url)
    drop, *_ = c.predict("Seeds", "", "en", 4, api_name="/create_book")
    services.store.update("local", drop["value"], lambda b: setattr(b, "pages", [
        Page(text="one", image=ImageSpec(width=64, height=64))]))
    pages, *_ = c.predict(None, api_name="/list_pages")
    page_id = pages["value"]
    form = [_plain(v) for v in c.predict(page_id, api_name="/show_page")[FORM]]
    assert form[2] == -1  # a new page's seed is "a new one each time", not 0 like every other page
    form[2], form[3] = 12345, False  # typed, not kept
    _, variant, _, status, seed_after = c.predict(page_id, 3, *form, api_name="/generate_variants")
    page = services.store.get("local", drop["value"]).pages[0]
    assert [v.params["spec"]["seed"] for v in page.variants] == [12345, 12346, 12347]
    assert "(seeds 12345, 12346, 12347)" in status
    assert seed_after != 12345  # not kept: the next press makes other pictures
    form[2] = -1  # "a new one each time"
    _, _, _, status, seed_after = c.predict(page_id, 3, *form, api_name="/generate_variants")
    seeds = [v.params["spec"]["seed"] for v in services.store.get("local", drop["value"]).pages[0].variants[3:]]
    assert len(seeds) == 3 and not set(seeds) & {12345, 12346, 12347, -1} and seed_after == -1


def test_a_deleted_books_pictures_are_no_longer_served(launch_app, client_for):
    """The browser's copy of a page picture is the file the web server hands out (no second copy
    in its cache): once the book is deleted, its picture URL is refused at once."""
    import httpx

    url, services = launch_app()
    c = client_for(url)
    book_id = c.predict("눈 내리는 밤", "", "ko", 4, api_name="/create_book")[0]["value"]
    services.store.update("local", book_id, lambda b: setattr(b, "pages", [
        Page(text="눈이 와요", illustration_prompt="snow at night", image=ImageSpec(width=128, height=96))
        for _ in range(4)]))
    c.predict(None, api_name="/list_pages")
    overview, _ = c.predict(api_name="/illustrate_book")
    picture_url = overview[0]["image"]["url"]
    shown = httpx.get(picture_url)
    assert shown.status_code == 200 and shown.content[:8] == b"\x89PNG\r\n\x1a\n"
    c.predict(book_id, api_name="/delete_book")
    assert httpx.get(picture_url).status_code in (403, 404)  # Gradio refuses a path it has no file for
