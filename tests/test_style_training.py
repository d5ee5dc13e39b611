"""A family's own drawing style through the studio's services on the tiny SD model: pictures without
faces kept and centre-cropped with the style caption, a style LoRA trained and registered for its
owner only (another visitor neither sees nor uses it), and a page drawn with it changes. Also: the
book's memory photos as the photos to train on."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio import illustrate, likeness, style_presets, style_training
from studio.book import Character, ImageSpec, Page
from studio.config import Settings
from studio.images import to_png_bytes
from studio.photos import PrepOptions
from studio.services import build_services
from studio.train_lora import LoraOptions, LoraTrainingRefused
from likeness_fixtures import one_thread  # noqa: F401  (autouse)
from test_photos_prep import drawn_face
from tiny_sd import pixels, tiny_models  # noqa: F401  (session fixture)


def drawing(seed: int, size=(320, 240)) -> Image.Image:
    """A bright crayon-like drawing with no one in it: strokes and blobs placed by ``seed``."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(170, 250, 3)))
    d = ImageDraw.Draw(img)
    for _ in range(14):
        x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
        w, h = rng.integers(20, 90, 2)
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([x, y, x + w, y + h], fill=colour, outline=(20, 20, 20),
                                                            width=3)
    return img


def drawings(folder, count: int, start: int = 0) -> list[tuple[str, object]]:
    files = []
    for i in range(start, start + count):
        path = folder / f"drawing{i}.png"
        drawing(i).save(path)
        files.append((path.name, path))
    return files


@pytest.fixture
def studio(tiny_models, tmp_path):  # noqa: F811
    services = build_services(Settings(data_dir=tmp_path / "data", sd_model=str(tiny_models.sd), device="cpu"))
    book = services.store.create("local", "Crayons", page_count=4)

    def setup(b):
        b.characters.append(Character(name="Grandma", description="an old woman"))
        b.pages.append(Page(characters=["Grandma"], illustration_prompt="a garden",
                            image=ImageSpec(width=64, height=64, steps=2, seed=1, seed_locked=True)))

    book = services.store.update("local", book.id, setup)
    yield services, book
    services.close()


def style_options(steps=4) -> LoraOptions:
    return LoraOptions(rank=4, learning_rate=2e-2, steps=steps, batch_size=2, resolution=64, save_every=100,
                       gradient_checkpointing=False)


def test_a_style_trained_from_drawings_is_offered_to_its_owner_only_and_changes_the_page(studio, tmp_path, monkeypatch):
    services, book = studio
    files = drawings(tmp_path, 3)
    options = PrepOptions(resolution=64, min_side=128)
    prepared = style_training.prepare_for_style(services, "local", "crayonish", files, options)
    assert [p.kept for p in prepared] == [True] * 3  # no face needed for a style
    assert prepared[0].caption == "an illustration in crayonish style" and prepared[0].crop.size == (64, 64)
    assert prepared[0].crop_box == (40, 0, 280, 240)  # the centre square of a 320x240 drawing
    assert style_training.saved_style_captions(services, "local", "crayonish") == [p.caption for p in prepared]

    request = style_training.StyleRequest(name="Our crayons", trigger="crayonish", options=style_options())
    events = list(style_training.train_style_lora(services, "local", request))
    assert events[-1].payload["event"] == "registered" and "Our crayons" in events[-1].text("en")
    style_id = events[-1].payload["style_id"]
    mine = style_presets.owner_styles(services, "local")
    assert list(mine) == [style_id] and mine[style_id].name_en == "Our crayons"
    assert style_presets.owner_styles(services, "someone-else") == {}  # never offered to another visitor
    assert style_id not in illustrate.styles()  # nor among the bundled presets everybody sees

    page = book.pages[-1]
    styled = style_presets.apply_style(services, "local", page.image, style_id)
    assert styled.style == style_id and len(styled.loras) == 1 and styled.loras[0].name == "Our crayons"
    with pytest.raises(LoraTrainingRefused, match="no longer among your styles"):
        style_presets.apply_style(services, "someone-else", page.image, style_id)
    with monkeypatch.context() as m:  # picked again: the media already holds it, nothing is hashed again
        m.setattr(type(services.store.media_for("local")), "put_file", lambda *a, **k: pytest.fail("re-hashed"))
        assert style_presets.apply_style(services, "local", page.image, style_id).loras[0].ref == styled.loras[0].ref

    styled.steps = 2  # the tiny model: two steps are enough to see the LoRA
    with_style = illustrate.generate_variants(services, "local", book.id, page.id, styled)[0]
    used = with_style.params["spec"]
    assert used["prompt"].startswith("illustration in crayonish style, an old woman") and "a garden" in used["prompt"]
    assert [lo["ref"] for lo in used["loras"]] == [styled.loras[0].ref]
    plain = illustrate.generate_variants(services, "local", book.id, page.id, styled.__class__.from_dict(
        {**styled.to_dict(), "loras": []}))[0]
    assert plain.params["spec"]["prompt"] == used["prompt"]  # the same words: only the LoRA differs
    assert np.abs(pixels(services, with_style) - pixels(services, plain)).max() > 0

    # choosing a bundled style afterwards takes the own style's LoRA off the page
    assert style_presets.apply_style(services, "local", styled, "watercolor").loras == []

    # renamed, then deleted: the page that used it goes back to the default style, its LoRA taken off
    assert style_presets.rename_style(services, "local", style_id, "  Crayons  by Mina ").name_en == "Crayons by Mina"
    with pytest.raises(LoraTrainingRefused):
        style_presets.rename_style(services, "local", style_id, "   ")
    illustrate.save_spec(services, "local", book.id, page.id, styled)
    assert style_presets.delete_style(services, "someone-else", style_id) is None
    assert style_presets.delete_style(services, "local", style_id) == 1
    assert style_presets.owner_styles(services, "local") == {}
    kept = services.store.get("local", book.id).page(page.id).image
    assert kept.style == "" and kept.loras == []
    assert style_presets.delete_style(services, "local", style_id) is None


def test_a_style_needs_pictures_and_a_good_trigger_word(studio, tmp_path):
    services, _ = studio
    (tmp_path / "notes.png").write_text("not a picture")
    results = style_training.prepare_for_style(services, "local", "crayonish", [("notes.png", tmp_path / "notes.png")],
                                               PrepOptions(resolution=64, min_side=128))
    assert not results[0].kept
    request = style_training.StyleRequest(name="x", trigger="crayonish", options=style_options())
    with pytest.raises(LoraTrainingRefused, match="no usable pictures of the style"):
        list(style_training.train_style_lora(services, "local", request))
    for bad in ("two words", "../x", "", "크레용"):
        with pytest.raises(LoraTrainingRefused, match="trigger word"):
            style_training.style_dir(services, "local", bad)


def test_photos_of_a_person_as_a_style_need_the_familys_consent(studio, tmp_path):
    """A "style" learnt from photos of a face learns that face: from a third of the pictures with
    a real face on, training waits for the consent form; drawings alone need none."""
    from studio.book import Consent

    services, _ = studio
    files = drawings(tmp_path, 3)
    for i in range(3):
        path = tmp_path / f"face{i}.png"
        drawn_face(seed=i, centre=(260 + 60 * i, 300), r=90 + 15 * i,
                   background=((120, 150, 170), (200, 160, 120), (90, 170, 110))[i]).save(path)
        files.append((path.name, path))
    results = style_training.prepare_for_style(services, "local", "crayonish", files, PrepOptions(resolution=64))
    assert [r.shows_face for r in results if r.kept] == [False, False, False, True, True, True]
    request = style_training.StyleRequest(name="Faces", trigger="crayonish", options=style_options())
    with pytest.raises(LoraTrainingRefused, match="3 of these 6 pictures show a person's face") as refused:
        list(style_training.train_style_lora(services, "local", request))
    assert "동의서" in refused.value.render("ko")
    assert style_presets.owner_styles(services, "local") == {}  # nothing trained, nothing registered
    folder = style_training.style_dir(services, "local", "crayonish") / "dataset"
    agreed = Consent(given_by="Mina", relation="granddaughter", date="2026-11-30", statement="We agree.")
    style_training.check_style_consent(folder, agreed)  # with the form filled in, it may go on

    style_training.prepare_for_style(services, "local", "crayonish", drawings(tmp_path, 4, start=10),
                                     PrepOptions(resolution=64))
    style_training.check_style_consent(folder, None)  # drawings only: no consent asked


def test_a_person_file_is_not_registered_as_a_style(studio, tmp_path):
    from studio.lora_export import write_lora

    services, _ = studio
    import torch

    from studio.lora_export import lora_metadata

    path = write_lora(tmp_path / "person.safetensors", {"x": torch.zeros(1)}, lora_metadata({"subject": "person"}))
    with pytest.raises(LoraTrainingRefused, match="not trained as a drawing style"):
        style_presets.register_style(services, "local", path, "Grandma")


def test_the_books_memory_photos_are_prepared_like_uploads(studio, tmp_path):
    services, book = studio
    with pytest.raises(LoraTrainingRefused, match="no memory photos"):
        likeness.memory_photo_files(services, "local", book.id)
    media = services.store.media_for("local")
    refs = [media.put_bytes(to_png_bytes(drawn_face((300, 300), centre=c, r=60, seed=i)), "png")
            for i, c in enumerate([(160, 150), (120, 130), (170, 120)])]
    refs.append(media.put_bytes(to_png_bytes(drawing(7)), "png"))  # a memory photo with nobody in it
    refs.append("f" * 64 + ".png")  # a ref this owner does not hold is never read
    services.store.update("local", book.id, lambda b: setattr(b.memories, "photos", refs))

    named = likeness.memory_photo_files(services, "local", book.id)
    assert [n for n, _ in named] == ["memory 1", "memory 2", "memory 3", "memory 4"]
    options = PrepOptions(resolution=64, min_side=128, token="ohwx", class_word="grandmother")
    grandma = book.characters[0].id
    results = likeness.prepare_for_character(services, "local", book.id, grandma, named, options)
    assert [r.reason for r in results] == ["likeness.kept"] * 3 + ["likeness.reject_no_face"]
    assert likeness.saved_captions(services, "local", book.id, grandma) == ["a photo of ohwx grandmother"] * 3


def test_without_mediapipe_faces_in_a_style_are_still_found(studio, tmp_path, monkeypatch):
    """A Space installs no --no-deps packages: without BlazeFace the cascade looks for faces, so
    photos of a person still wait for the family's consent."""
    from studio.backends import pose_mediapipe

    monkeypatch.setattr(pose_mediapipe, "mediapipe_missing", lambda: ["mediapipe"])
    services, _ = studio
    files = drawings(tmp_path, 2)
    for i in range(2):
        path = tmp_path / f"face{i}.png"
        drawn_face(seed=i, centre=(260 + 60 * i, 300), r=100).save(path)
        files.append((path.name, path))
    results = style_training.prepare_for_style(services, "local", "crayonish", files, PrepOptions(resolution=64))
    assert [r.shows_face for r in results if r.kept] == [False, False, True, True]
    request = style_training.StyleRequest(name="Faces", trigger="crayonish", options=style_options())
    with pytest.raises(LoraTrainingRefused, match="show a person's face"):
        list(style_training.train_style_lora(services, "local", request))
