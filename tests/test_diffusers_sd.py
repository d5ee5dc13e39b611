"""Stable Diffusion through the studio's real loading code, on tiny models saved to a temp dir
(local paths, HF_HUB_OFFLINE=1): text2img, img2img, ControlNet, LoRAs, cancel, resume, metadata."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio import illustrate, page_inputs
from studio.backends.base import BackendError, CancelToken, Cancelled
from studio.book import ImageSpec, LoraChoice, Page
from studio.config import Settings
from studio.image_params import read_png_parameters, spec_from_a1111
from studio.services import build_services
from tiny_sd import one_variant, pixels, tiny_models  # noqa: F401  (session fixture)

# two named LoRAs on one UNet is what we want; every other warning shows
pytestmark = pytest.mark.filterwarnings("ignore:Already found a `peft_config`:UserWarning")



@pytest.fixture
def sd(tiny_models, tmp_path):  # noqa: F811
    settings = Settings(data_dir=tmp_path / "data", sd_model=str(tiny_models.sd),
                        controlnet_openpose=str(tiny_models.controlnet))
    services = build_services(settings)
    book = services.store.create("local", "Tiny", page_count=4)

    def fill(b):
        b.pages = [Page(text=f"page {i}", illustration_prompt="a grandmother in the garden", pose_hint="hugging",
                        image=ImageSpec(width=64, height=64, steps=2, seed=11, seed_locked=True)) for i in range(4)]

    book = services.store.update("local", book.id, fill)
    yield services, book
    services.close()


def _pixels(services, variant) -> np.ndarray:
    with Image.open(services.store.media_for("local").path(variant.image)) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def _one(services, book, page, **changes):
    spec = ImageSpec.from_dict({**page.image.to_dict(), **changes})
    return illustrate.generate_variants(services, "local", book.id, page.id, spec, count=1)[0]


def test_text2img_img2img_and_controlnet_share_one_loaded_pipeline(sd, tmp_path):
    services, book = sd
    ill = services.backends.active("illustrator")
    assert ill.name == "diffusers"
    page = book.pages[0]
    base = one_variant(services, book, page)
    assert base.backend == "diffusers" and pixels(services, base).shape == (64, 64, 3)
    assert (pixels(services, one_variant(services, book, page)) == pixels(services, base)).all()  # same seed, same image

    photo = tmp_path / "family.png"
    Image.new("RGB", (80, 80), (220, 90, 40)).save(photo)
    page = page_inputs.set_page_photo(services, "local", book.id, page.id, photo, "init")
    img2img = one_variant(services, book, page, strength=0.5)
    assert np.abs(pixels(services, img2img) - pixels(services, base)).mean() > 3
    assert img2img.params["spec"]["init_image"] == page.image.init_image

    page = page_inputs.choose_pose(services, "local", book.id, page.id, "carrying a child")
    page = page_inputs.set_page_photo(services, "local", book.id, page.id, None, "init")
    control = one_variant(services, book, page)
    assert control.params["spec"]["control"]["kind"] == "openpose"
    assert np.abs(pixels(services, control) - pixels(services, base)).mean() > 1
    weaker = one_variant(services, book, page, control={**page.image.control.to_dict(), "scale": 0.0})
    assert (pixels(services, weaker) == pixels(services, base)).all()  # scale 0 = no control
    map_ref = control.params["spec"]["control"]["map_image"]
    assert services.store.media_for("local").exists(map_ref)  # the rendered pose actually used is kept

    assert ill.loads == 1  # one base model load for all of the above
    derived = list(ill._derived.values())
    assert derived and all(p.unet is ill._base.unet for p in derived)


def test_two_loras_switch_weights_without_reloading(sd, tiny_models, monkeypatch):  # noqa: F811
    services, book = sd
    page = book.pages[1]
    a = page_inputs.add_user_lora(services, "local", book.id, page.id, tiny_models.lora_a, "a.safetensors")
    b = page_inputs.add_user_lora(services, "local", book.id, page.id, tiny_models.lora_b, "b.safetensors")
    ill = services.backends.active("illustrator")

    def with_weights(wa, wb):
        loras = [LoraChoice(a.ref, wa).to_dict(), LoraChoice(b.ref, wb).to_dict()]
        return pixels(services, one_variant(services, book, page, loras=loras))

    plain = pixels(services, one_variant(services, book, page, loras=[]))
    only_a, only_b = with_weights(1.0, 0.0), with_weights(0.0, 1.0)
    loads = []
    monkeypatch.setattr(ill._base, "load_lora_weights", lambda *a, **k: loads.append(a))
    assert np.abs(only_a - plain).mean() > 2 and np.abs(only_b - plain).mean() > 2
    assert np.abs(only_a - only_b).mean() > 2
    assert (with_weights(0.0, 0.0) == plain).all()  # weight 0 = the base model exactly
    assert (with_weights(1.0, 0.0) == only_a).all()  # switching back gives the same picture
    assert not (with_weights(0.5, 0.5) == only_a).all()
    assert (pixels(services, one_variant(services, book, page, loras=[])) == plain).all()  # LoRAs off again
    assert loads == [] and ill.loads == 1 and len(ill.loaded_adapters()) == 2


def test_lora_for_another_base_model_is_refused_clearly(sd, tiny_models):  # noqa: F811
    services, book = sd
    with pytest.raises(BackendError, match="text width 64.*text width 32"):
        page_inputs.add_user_lora(services, "local", book.id, book.pages[0].id, tiny_models.lora_other_base,
                                  "other.safetensors")


def test_cancel_stops_within_one_step_and_next_run_works(sd):
    services, book = sd
    ill = services.backends.active("illustrator")
    page = book.pages[2]
    token, seen = CancelToken(), []

    def on_step(i, n, step, steps):
        seen.append(step)
        token.cancel()

    spec = ImageSpec.from_dict({**page.image.to_dict(), "steps": 6})
    with pytest.raises(Cancelled):
        illustrate.generate_variants(services, "local", book.id, page.id, spec, cancel=token, on_step=on_step)
    assert seen == [1]  # the denoising loop stopped right after the step that saw the cancel
    assert services.store.get("local", book.id).page(page.id).variants == []  # nothing half-made kept
    assert one_variant(services, book, page).backend == "diffusers" and ill.loads == 1


def test_whole_book_job_resumes_after_a_restart(sd, tiny_models):  # noqa: F811
    services, book = sd
    services.store.update("local", book.id, lambda b: setattr(b.pages[3], "locked", True))
    sketch = illustrate.generate_variants(services, "local", book.id, book.pages[2].id, book.pages[2].image,
                                          backend=services.backends.get("illustrator", "sketch"))[0]
    assert services.store.get("local", book.id).pages[2].chosen_variant == sketch.id
    token, events = CancelToken(), []
    with pytest.raises(Cancelled):
        for event in illustrate.illustrate_book(services, "local", book.id, cancel=token):
            events.append(event)
            if "variant" in event.payload:
                token.cancel()  # stop after the first page is done
    assert any("step" in e.message for e in events) and events[-1].message == "Page 1 done"
    first = services.store.get("local", book.id).pages[0].chosen_variant
    assert first and services.store.get("local", book.id).pages[1].chosen_image() is None
    settings = services.settings
    services.close()  # the studio restarts

    services = build_services(settings)
    try:
        done = [e for e in illustrate.illustrate_book(services, "local", book.id) if "variant" in e.payload]
        after = services.store.get("local", book.id)
        assert [e.message for e in done] == ["Page 2 done", "Page 3 done"]
        assert after.pages[0].chosen_variant == first and len(after.pages[0].variants) == 1
        assert all(p.chosen_image().backend == "diffusers" for p in after.pages[:3])
        assert sketch.id in [v.id for v in after.pages[2].variants]  # the replaced sketch is kept
        assert after.pages[3].chosen_image() is None  # locked
        assert list(illustrate.illustrate_book(services, "local", book.id)) == []  # nothing left to do
    finally:
        services.close()


def test_png_parameters_reproduce_the_same_pixels(sd, tiny_models):  # noqa: F811
    services, book = sd
    page = book.pages[0]
    lora = page_inputs.add_user_lora(services, "local", book.id, page.id, tiny_models.lora_a, "a.safetensors", 0.7)
    spec = ImageSpec.from_dict({**page.image.to_dict(), "tone": "warm", "seed_locked": False,
                                "loras": [lora.to_dict()], "scheduler": "euler"})
    variant = illustrate.generate_variants(services, "local", book.id, page.id, spec)[0]
    text = read_png_parameters(services.store.media_for("local").path(variant.image))
    assert "Negative prompt" not in text and "Tone: warm" in text and f"Seed: {variant.params['spec']['seed']}" in text
    again = spec_from_a1111(text)
    fresh = services.store.get("local", book.id)
    image, _ = illustrate.render(services, fresh, fresh.page(page.id), again)
    assert (np.asarray(image).astype(int) == pixels(services, variant)).all()
    same, identical = illustrate.reproduce(services, "local", book.id, page.id, variant.id)
    assert identical and same.id == variant.id


def test_switching_to_a_missing_model_keeps_the_old_one(sd, tmp_path):
    services, book = sd
    ill = services.backends.active("illustrator")
    before = pixels(services, one_variant(services, book, book.pages[0]))
    with pytest.raises(BackendError, match="model folder not found: .*GIEOK_SD_MODEL"):
        ill.switch_model(str(tmp_path / "missing-model"))
    assert ill.source == services.settings.sd_model and ill.loads == 2  # freed, then restored
    assert (pixels(services, one_variant(services, book, book.pages[0])) == before).all()


def test_gpu_out_of_memory_is_a_clear_error_and_the_next_page_works(sd, monkeypatch):
    import torch

    services, book = sd
    ill = services.backends.active("illustrator")
    page = book.pages[1]
    one_variant(services, book, page)  # loaded
    freed = []
    real_for = ill._pipeline_for

    def exploding_pipeline(*args, **kwargs):
        pipe = real_for(*args, **kwargs)

        class Exploding:
            def __getattr__(self, name):
                return getattr(pipe, name)

            def __call__(self, **kw):
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return Exploding()

    monkeypatch.setattr(ill, "_pipeline_for", exploding_pipeline)
    monkeypatch.setattr("studio.backends.torch_device.free_memory", lambda: freed.append(True))
    with pytest.raises(BackendError, match="ran out of memory"):
        one_variant(services, book, page)
    assert freed and len(services.store.get("local", book.id).page(page.id).variants) == 1  # nothing half-stored
    monkeypatch.setattr(ill, "_pipeline_for", real_for)
    assert one_variant(services, book, page).backend == "diffusers"


def test_batched_variants_equal_one_by_one_for_the_same_seeds(sd, monkeypatch):
    services, book = sd
    ill = services.backends.active("illustrator")
    page = book.pages[3]
    page = page_inputs.choose_pose(services, "local", book.id, page.id, "waving")  # with a control map
    calls, real = [], ill._illustrate
    monkeypatch.setattr(ill, "_illustrate", lambda request, seeds, *a, **kw: calls.append(list(seeds)) or real(request, seeds, *a, **kw))
    ill._gpu_illustrate = None
    spec = ImageSpec.from_dict({**page.image.to_dict(), "seed": 40, "seed_locked": True})
    batched = illustrate.generate_variants(services, "local", book.id, page.id, spec, count=3)
    assert calls == [[40, 41, 42]]  # one pipeline call for the three pictures
    maps = {v.params["spec"]["control"]["map_image"] for v in batched}
    assert len(maps) == 1  # the control map was made and stored once
    for variant, seed in zip(batched, (40, 41, 42)):
        assert variant.params["spec"]["seed"] == seed
        alone = one_variant(services, book, page, seed=seed)
        assert np.abs(pixels(services, alone) - pixels(services, variant)).max() <= 2
    assert np.abs(pixels(services, batched[0]) - pixels(services, batched[1])).mean() > 1  # seeds differ
