"""IP-Adapter FaceID on tiny parts built from config: adapter weights in the published FaceID layout
(``image_proj.proj.0/2`` + ``image_proj.norm``: the MLP projection of a 512-number face identity;
``ip_adapter.<n>.to_k_ip/to_v_ip``), loaded by the illustrator through diffusers'
``load_ip_adapter``, with a fake face-embedding provider in place of insightface (whose models
need a download and are licensed for non-commercial use only). Her identity changes the picture;
scale 0 is the picture without the adapter; without insightface the switch says why, in the
visitor's language, and the licence is always shown next to it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from studio import likeness
from studio.backends import faceid
from studio.backends.base import Availability, BackendError, IllustrationRequest
from studio.backends.diffusers_sd import DiffusersIllustrator
from studio.backends.faceid import FaceIdLikeness
from studio.book import Character, ImageSpec, Page
from studio.config import Settings
from studio.messages import text
from studio.services import build_services
from studio.train_lora import LoraTrainingRefused
from likeness_fixtures import CONSENT, one_thread  # noqa: F401  (autouse)
from test_photos_prep import drawn_face
from tiny_sd import ip_adapter_attention_weights, tiny_models  # noqa: F401  (session fixture)


class FakeFaceEmbedder:
    """Stands in for insightface: a fixed identity per photo (from its mean colour), and it counts."""

    def __init__(self) -> None:
        self.calls = 0

    def available(self) -> Availability:
        return Availability.yes()

    def embed(self, image):
        self.calls += 1
        seed = int(np.asarray(image.convert("RGB")).mean() * 1000)
        vector = np.random.default_rng(seed).normal(size=faceid.EMBEDDING_SIZE).astype(np.float32)
        return vector / np.linalg.norm(vector)


def make_faceid_adapter(unet_folder, path, tokens: int = 4, with_lora: bool = False):
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    torch.manual_seed(1)
    unet = UNet2DConditionModel.from_pretrained(unet_folder, local_files_only=True)
    cross, inner = unet.config.cross_attention_dim, 2 * faceid.EMBEDDING_SIZE  # the published mult=2
    weights = {"image_proj.proj.0.weight": torch.randn(inner, faceid.EMBEDDING_SIZE) * 0.3,
               "image_proj.proj.0.bias": torch.zeros(inner),
               "image_proj.proj.2.weight": torch.randn(cross * tokens, inner) * 0.3,
               "image_proj.proj.2.bias": torch.zeros(cross * tokens),
               "image_proj.norm.weight": torch.ones(cross), "image_proj.norm.bias": torch.zeros(cross),
               **ip_adapter_attention_weights(unet, cross, q_lora_rank=4 if with_lora else 0)}
    save_file(weights, str(path))
    return path


@pytest.fixture
def fake_embedder(monkeypatch):
    fake = FakeFaceEmbedder()
    monkeypatch.setattr(faceid, "embedder_for", lambda settings: fake)
    return fake


@pytest.fixture(scope="module")
def adapter_file(tiny_models, tmp_path_factory):  # noqa: F811
    return make_faceid_adapter(tiny_models.sd / "unet", tmp_path_factory.mktemp("faceid") / "faceid_tiny.safetensors")


def settings_for(tiny_models, tmp_path, adapter=None) -> Settings:  # noqa: F811
    extra = {"ip_adapter_faceid": str(adapter)} if adapter else {}
    return Settings(data_dir=tmp_path / "data", sd_model=str(tiny_models.sd), device="cpu", **extra)


def picture(illustrator, reference=None, scale=0.0, faceid_on=True, guidance=5.0) -> np.ndarray:
    spec = ImageSpec(width=64, height=64, steps=2, guidance=guidance, seed=3)
    request = IllustrationRequest(spec=spec, prompt="a grandmother in a garden", reference_image=reference,
                                  reference_scale=scale, reference_faceid=faceid_on and reference is not None)
    return np.asarray(illustrator.illustrate(request), np.float32)


def test_her_identity_changes_the_picture_and_scale_zero_is_no_adapter(tiny_models, adapter_file, tmp_path,  # noqa: F811
                                                                        fake_embedder):
    plain = picture(DiffusersIllustrator(settings_for(tiny_models, tmp_path)))
    illustrator = DiffusersIllustrator(settings_for(tiny_models, tmp_path, adapter_file))
    assert FaceIdLikeness(illustrator.settings).available().ok
    grandma = drawn_face((256, 256), centre=(128, 120), r=60)
    other = drawn_face((256, 256), centre=(128, 120), r=60, background=(30, 200, 60), seed=5)
    with_her = picture(illustrator, grandma, 1.0)
    assert fake_embedder.calls == 1  # the identity came from the embedder
    assert np.abs(with_her - plain).max() > 8  # her identity steers the picture
    assert np.abs(picture(illustrator, other, 1.0) - with_her).max() > 8  # and it is her identity that does
    np.testing.assert_allclose(picture(illustrator, grandma, 0.0), plain, atol=1.0)  # scale 0 = no adapter
    np.testing.assert_allclose(picture(illustrator), plain, atol=1.0)  # a page without her, adapter still on
    np.testing.assert_array_equal(picture(illustrator, grandma, 1.0), with_her)  # same photo: same picture
    assert fake_embedder.calls == 3  # grandma, other, grandma again (one photo is remembered at a time)
    unguided = picture(illustrator, grandma, 1.0, guidance=1.0)  # no classifier-free guidance: one half only
    assert np.isfinite(unguided).all()
    assert illustrator.loads == 1


def test_the_published_files_lora_layers_are_left_out(tiny_models, tmp_path):  # noqa: F811
    path = make_faceid_adapter(tiny_models.sd / "unet", tmp_path / "with_lora.safetensors", with_lora=True)
    parts = faceid.faceid_state_dict(path)
    assert parts["image_proj"]["proj.0.weight"].shape[1] == faceid.EMBEDDING_SIZE
    assert parts["ip_adapter"] and not any("_lora." in k for k in parts["ip_adapter"])


def test_a_plain_ip_adapter_file_is_not_taken_for_faceid(tmp_path):
    from safetensors.torch import save_file

    save_file({"image_proj.proj.weight": torch.zeros(8, 4), "ip_adapter.1.to_k_ip.weight": torch.zeros(4, 4)},
              str(tmp_path / "plain.safetensors"))
    with pytest.raises(BackendError) as err:
        faceid.faceid_state_dict(tmp_path / "plain.safetensors")
    assert err.value.key == "likeness.faceid_not_faceid"


def test_without_insightface_the_switch_says_why_and_shows_the_licence(tiny_models, adapter_file, tmp_path,  # noqa: F811
                                                                         monkeypatch):
    monkeypatch.setattr(faceid, "missing_packages", lambda *names: ["insightface"])
    settings = settings_for(tiny_models, tmp_path, adapter_file)
    assert FaceIdLikeness(settings).available().key == "likeness.faceid_needs_insightface"
    for lang in ("en", "ko"):
        usable, note = faceid.faceid_switch(settings, lang)
        assert not usable
        assert text("likeness.faceid_needs_insightface", lang) in note  # why, in the visitor's language
        assert text("likeness.faceid_licence", lang) in note  # and the licence, always
    assert "non-commercial" in faceid.faceid_switch(settings, "en")[1]
    assert "비상업적" in faceid.faceid_switch(settings, "ko")[1]


def test_insightface_without_its_models_is_not_offered_either(tmp_path, monkeypatch):
    monkeypatch.setattr(faceid, "missing_packages", lambda *names: [])
    embedder = faceid.InsightFaceEmbedder(Settings(data_dir=tmp_path, insightface_root=str(tmp_path / "if")))
    assert embedder.available().key == "likeness.faceid_models_missing"  # nothing downloaded by surprise
    (tmp_path / "if" / "models" / "buffalo_l").mkdir(parents=True)
    (tmp_path / "if" / "models" / "buffalo_l" / "w600k_r50.onnx").write_bytes(b"onnx")
    assert embedder.available().ok


def test_with_everything_there_the_switch_is_on_with_the_licence(tiny_models, adapter_file, tmp_path,  # noqa: F811
                                                                 fake_embedder):
    usable, note = faceid.faceid_switch(settings_for(tiny_models, tmp_path, adapter_file), "ko")
    assert usable and note == text("likeness.faceid_licence", "ko")
    usable, note = faceid.faceid_switch(settings_for(tiny_models, tmp_path), "en")  # no adapter file set
    assert not usable and text("likeness.faceid_not_set", "en") in note


def test_a_faceid_reference_reaches_her_pages_and_is_refused_when_unavailable(tiny_models, adapter_file, tmp_path,  # noqa: F811
                                                                               monkeypatch):
    services = build_services(settings_for(tiny_models, tmp_path, adapter_file))
    try:
        book = services.store.create("local", "Grandma", page_count=4)

        def setup(b):
            b.characters.append(Character(name="Grandma"))
            b.pages.append(Page(characters=["Grandma"]))

        book = services.store.update("local", book.id, setup)
        grandma_id = book.characters[0].id
        drawn_face().save(tmp_path / "g.png")
        monkeypatch.setattr(faceid, "missing_packages", lambda *names: ["insightface"])
        with pytest.raises(LoraTrainingRefused) as err:
            likeness.set_reference_photo(services, "local", book.id, grandma_id, tmp_path / "g.png", CONSENT,
                                         faceid=True)
        assert "insightface" in err.value.render("en")
        assert not services.store.get("local", book.id).characters[0].reference_photo  # nothing kept
        monkeypatch.setattr(faceid, "missing_packages", lambda *names: [])
        monkeypatch.setattr(faceid, "embedder_for", lambda settings: FakeFaceEmbedder())
        character = likeness.set_reference_photo(services, "local", book.id, grandma_id, tmp_path / "g.png",
                                                 CONSENT, scale=0.8, faceid=True)
        assert character.reference_faceid
        book = services.store.get("local", book.id)
        page = book.pages[-1]
        assert likeness.reference_uses_faceid(services, book, page)
        image, scale = likeness.reference_for(services, book, page)
        assert image is not None and scale == 0.8
        services.settings.ip_adapter_faceid = ""  # FaceID not configured: the photo waits
        assert likeness.reference_for(services, book, page) == (None, 0.0)
        assert not likeness.reference_uses_faceid(services, book, page)
    finally:
        services.close()


def test_the_switch_and_the_reference_photo_through_the_app(launch_app, tiny_models, adapter_file, tmp_path,  # noqa: F811
                                                            monkeypatch):
    from gradio_client import handle_file
    from ui_helpers import client_in, refused, run

    monkeypatch.setattr(faceid, "missing_packages", lambda *names: ["insightface"])  # as on most machines
    url, services = launch_app(sd_model=str(tiny_models.sd), device="cpu", ip_adapter_faceid=str(adapter_file))
    ko = client_in(url, "ko-KR,ko;q=0.9")
    book_id = ko.predict("할머니", "", "ko", 4, api_name="/create_book")[0]["value"]
    services.store.update("local", book_id, lambda b: b.characters.append(Character(name="Grandma")))
    grandma_id = services.store.get("local", book_id).characters[0].id
    ko.predict(api_name="/likeness_refresh")  # the tab's person choice, as when the tab is opened
    (_, note), said = run(ko, api_name="/likeness_faceid_state")
    assert not said and text("likeness.faceid_needs_insightface", "ko") in note
    assert text("likeness.faceid_licence", "ko") in note
    drawn_face().save(tmp_path / "g.png")
    consent = ("민지", "손녀", "2026-11-30", "할머니 사진으로 우리 가족 책의 그림을 그리는 데 동의해요.")
    said = refused(ko, grandma_id, handle_file(str(tmp_path / "g.png")), 0.7, True, *consent,
                   api_name="/likeness_reference")
    assert text("likeness.faceid_needs_insightface", "ko") in said
    assert not services.store.get("local", book_id).characters[0].reference_photo  # nothing kept
    assert "동의" in refused(ko, grandma_id, handle_file(str(tmp_path / "g.png")), 0.7, False, "", "", "", "",
                           api_name="/likeness_reference")
    saved, said = run(ko, grandma_id, handle_file(str(tmp_path / "g.png")), 0.7, False, *consent,
                      api_name="/likeness_reference")
    grandma = services.store.get("local", book_id).characters[0]
    assert not said and saved == text("likeness.faceid_ui_saved", "ko")
    assert grandma.reference_photo and grandma.reference_scale == 0.7 and not grandma.reference_faceid


def test_one_adapter_at_a_time_when_pages_switch_between_photo_and_face(tiny_models, adapter_file, tmp_path,  # noqa: F811
                                                                         fake_embedder):
    from test_ip_adapter import make_adapter

    plain_files = make_adapter(tiny_models.sd / "unet", tmp_path)
    both = Settings(data_dir=tmp_path / "data", sd_model=str(tiny_models.sd), device="cpu",
                    ip_adapter=str(plain_files[0]), ip_adapter_image_encoder=str(plain_files[1]),
                    ip_adapter_faceid=str(adapter_file))
    grandma = drawn_face((256, 256), centre=(128, 120), r=60)
    photo_only = picture(DiffusersIllustrator(settings_for(tiny_models, tmp_path)), None)  # warm, no adapter
    only_plain = DiffusersIllustrator(Settings(**{**both.__dict__, "ip_adapter_faceid": ""}))
    by_photo = picture(only_plain, grandma, 1.0, faceid_on=False)
    by_face = picture(DiffusersIllustrator(settings_for(tiny_models, tmp_path, adapter_file)), grandma, 1.0)
    illustrator = DiffusersIllustrator(both)
    np.testing.assert_allclose(picture(illustrator, grandma, 1.0, faceid_on=False), by_photo, atol=1.0)
    np.testing.assert_allclose(picture(illustrator, grandma, 1.0), by_face, atol=1.0)
    np.testing.assert_allclose(picture(illustrator), photo_only, atol=1.0)  # FaceID on, page without her
    np.testing.assert_allclose(picture(illustrator, grandma, 1.0, faceid_on=False), by_photo, atol=1.0)
    assert np.abs(by_photo - by_face).max() > 8


def test_pages_after_a_faceid_page_go_one_call_each_with_the_adapter_at_zero(tiny_models, adapter_file, tmp_path,  # noqa: F811
                                                                            fake_embedder, monkeypatch):
    """FaceID stays on the UNet after her page: later pages without her still need its (zero) inputs,
    which are per call, so they are not batched together (diffusers refuses a call without them)."""
    illustrator = DiffusersIllustrator(settings_for(tiny_models, tmp_path, adapter_file))
    picture(illustrator, drawn_face((256, 256), centre=(128, 120), r=60), 1.0)  # puts FaceID on
    spec = ImageSpec(width=64, height=64, steps=2, guidance=5.0, seed=3)
    pages = [IllustrationRequest(spec=spec, prompt=prompt) for prompt in ("a garden", "a kitchen")]
    calls: list[int] = []
    real_call = illustrator._call

    def counted_call(pipe, requests, *rest):
        calls.append(len(requests))
        return real_call(pipe, requests, *rest)

    monkeypatch.setattr(illustrator, "_call", counted_call)
    made = illustrator.illustrate_pages(pages, [3, 4])
    assert calls == [1, 1] and len(made) == 2
    alone = [illustrator.illustrate_pages([page], [seed])[0] for page, seed in zip(pages, [3, 4])]
    for image, single in zip(made, alone):
        np.testing.assert_allclose(np.asarray(image, np.float32), np.asarray(single, np.float32), atol=1.0)
