"""SDXL through the studio's real loading code on tiny parts (two text encoders, text_time
embedding): text2img, img2img, an SDXL ControlNet, a LoRA; family defaults; wrong-family parts
refused with a clear message."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio import illustrate, page_inputs
from studio.backends.base import BackendError
from studio.backends.model_family import Family, check_controlnet, controlnet_problem, detect
from studio.book import ImageSpec, LoraChoice, Page
from studio.config import Settings
from studio.services import build_services
from tiny_sd import one_variant, pixels, tiny_models  # noqa: F401  (session fixture)
from tiny_sdxl import tiny_sdxl  # noqa: F401  (session fixture)


@pytest.fixture
def xl(tiny_sdxl, tmp_path):  # noqa: F811
    settings = Settings(data_dir=tmp_path / "data", sd_model=str(tiny_sdxl.sdxl),
                        controlnet_openpose=str(tiny_sdxl.controlnet))
    services = build_services(settings)
    book = services.store.create("local", "Tiny XL", page_count=4)

    def fill(b):
        b.pages = [Page(text=f"page {i}", illustration_prompt="a grandmother in the garden", pose_hint="hugging",
                        image=ImageSpec(width=64, height=64, steps=2, guidance=5.0, seed=7, seed_locked=True))
                   for i in range(4)]

    book = services.store.update("local", book.id, fill)
    yield services, book
    services.close()




def test_sdxl_text2img_img2img_controlnet_and_lora(xl, tiny_sdxl, tmp_path):  # noqa: F811
    services, book = xl
    ill = services.backends.active("illustrator")
    page = book.pages[0]
    base = one_variant(services, book, page)
    assert type(ill._base).__name__ == "StableDiffusionXLPipeline" and ill.family() == Family("sdxl")
    assert pixels(services, base).shape == (64, 64, 3)
    assert (pixels(services, one_variant(services, book, page)) == pixels(services, base)).all()

    photo = tmp_path / "family.png"
    Image.new("RGB", (80, 80), (220, 90, 40)).save(photo)
    page = page_inputs.set_page_photo(services, "local", book.id, page.id, photo, "init")
    img2img = one_variant(services, book, page, strength=0.5)
    assert np.abs(pixels(services, img2img) - pixels(services, base)).mean() > 3

    page = page_inputs.set_page_photo(services, "local", book.id, page.id, None, "init")
    page = page_inputs.choose_pose(services, "local", book.id, page.id, "carrying a child")
    control = one_variant(services, book, page)
    assert control.params["spec"]["control"]["kind"] == "openpose"
    assert np.abs(pixels(services, control) - pixels(services, base)).mean() > 1

    lora = page_inputs.add_user_lora(services, "local", book.id, page.id, tiny_sdxl.lora, "xl.safetensors")
    with_lora = one_variant(services, book, page, loras=[LoraChoice(lora.ref, 1.0).to_dict()],
                     control={"kind": "none"})
    assert np.abs(pixels(services, with_lora) - pixels(services, base)).mean() > 2
    assert ill.loads == 1


def test_sdxl_family_defaults_differ_from_sd15(xl, tiny_models):  # noqa: F811
    services, book = xl
    page = book.pages[0]
    ill = services.backends.active("illustrator")
    assert ill.family() == Family("sdxl")  # read from the folder's configs, before loading
    untouched = ImageSpec()  # what a new page starts with
    xl_spec = illustrate.final_spec(book, page, untouched, 1, ill.family())
    sd_spec = illustrate.final_spec(book, page, untouched, 1, Family("sd15"))
    assert (xl_spec.width, xl_spec.height, xl_spec.steps, xl_spec.guidance) == (1024, 1024, 30, 6.0)
    assert (sd_spec.width, sd_spec.height, sd_spec.steps, sd_spec.guidance) == (512, 512, 25, 7.0)
    chosen = ImageSpec(width=640, height=768, steps=12, guidance=4.0)
    kept = illustrate.final_spec(book, page, chosen, 1, ill.family())
    assert (kept.width, kept.height, kept.steps, kept.guidance) == (640, 768, 12, 4.0)  # the family's own choice
    watercolor = illustrate.apply_style(ImageSpec(), "watercolor")
    watercolor.loras = [LoraChoice("watercolor_storybook.safetensors", 0.7)]  # the preset's SD 1.5 LoRA
    assert illustrate.final_spec(book, page, watercolor, 1, ill.family()).loras == []
    assert illustrate.final_spec(book, page, watercolor, 1, Family("sd15")).loras == watercolor.loras
    assert illustrate.model_family(ill).label == "Stable Diffusion XL"
    assert illustrate.final_spec(book, page, watercolor, 1, ill.family()).steps == 30  # the preset's SDXL advice
    turbo = illustrate.final_spec(book, page, illustrate.apply_style(ImageSpec(), "few_step_turbo"), 1,
                                  illustrate.model_family(ill, "few_step_turbo"))
    assert (turbo.steps, turbo.guidance, turbo.width) == (2, 0.0, 512) and turbo.negative_prompt == ""


def test_sd15_controlnet_on_sdxl_is_a_clear_message(xl, tiny_models):  # noqa: F811
    services, book = xl
    ill = services.backends.active("illustrator")
    services.settings.controlnet_openpose = str(tiny_models.controlnet)
    page = page_inputs.choose_pose(services, "local", book.id, book.pages[1].id, "hugging")
    with pytest.raises(BackendError) as caught:
        one_variant(services, book, page)
    assert caught.value.key == "models.controlnet_other_family_try"
    assert "made for Stable Diffusion 1.5" in str(caught.value) and "Stable Diffusion XL" in str(caught.value)
    assert "thibaud/controlnet-openpose-sdxl-1.0" in str(caught.value)  # a ControlNet that fits, from the data
    assert "ControlNet" in caught.value.render("ko")
    assert ill._controlnets == {}  # nothing half-loaded


def test_sd15_lora_on_sdxl_is_refused_clearly(xl, tiny_models):  # noqa: F811
    services, book = xl
    with pytest.raises(BackendError, match="text width 32.*Stable Diffusion XL \\(text width 64") as caught:
        page_inputs.add_user_lora(services, "local", book.id, book.pages[0].id, tiny_models.lora_a, "sd15.safetensors")
    assert caught.value.key == "models.lora_other_family" and "LoRA를 골라 주세요" in caught.value.render("ko")


def test_family_detection_from_every_clue():
    assert detect("StableDiffusionPipeline", {"cross_attention_dim": 768}) == Family("sd15")
    assert detect("", {"cross_attention_dim": 1024}) == Family("sd2")
    assert detect("StableDiffusionXLPipeline", {}, source="/m/sdxl-turbo") == Family("sdxl", "turbo")
    assert detect("", {"addition_embed_type": "text_time"}, "LCMScheduler") == Family("sdxl", "lcm")
    assert detect("", {}, source="Juggernaut_Lightning_8step.safetensors") == Family("sd15", "lightning")
    assert detect("", {}, preset="fast_lcm", preset_scheduler="lcm") == Family("sd15", "lcm")
    assert detect("", {}, source="Hyper-SD15-8steps") == Family("sd15", "hyper")
    assert Family("sdxl", "turbo").defaults()["width"] == 512 and Family("sdxl", "lightning").defaults()["width"] == 1024
    assert Family("sd15").defaults() != Family("sdxl").defaults()
    assert controlnet_problem({"cross_attention_dim": 768}, {"cross_attention_dim": 2048,
                                                              "addition_embed_type": "text_time"})
    assert controlnet_problem({"cross_attention_dim": 768}, {"cross_attention_dim": 768}) is None
    with pytest.raises(BackendError) as caught:  # no known ControlNet to suggest for SD 2.x: the plain message
        check_controlnet("depth", {"cross_attention_dim": 768}, {"cross_attention_dim": 1024})
    assert caught.value.key == "models.controlnet_other_family" and "Stable Diffusion 2.x" in str(caught.value)


def test_a_lightning_model_gets_few_steps_and_trailing_timesteps(tiny_sdxl, tmp_path):  # noqa: F811
    lightning = tmp_path / "sdxl-lightning-4step"
    lightning.symlink_to(tiny_sdxl.sdxl, target_is_directory=True)  # same weights, named as on the hub
    services = build_services(Settings(data_dir=tmp_path / "data", sd_model=str(lightning)))
    try:
        book = services.store.create("local", "Fast", page_count=4)
        book = services.store.update("local", book.id, lambda b: setattr(b, "pages", [
            Page(text="p", illustration_prompt="a grandmother in the garden")]))
        ill = services.backends.active("illustrator")
        assert ill.family() == Family("sdxl", "lightning")
        page = book.pages[0]
        spec = illustrate.final_spec(book, page, ImageSpec(width=64, height=64), 3, ill.family())
        assert (spec.steps, spec.guidance, spec.scheduler) == (4, 1.0, "euler")
        image, _ = illustrate.render(services, book, page, spec)
        assert image.size == (64, 64)
        assert type(ill._base.scheduler).__name__ == "EulerDiscreteScheduler"
        assert ill._base.scheduler.config.timestep_spacing == "trailing"  # what Lightning was distilled on
        assert ill._default_scheduler.config.timestep_spacing == "leading"  # the model's own is untouched
    finally:
        services.close()
