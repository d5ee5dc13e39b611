"""Single-file checkpoints (original LDM layout, as model sites ship them) load offline through a
local config folder; the shipped config folders describe the real SD 1.5 / SDXL models."""
from __future__ import annotations

import numpy as np
import pytest

from studio import illustrate
from studio.backends.base import BackendError
from studio.backends.sd_loading import MODEL_CONFIGS
from studio.book import ImageSpec, Page
from studio.config import Settings
from studio.services import build_services
from tiny_sd import build_pipeline, write_ldm_checkpoint


@pytest.fixture(scope="module")
def single_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("single_file")
    pipe = build_pipeline(root / "parts")
    pipe.save_pretrained(root / "config", safe_serialization=True)  # the folder a family would point at
    return write_ldm_checkpoint(pipe, root / "downloads" / "storybook-v1.safetensors"), root / "config"


def _render(services, book):
    page = book.pages[0]
    spec = illustrate.final_spec(book, page, page.image, 5)
    image, _ = illustrate.render(services, book, page, spec)
    return np.asarray(image).astype(int)


def _services(tmp_path, source):
    services = build_services(Settings(data_dir=tmp_path / "data", sd_model=str(source)))
    book = services.store.create("local", "One file", page_count=4)
    book = services.store.update("local", book.id, lambda b: setattr(b, "pages", [Page(
        text="p", illustration_prompt="a cat in the garden",
        image=ImageSpec(width=64, height=64, steps=2, seed=5, seed_locked=True))] * 4))
    return services, book


def test_single_file_loads_offline_with_a_local_config_and_matches_the_folder(single_file, tmp_path, monkeypatch):
    checkpoint, config = single_file
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from_file, book = _services(tmp_path / "a", checkpoint)
    ill = from_file.backends.active("illustrator")
    assert ill.name == "diffusers" and ill.available().ok
    ill.single_file_configs = {"sd15": str(config)}
    from_folder, book2 = _services(tmp_path / "b", config)
    try:
        assert (_render(from_file, book) == _render(from_folder, book2)).all()  # same weights, same picture
        assert type(ill._base).__name__ == "StableDiffusionPipeline" and ill._base.safety_checker is None
    finally:
        from_file.close()
        from_folder.close()


def test_shipped_config_without_tokenizer_says_what_is_missing(single_file, tmp_path, monkeypatch):
    checkpoint, _ = single_file
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    services, book = _services(tmp_path, checkpoint)
    try:
        with pytest.raises(BackendError) as caught:
            _render(services, book)
        assert caught.value.key == "models.single_file_config_incomplete"
        assert "tokenizer/vocab.json" in str(caught.value) and str(MODEL_CONFIGS / "sd15") in str(caught.value)
    finally:
        services.close()


@pytest.mark.parametrize("family, counts", [
    ("sd15", {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480}),
    ("sdxl", {"unet": 2_567_463_684, "vae": 83_653_863, "text_encoder": 123_060_480, "text_encoder_2": 694_659_840}),
])
def test_shipped_configs_describe_the_published_models(family, counts):
    """Built on the meta device (no memory): the parameter counts of the published checkpoints."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = MODEL_CONFIGS / family
    builders = {"unet": lambda p: UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(p)),
                "vae": lambda p: AutoencoderKL.from_config(AutoencoderKL.load_config(p)),
                "text_encoder": lambda p: CLIPTextModel(CLIPTextConfig.from_pretrained(p)),
                "text_encoder_2": lambda p: CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(p))}
    with init_empty_weights():
        for part, expected in counts.items():
            model = builders[part](folder / part)
            assert sum(p.numel() for p in model.parameters()) == expected, part
