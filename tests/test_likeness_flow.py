"""The likeness flow through the studio's services on the tiny SD model: prepared photos -> a LoRA
trained in a window, resumed from the saved set, attached to the character with her trigger word
and consent, and used on every page she is on. Consent missing -> nothing written."""
from __future__ import annotations

import pytest

from studio import illustrate, likeness
from studio.book import Character, ImageSpec, Page
from studio.config import Settings
from studio.photos import PrepOptions, prepare_photos
from studio.services import build_services
from studio.train_lora import LoraOptions, LoraTrainingRefused
from likeness_fixtures import CONSENT, one_thread  # noqa: F401  (autouse)
from test_photos_prep import drawn_face
from tiny_sd import tiny_models  # noqa: F401  (session fixture)



@pytest.fixture
def family(tiny_models, tmp_path):  # noqa: F811
    services = build_services(Settings(data_dir=tmp_path / "data", sd_model=str(tiny_models.sd)))
    grandma = Character(name="Grandma", description="an old woman with grey hair", relation="grandmother")

    def setup(book):
        book.characters.append(grandma)
        book.pages.append(Page(characters=["Grandma"], illustration_prompt="a garden",
                               image=ImageSpec(width=64, height=64, steps=2, seed=1, seed_locked=True)))

    book = services.store.create("local", "Grandma", page_count=4)
    book = services.store.update("local", book.id, setup)
    files = []
    for i, (centre, background) in enumerate([((160, 150), (120, 150, 170)), ((120, 130), (190, 170, 140)),
                                              ((170, 120), (150, 190, 150))]):
        path = tmp_path / f"p{i}.jpg"
        drawn_face((300, 300), centre=centre, r=60, seed=i, background=background).save(path, quality=92)
        files.append((f"p{i}.jpg", path))
    photos = prepare_photos(files, PrepOptions(resolution=64, min_side=128, token="ohwx", class_word="grandmother"))
    assert [p.kept for p in photos] == [True, True, True]
    yield services, book, photos
    services.close()


def request(book, photos, consent=CONSENT, steps=3) -> likeness.LikenessRequest:
    options = LoraOptions(rank=4, learning_rate=5e-3, steps=steps, batch_size=2, resolution=64, save_every=100,
                          gradient_checkpointing=False)
    return likeness.LikenessRequest(character_id=book.characters[0].id, trigger="ohwx", options=options,
                                    photos=photos, consent=consent)


def test_photos_to_a_character_lora_used_on_her_pages(family):
    services, book, photos = family
    first = list(likeness.train_character_lora(services, "local", book.id, request(book, photos), max_steps=2))
    assert first[-1].payload["event"] == "paused"
    assert not services.store.get("local", book.id).characters[0].lora  # not attached before it is done
    # a restart: the uploads are gone, the saved set and checkpoint carry on
    events = list(likeness.train_character_lora(services, "local", book.id, request(book, [])))
    assert events[0].payload["resumed"] and [e.payload["step"] for e in events if e.payload["event"] == "step"] == [3]
    assert events[-1].payload["event"] == "attached"
    grandma = services.store.get("local", book.id).characters[0]
    assert grandma.lora and grandma.trigger_word == "ohwx" and grandma.consent == CONSENT
    assert grandma.description == "ohwx, an old woman with grey hair"
    assert services.store.media_for("local").path(grandma.lora).is_file()

    book = services.store.get("local", book.id)
    page = book.pages[-1]
    variant = illustrate.generate_variants(services, "local", book.id, page.id, page.image)[0]
    used = variant.params["spec"]
    assert [lo["ref"] for lo in used["loras"]] == [grandma.lora]
    assert used["prompt"].startswith("ohwx, an old woman") and "a garden" in used["prompt"]  # the sheet first, then the page
    assert len(services.backends.get("illustrator", "diffusers").loaded_adapters()) == 1
    # the next estimate uses this machine's measured speed for the same kind of training
    options = request(book, []).options
    options.device = "cpu"
    seconds = likeness.estimate_seconds(services, options, "SD 1.x")
    assert seconds is not None and seconds > 0
    options.rank = 16
    assert likeness.estimate_seconds(services, options, "SD 1.x") is None  # never measured here


def test_new_settings_start_a_new_training_and_say_so(family):
    services, book, photos = family
    list(likeness.train_character_lora(services, "local", book.id, request(book, photos), max_steps=1))
    changed = request(book, [])
    changed.options.rank = 8
    events = list(likeness.train_character_lora(services, "local", book.id, changed, max_steps=1))
    assert events[0].payload["restarted"] and not events[0].payload["resumed"]
    assert events[0].message == "likeness.restarted" and "started again" in events[0].text("en")
    assert [e.payload["step"] for e in events if e.payload["event"] == "step"] == [1]


def test_without_consent_nothing_is_written(family):
    services, book, photos = family
    with pytest.raises(LoraTrainingRefused, match="consent"):
        list(likeness.train_character_lora(services, "local", book.id, request(book, photos, consent=None)))
    assert not (services.settings.data_dir / "training").exists()
    assert not likeness.training_dir(services, "local", book.id, book.characters[0].id).exists()
    assert not services.store.get("local", book.id).characters[0].lora


def test_a_bad_trigger_or_an_unknown_character_is_refused(family):
    services, book, photos = family
    bad = request(book, photos)
    bad.trigger = "oh wx!"
    with pytest.raises(LoraTrainingRefused, match="trigger"):
        list(likeness.train_character_lora(services, "local", book.id, bad))
    other = request(book, photos)
    other.character_id = "nobody"
    with pytest.raises(LoraTrainingRefused, match="character"):
        list(likeness.train_character_lora(services, "local", book.id, other))
    for sneaky in ("../../../x", "a/b", ""):  # ids reach paths: only real ids are accepted
        with pytest.raises(LoraTrainingRefused, match="character"):
            likeness.training_dir(services, "local", book.id, sneaky)
        with pytest.raises(LoraTrainingRefused, match="character"):
            likeness.set_captions(services, "local", book.id, sneaky, ["x"], "ohwx")
    assert not (services.settings.data_dir / "training").exists()
    assert not likeness.training_dir(services, "local", book.id, book.characters[0].id).exists()


def test_deleting_an_owner_removes_their_training_photos(family):
    services, book, photos = family
    character_id = book.characters[0].id
    likeness.save_dataset(likeness.training_dir(services, "local", book.id, character_id) / "dataset", photos)
    folder = likeness.training_dir(services, "local", book.id, character_id)
    assert (folder / "dataset" / "000.png").is_file()
    assert services.store.delete_owner("local")
    assert not folder.exists()  # the visitor's photos and face crops leave with the owner
    assert not any(services.settings.data_dir.rglob("*.png"))
