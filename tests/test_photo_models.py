"""The optional photo models, run through the studio's own loading code on tiny models built from
config and saved to a temp folder (HF_HUB_OFFLINE=1): a BLIP captioner whose words land in each
kept photo's caption, and a YOLOS person detector whose box is used for the crop when no face is
found, and for VitPose's person box. A configured model that is not there stops the preparation
with a message naming it, before anything is written."""
from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from studio import likeness, photo_models, photos
from studio.backends.base import BackendError
from studio.book import Character
from studio.config import Settings
from studio.services import build_services
from likeness_fixtures import one_thread  # noqa: F401  (autouse)
from test_photos_prep import drawn_face, landscape, save_jpeg

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "woman", "sitting", "on", "bench", "park", "photo",
         "of", "garden", "smiling", "[DEC]"]
PERSON_BOX = (0.5, 0.55, 0.3, 0.7)  # centre x, centre y, width, height: fractions of the photo


def build_blip(folder):
    """A tiny BLIP captioner with a word-level vocabulary, saved the way a hub repo is."""
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"))
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    text = dict(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                intermediate_size=37, max_position_embeddings=64, bos_token_id=tokenizer.bos_token_id,
                pad_token_id=0, sep_token_id=3, eos_token_id=3)
    vision = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, image_size=32,
                  patch_size=8)
    torch.manual_seed(0)
    BlipForConditionalGeneration(BlipConfig(text_config=text, vision_config=vision, projection_dim=32)) \
        .save_pretrained(folder)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                  tokenizer=tokenizer).save_pretrained(folder)
    return folder


def build_yolos(folder, person_label="person"):
    """A tiny YOLOS detector whose every detection token says "person" at ``PERSON_BOX``: its
    heads' last layers are zero with biases set to that answer (the rest of it is random)."""
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessor

    labels = {0: "N/A", 1: person_label, 2: "dog"}
    config = YolosConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                         image_size=[64, 64], patch_size=16, num_detection_tokens=3, id2label=labels,
                         label2id={v: k for k, v in labels.items()})
    torch.manual_seed(0)
    model = YolosForObjectDetection(config)
    with torch.no_grad():
        classes, boxes = model.class_labels_classifier.layers[-1], model.bbox_predictor.layers[-1]
        classes.weight.zero_(), boxes.weight.zero_()
        classes.bias.copy_(torch.tensor([-8.0, 8.0, -8.0, -8.0]))  # N/A, person, dog, no object
        boxes.bias.copy_(torch.tensor([math.log(v / (1 - v)) for v in PERSON_BOX]))  # sigmoid -> the box
    model.save_pretrained(folder)
    YolosImageProcessor(size={"shortest_edge": 64, "longest_edge": 64}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("photo_models")
    return {"blip": build_blip(root / "blip"), "yolos": build_yolos(root / "yolos")}


@pytest.fixture(autouse=True)
def fresh_models():
    photo_models.forget()
    yield
    photo_models.forget()


def expected_box(width: int, height: int) -> tuple[int, int, int, int]:
    cx, cy, w, h = PERSON_BOX
    return (int((cx - w / 2) * width), int((cy - h / 2) * height),
            int(round((cx + w / 2) * width)), int(round((cy + h / 2) * height)))


def test_the_captioner_is_loaded_from_its_folder_and_its_words_join_the_caption(tiny, tmp_path):
    from transformers import BlipForConditionalGeneration, BlipProcessor

    settings = Settings(data_dir=tmp_path / "data", caption_model=str(tiny["blip"]), device="cpu")
    models = photo_models.for_settings(settings)
    assert models.captioner is not None and models.detector is None
    save_jpeg(drawn_face(), tmp_path / "grandma.jpg")
    options = photos.PrepOptions(token="ohwx", class_word="grandmother")
    [photo] = photos.prepare_photos([("grandma.jpg", tmp_path / "grandma.jpg")], options, models=models)
    assert photo.kept and photo.caption.startswith("a photo of ohwx grandmother, ")
    # the same words the model itself says about this crop (loaded here independently)
    processor = BlipProcessor.from_pretrained(str(tiny["blip"]), local_files_only=True)
    model = BlipForConditionalGeneration.from_pretrained(str(tiny["blip"]), local_files_only=True).eval()
    tokens = model.generate(**processor(images=photo.crop, return_tensors="pt"), max_new_tokens=30)
    said = processor.decode(tokens[0], skip_special_tokens=True)
    assert said.strip() and photo.caption == f"a photo of ohwx grandmother, {photo_models.clean_caption(said)}"
    assert set(photo.caption.split(", ", 1)[1].split()) <= set(VOCAB)
    # without a captioner: the template alone
    [plain] = photos.prepare_photos([("grandma.jpg", tmp_path / "grandma.jpg")], options)
    assert plain.caption == "a photo of ohwx grandmother"


def test_model_words_are_one_capped_line():
    assert photo_models.clean_caption("  a woman ,\n sitting . ") == "a woman , sitting"
    assert len(photo_models.clean_caption("word " * 200)) <= photo_models.MAX_CAPTION_CHARS


def test_the_person_detector_finds_her_where_no_face_is_seen(tiny, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", person_detector=str(tiny["yolos"]), device="cpu")
    models = photo_models.for_settings(settings)
    save_jpeg(landscape(), tmp_path / "garden.jpg")  # nobody a face detector would see
    options = photos.PrepOptions(token="ohwx", class_word="grandmother")
    [without] = photos.prepare_photos([("garden.jpg", tmp_path / "garden.jpg")], options)
    assert without.reason == photos.REJECT_NO_FACE
    [photo] = photos.prepare_photos([("garden.jpg", tmp_path / "garden.jpg")], options, models=models)
    assert photo.kept and photo.detector == "person_detector"
    box = expected_box(640, 480)
    assert all(abs(a - b) <= 2 for a, b in zip(photo.source_box, box))
    x0, y0, x1, y1 = photo.crop_box
    assert x0 <= photo.source_box[0] and y0 <= photo.source_box[1]
    assert x1 >= photo.source_box[2] and y1 >= photo.source_box[3]  # the whole person is in the crop
    assert x1 - x0 < 480  # and it is her crop, not the photo's centre square


def test_a_face_still_comes_first_when_there_is_one(tiny, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", person_detector=str(tiny["yolos"]), device="cpu")
    save_jpeg(drawn_face(), tmp_path / "grandma.jpg")
    [photo] = photos.prepare_photos([("grandma.jpg", tmp_path / "grandma.jpg")], photos.PrepOptions(),
                                    models=photo_models.for_settings(settings))
    assert photo.kept and photo.detector != "person_detector"


def test_the_pose_box_comes_from_the_person_detector(tiny, tmp_path):
    from studio.backends.pose_transformers import person_box

    image = Image.new("RGB", (300, 200), (90, 120, 150))
    settings = Settings(data_dir=tmp_path / "data", person_detector=str(tiny["yolos"]), device="cpu")
    x0, y0, x1, y1 = expected_box(300, 200)
    assert [round(v) for v in person_box(image, settings)] == [x0, y0, x1 - x0, y1 - y0]
    plain = Settings(data_dir=tmp_path / "data", device="cpu")
    assert person_box(image, plain) == [0.0, 0.0, 300.0, 200.0]  # nobody found: the whole photo


def test_a_detector_without_a_person_class_is_refused(tmp_path):
    folder = build_yolos(tmp_path / "no_person", person_label="cat")
    detector = photo_models.PersonDetector(Settings(data_dir=tmp_path / "data", person_detector=str(folder),
                                                    device="cpu"))
    with pytest.raises(BackendError) as err:
        detector.people(Image.new("RGB", (64, 64)))
    assert err.value.key == "likeness.detector_no_person" and "person" in err.value.render("en")


@pytest.mark.parametrize("setting, key", [("caption_model", "likeness.caption_model_missing"),
                                          ("person_detector", "likeness.detector_model_missing")])
@pytest.mark.parametrize("source", ["/nowhere/model", "someone/not-downloaded-model"])
def test_a_configured_model_that_is_missing_stops_before_anything_is_written(tmp_path, setting, key, source,
                                                                            monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    services = build_services(Settings(data_dir=tmp_path / "data", device="cpu", **{setting: source}))
    try:
        book = services.store.create("local", "Grandma", page_count=4)
        book = services.store.update("local", book.id, lambda b: b.characters.append(Character(name="Grandma")))
        character_id = book.characters[0].id
        save_jpeg(drawn_face(), tmp_path / "grandma.jpg")
        with pytest.raises(BackendError) as err:
            likeness.prepare_for_character(services, "local", book.id, character_id,
                                           [("grandma.jpg", tmp_path / "grandma.jpg")], photos.PrepOptions())
        assert err.value.key == key
        assert source in err.value.render("en") and source in err.value.render("ko")
        assert "GIEOK" not in err.value.render("en") + err.value.render("ko")
        assert not likeness.training_dir(services, "local", book.id, character_id).exists()
    finally:
        services.close()


def test_the_caption_flows_through_prepare_for_character(tiny, tmp_path):
    services = build_services(Settings(data_dir=tmp_path / "data", device="cpu", caption_model=str(tiny["blip"])))
    try:
        book = services.store.create("local", "Grandma", page_count=4)
        book = services.store.update("local", book.id, lambda b: b.characters.append(Character(name="Grandma")))
        character_id = book.characters[0].id
        save_jpeg(drawn_face(), tmp_path / "grandma.jpg")
        options = photos.PrepOptions(token="ohwx", class_word="grandmother")
        [photo] = likeness.prepare_for_character(services, "local", book.id, character_id,
                                                 [("grandma.jpg", tmp_path / "grandma.jpg")], options)
        saved = likeness.saved_captions(services, "local", book.id, character_id)
        assert saved == [photo.caption] and len(photo.caption) > len("a photo of ohwx grandmother, ")
    finally:
        services.close()


def test_a_model_folder_that_cannot_be_loaded_says_so(tmp_path):
    folder = tmp_path / "broken_blip"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "blip"}', encoding="utf-8")  # no weights, no processor
    captioner = photo_models.PhotoCaptioner(Settings(data_dir=tmp_path / "data", caption_model=str(folder),
                                                     device="cpu"))
    captioner.check()  # the folder looks like a model folder...
    with pytest.raises(BackendError) as err:  # ...but loading it fails, with a message naming it
        captioner.describe(Image.new("RGB", (64, 64)))
    assert err.value.key == "likeness.caption_model_unreadable" and str(folder) in err.value.render("ko")
