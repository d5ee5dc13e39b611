"""IP-Adapter likeness on tiny parts built from config: a tiny CLIP vision encoder and adapter
weights in the published layout (``image_proj.*``, ``ip_adapter.<n>.to_k_ip/to_v_ip``), loaded
by the illustrator through diffusers' ``load_ip_adapter``. A reference photo changes the picture;
scale 0 is the picture without the adapter; consent is needed to keep a reference photo."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from studio import likeness
from studio.backends.base import BackendError, IllustrationRequest
from studio.backends.diffusers_sd import DiffusersIllustrator
from studio.backends.ip_adapter import IpAdapterLikeness
from studio.book import Character, Consent, ImageSpec, Page
from studio.config import Settings
from studio.services import build_services
from studio.train_lora import LoraTrainingRefused
from test_photos_prep import drawn_face
from likeness_fixtures import one_thread  # noqa: F401  (autouse)
from tiny_sd import ip_adapter_attention_weights, tiny_models  # noqa: F401  (session fixture)

CONSENT = Consent(given_by="Minji", relation="granddaughter", date="2026-11-30",
                  statement="We agree to use Grandma's photo for the pictures of our family book.")


def make_adapter(unet_folder, root, embed_dim: int = 32, tokens: int = 4):
    """(adapter file, encoder folder) for a UNet, in the layout of ip-adapter_sd15 / _sdxl."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=embed_dim, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        image_size=32, patch_size=4)).save_pretrained(root / "image_encoder", safe_serialization=True)
    unet = UNet2DConditionModel.from_pretrained(unet_folder, local_files_only=True)
    cross = unet.config.cross_attention_dim
    weights = {"image_proj.proj.weight": torch.randn(cross * tokens, embed_dim) * 0.3,
               "image_proj.proj.bias": torch.zeros(cross * tokens),
               "image_proj.norm.weight": torch.ones(cross), "image_proj.norm.bias": torch.zeros(cross),
               **ip_adapter_attention_weights(unet, cross)}
    save_file(weights, str(root / "ip-adapter_tiny.safetensors"))
    return root / "ip-adapter_tiny.safetensors", root / "image_encoder"


@pytest.fixture(scope="module")
def adapter(tiny_models, tmp_path_factory):  # noqa: F811
    return make_adapter(tiny_models.sd / "unet", tmp_path_factory.mktemp("ip_adapter"))


def settings_for(tiny_models, tmp_path, adapter=None, model=None) -> Settings:  # noqa: F811
    extra = {"ip_adapter": str(adapter[0]), "ip_adapter_image_encoder": str(adapter[1])} if adapter else {}
    return Settings(data_dir=tmp_path / "data", sd_model=str(model or tiny_models.sd), device="cpu", **extra)


def picture(illustrator, reference=None, scale=0.0) -> np.ndarray:
    spec = ImageSpec(width=64, height=64, steps=2, guidance=5.0, seed=3)
    request = IllustrationRequest(spec=spec, prompt="a grandmother in a garden", reference_image=reference,
                                  reference_scale=scale)
    return np.asarray(illustrator.illustrate(request), np.float32)


def test_a_reference_photo_changes_the_picture_and_scale_zero_is_no_adapter(tiny_models, adapter, tmp_path):  # noqa: F811
    plain = picture(DiffusersIllustrator(settings_for(tiny_models, tmp_path)))
    illustrator = DiffusersIllustrator(settings_for(tiny_models, tmp_path, adapter))
    assert IpAdapterLikeness(illustrator.settings).available().ok
    assert np.array_equal(picture(illustrator), plain)  # configured but no reference: not even loaded
    grandma, other = drawn_face((256, 256), centre=(128, 120), r=60), Image.new("RGB", (256, 256), (30, 200, 60))
    with_her = picture(illustrator, grandma, 1.0)
    assert np.abs(with_her - plain).max() > 8  # the reference steers the picture
    assert np.abs(picture(illustrator, other, 1.0) - with_her).max() > 8  # and it is this photo that does
    np.testing.assert_allclose(picture(illustrator, grandma, 0.0), plain, atol=1.0)  # scale 0 = no adapter
    np.testing.assert_allclose(picture(illustrator), plain, atol=1.0)  # a page without her, adapter still on
    assert illustrator.loads == 1  # never reloaded for the adapter


def test_a_missing_adapter_file_says_so(tiny_models, adapter, tmp_path):  # noqa: F811
    settings = settings_for(tiny_models, tmp_path, (tmp_path / "nope.safetensors", adapter[1]))
    assert IpAdapterLikeness(settings).available().key == "likeness.ip_adapter_missing"
    with pytest.raises(BackendError, match="IP-Adapter"):
        picture(DiffusersIllustrator(settings), Image.new("RGB", (64, 64)), 0.6)


def test_the_reference_needs_consent_and_reaches_her_pages(tiny_models, adapter, tmp_path):  # noqa: F811
    services = build_services(settings_for(tiny_models, tmp_path, adapter))
    try:
        book = services.store.create("local", "Grandma", page_count=4)

        def setup(b):
            b.characters.append(Character(name="Grandma"))
            b.pages.append(Page(characters=["Grandma"]))
            b.pages.append(Page(characters=["Child"]))

        book = services.store.update("local", book.id, setup)
        grandma_id = book.characters[0].id
        drawn_face().save(tmp_path / "g.png")
        media_before = sorted(p.name for p in services.settings.media_dir.rglob("*") if p.is_file()) \
            if services.settings.media_dir.exists() else []
        with pytest.raises(LoraTrainingRefused, match="consent"):
            likeness.set_reference_photo(services, "local", book.id, grandma_id, tmp_path / "g.png", None)
        media_after = sorted(p.name for p in services.settings.media_dir.rglob("*") if p.is_file()) \
            if services.settings.media_dir.exists() else []
        assert media_after == media_before and not services.store.get("local", book.id).characters[0].reference_photo
        character = likeness.set_reference_photo(services, "local", book.id, grandma_id, tmp_path / "g.png",
                                                 CONSENT, scale=0.7)
        assert character.reference_photo and character.consent == CONSENT
        book = services.store.get("local", book.id)
        image, scale = likeness.reference_for(services, book, book.pages[-2])
        assert image.size == (640, 640) and scale == 0.7
        assert likeness.reference_for(services, book, book.pages[-1]) == (None, 0.0)
        services.settings.ip_adapter = ""  # not configured: the photo waits, pages are drawn without it
        assert likeness.reference_for(services, book, book.pages[-2]) == (None, 0.0)
    finally:
        services.close()


def test_sdxl_takes_a_reference_too(tiny_models, tmp_path):  # noqa: F811
    from test_train_lora import build_sdxl

    build_sdxl(tmp_path / "parts").save_pretrained(tmp_path / "sdxl", safe_serialization=True)
    files = make_adapter(tmp_path / "sdxl" / "unet", tmp_path)
    plain = picture(DiffusersIllustrator(settings_for(tiny_models, tmp_path, model=tmp_path / "sdxl")))
    illustrator = DiffusersIllustrator(settings_for(tiny_models, tmp_path, files, model=tmp_path / "sdxl"))
    with_her = picture(illustrator, drawn_face((256, 256), centre=(128, 120), r=60), 1.0)
    assert np.abs(with_her - plain).max() > 8
    np.testing.assert_allclose(picture(illustrator), plain, atol=1.0)
