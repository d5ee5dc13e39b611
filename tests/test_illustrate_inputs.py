"""Bad input on the Pages tab gets a clear error before anything heavy happens, and nothing is lost.
Also: prompt composition, style presets, A1111 parameters, tone. No torch needed here."""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from studio import illustrate, page_inputs
from studio.backends.base import BackendError
from studio.backends.diffusers_sd import DiffusersIllustrator
from studio.book import Character, ImageSpec, LoraChoice, Page
from studio.config import Settings
from studio.image_params import parse_a1111, spec_from_a1111, to_a1111, tone_grade
from studio.images import ImageInputError
from studio.services import build_services


def _safetensors(path: Path, tensors: dict[str, list[int]]) -> Path:
    """A valid .safetensors file (zeros) with these tensor names and shapes, written without torch."""
    header, offset, body = {}, 0, b""
    for name, shape in tensors.items():
        size = int(np.prod(shape)) * 2
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
        body += b"\0" * size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)
    return path


def _sd15_lora(path: Path, width: int = 768) -> Path:
    key = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora.{}.weight"
    return _safetensors(path, {key.format("down"): [4, width], key.format("up"): [320, 4]})


def _fake_model_folder(root: Path, cross_dim: int = 768) -> Path:
    """Enough of a model folder for the studio to know its family (read without loading)."""
    (root / "unet").mkdir(parents=True)
    (root / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (root / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": cross_dim}))
    return root


@pytest.fixture
def book(services):
    b = services.store.create("local", "Persimmon", page_count=4)

    def fill(book):
        book.characters = [Character(name="Halmeoni", description="a small grandmother with grey permed hair")]
        book.pages = [Page(text=f"p{i}", illustration_prompt=f"picking persimmons {i}", characters=["Halmeoni"])
                      for i in range(4)]

    return services.store.update("local", b.id, fill)


@pytest.fixture
def sd_services(tmp_path):
    svc = build_services(Settings(data_dir=tmp_path / "sd-data", sd_model=str(_fake_model_folder(tmp_path / "sd15"))))
    yield svc
    svc.close()


def test_lora_upload_must_be_safetensors(services, book, tmp_path):
    page = book.pages[0]
    pickle_file = tmp_path / "style.ckpt"
    pickle_file.write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ValueError, match=r"only \.safetensors"):
        page_inputs.add_user_lora(services, "local", book.id, page.id, pickle_file, "style.ckpt")
    renamed = tmp_path / "renamed.safetensors"
    renamed.write_bytes(b"PK\x03\x04 a zip renamed to safetensors" * 4)
    with pytest.raises(ValueError, match="not a valid .safetensors"):
        page_inputs.add_user_lora(services, "local", book.id, page.id, renamed, "renamed.safetensors")
    full_model = _safetensors(tmp_path / "model.safetensors", {"model.diffusion_model.input.weight": [4, 4]})
    with pytest.raises(ValueError, match="no LoRA weights"):
        page_inputs.add_user_lora(services, "local", book.id, page.id, full_model, "model.safetensors")
    assert services.store.get("local", book.id).pages[0].image.loras == []
    assert not list(services.store.media_for("local").root.rglob("*.safetensors"))


def test_lora_for_another_base_model_gets_a_clear_error(sd_services, tmp_path):
    b = sd_services.store.create("local", "B", page_count=4)
    b = sd_services.store.update("local", b.id, lambda bk: bk.pages.append(Page()))
    page_id = b.pages[0].id
    sdxl = _safetensors(tmp_path / "xl.safetensors", {
        "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": [4, 1280],
        "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight": [4, 2048]})
    with pytest.raises(BackendError, match=r"made for SDXL.*picture model is Stable Diffusion 1.5"):
        page_inputs.add_user_lora(sd_services, "local", b.id, page_id, sdxl, "xl.safetensors")
    sd2 = _sd15_lora(tmp_path / "sd2.safetensors", width=1024)
    with pytest.raises(BackendError, match=r"SD 2.x \(text width 1024\).*Stable Diffusion 1.5 \(text width 768\)"):
        page_inputs.add_user_lora(sd_services, "local", b.id, page_id, sd2, "sd2.safetensors")
    ok = page_inputs.add_user_lora(sd_services, "local", b.id, page_id, _sd15_lora(tmp_path / "w.safetensors"),
                                   "watercolour.safetensors", weight=0.6)
    stored = sd_services.store.get("local", b.id).pages[0].image.loras
    assert stored == [LoraChoice(ref=ok.ref, weight=0.6, name="watercolour.safetensors")]
    assert [lo.name for lo in page_inputs.book_loras(sd_services, sd_services.store.get("local", b.id))] == [
        "watercolour.safetensors"]


def _png_bomb(path: Path, side: int = 20000) -> Path:
    """A real PNG header for a 20000×20000 image with a tiny compressed body (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100000))
                     + chunk(b"IEND", b""))
    return path


def test_img2img_photo_bomb_or_truncated_refused_before_decoding(services, book, tmp_path, monkeypatch):
    page = book.pages[1]
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or real_load(self))
    with pytest.raises(ImageInputError, match="too large"):
        page_inputs.set_page_photo(services, "local", book.id, page.id, _png_bomb(tmp_path / "bomb.png"), "init")
    assert decoded == []  # refused from the header alone
    good = tmp_path / "photo.jpg"
    Image.new("RGB", (300, 200), (200, 120, 80)).save(good, quality=90)
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(ImageInputError, match="truncated"):
        page_inputs.set_page_photo(services, "local", book.id, page.id, truncated, "init")
    assert services.store.get("local", book.id).pages[1].image.init_image is None
    saved = page_inputs.set_page_photo(services, "local", book.id, page.id, good, "init")
    assert saved.image.init_image and services.store.media_for("local").exists(saved.image.init_image)


def test_control_maps_need_what_they_need(services, book):
    page = book.pages[0]
    spec = ImageSpec(width=96, height=64)
    spec.control.kind = "canny"
    with pytest.raises(ValueError, match="needs a photo"):
        page_inputs.control_map(services, page, spec, "local")
    spec.control.kind = "openpose"
    assert page_inputs.control_map(services, page, spec, "local").size == (96, 64)


def test_missing_model_path_names_the_setting(tmp_path):
    reason = DiffusersIllustrator(Settings(sd_model=str(tmp_path / "nope"))).available().reason
    assert reason == f"model folder not found: {tmp_path / 'nope'} (GIEOK_SD_MODEL)"
    assert DiffusersIllustrator(Settings()).available().reason == "GIEOK_SD_MODEL is not set"
    with pytest.raises(BackendError, match="GIEOK_SD_MODEL"):
        DiffusersIllustrator(Settings(sd_model=str(tmp_path / "x.safetensors"))).switch_model(str(tmp_path / "x.safetensors"))


def test_without_a_model_the_offline_illustrator_draws_and_the_reason_is_said_in_both_languages(services):
    assert illustrate.active_illustrator(services).name == "sketch"
    why = services.backends.get("illustrator", "diffusers").available()
    assert not why.ok and why.reason == "GIEOK_SD_MODEL is not set"
    assert why.said_in("ko") != why.reason and "GIEOK_SD_MODEL" in why.said_in("ko")


def test_prompt_is_composed_from_style_characters_and_page(book):
    page = book.pages[2]
    prompt, negative = illustrate.compose_prompt(book, page, "watercolor")
    assert prompt.startswith("soft watercolor children's picture book illustration")  # style first
    assert prompt.endswith("warm paper texture, a small grandmother with grey permed hair, picking persimmons 2")
    assert "watermark" in negative
    assert illustrate.compose_prompt(book, page, "") == ("a small grandmother with grey permed hair, picking persimmons 2", "")
    edited = ImageSpec(prompt="my own words", style="watercolor")
    assert illustrate.final_spec(book, page, edited, 5).prompt == "my own words"
    with pytest.raises(ValueError, match="no picture style named"):
        illustrate.compose_prompt(book, page, "vaporwave")


def test_style_preset_sets_steps_guidance_and_its_lora_when_present(tmp_path):
    spec = illustrate.apply_style(ImageSpec(), "fast_lcm", lora_dir=str(tmp_path))
    assert (spec.steps, spec.guidance, spec.scheduler, spec.loras) == (6, 1.5, "lcm", [])  # file absent: no LoRA
    _sd15_lora(tmp_path / "watercolor_storybook.safetensors")
    spec = illustrate.apply_style(spec, "watercolor", lora_dir=str(tmp_path))
    assert [(lo.ref, lo.weight) for lo in spec.loras] == [("watercolor_storybook.safetensors", 0.7)]
    assert illustrate.apply_style(spec, "gouache").loras == []  # the previous preset's LoRA goes


def test_a1111_parameters_round_trip():
    spec = ImageSpec(prompt="grandma, tree: red, \"big\"", negative_prompt="blurry, text", seed=42, steps=3,
                     guidance=6.5, width=64, height=96, scheduler="euler_a", tone="warm", style="crayon",
                     loras=[LoraChoice("a" * 64 + ".safetensors", 0.7), LoraChoice("x.safetensors", -0.25)])
    spec.control.kind, spec.control.scale, spec.control.end = "openpose", 0.9, 0.8
    text = to_a1111(spec, model="sd15", backend="diffusers")
    assert text.splitlines()[1] == "Negative prompt: blurry, text"
    assert parse_a1111(text)["Model"] == "sd15"
    back = spec_from_a1111(text)
    for field in ("prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler", "tone",
                  "style", "loras"):
        assert getattr(back, field) == getattr(spec, field), field
    assert (back.control.kind, back.control.scale, back.control.end) == ("openpose", 0.9, 0.8)
    with pytest.raises(ValueError):
        spec_from_a1111("a cat\nSteps: many, Seed: x, Size: 1x1")


def test_tone_grade_warms_and_cools():
    grey = Image.new("RGB", (8, 8), (128, 128, 128))
    r, _, b = tone_grade(grey, "warm").getpixel((0, 0))
    assert r > 128 > b
    r, _, b = tone_grade(grey, "cool").getpixel((0, 0))
    assert b > 128 > r
    assert tone_grade(grey, "neutral") is grey
    with pytest.raises(ValueError):
        tone_grade(grey, "sepia")


def test_spec_limits_are_checked(services, book):
    with pytest.raises(ValueError, match="64 to"):
        illustrate.generate_variants(services, "local", book.id, book.pages[0].id, ImageSpec(width=4000))
    with pytest.raises(ValueError, match="1 to 8 pictures at a time"):
        illustrate.generate_variants(services, "local", book.id, book.pages[0].id, ImageSpec(), count=50)
