"""LoRA training on tiny SD 1.5 and SDXL pipelines built from config: losses, the effect of the
trained file, cancel/resume, diffusers and kohya files that reload through ``load_lora_weights``,
metadata, prior preservation and consent."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from studio.backends.base import Cancelled, CancelToken
from studio.book import Consent
from studio.job_runner import rising
from studio.lora_export import read_metadata
from studio.train_lora import LoraOptions, LoraTrainer, LoraTrainingRefused, TrainingSet
from likeness_fixtures import CONSENT, one_thread  # noqa: F401  (autouse)
from tiny_sd import _write_tokenizer, build_pipeline

RES = 64


def faces(n: int) -> list[Image.Image]:
    out = []
    for i in range(n):
        img = Image.new("RGB", (RES, RES), (110 + 20 * i, 150, 170))
        d = ImageDraw.Draw(img)
        d.ellipse([14 + i, 10, 50 + i, 52], fill=(225, 180, 150))
        d.ellipse([22 + i, 24, 28 + i, 30], fill=(30, 20, 20))
        d.ellipse([36 + i, 24, 42 + i, 30], fill=(30, 20, 20))
        d.line([26 + i, 42, 38 + i, 42], fill=(160, 60, 60), width=2)
        out.append(img)
    return out


def build_sdxl(root):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        sample_size=128)
    _write_tokenizer(root / "tok")
    tokenizer = CLIPTokenizer.from_pretrained(root / "tok", model_max_length=77, local_files_only=True)
    config = dict(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
                  layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2, vocab_size=1000,
                  hidden_act="gelu", projection_dim=32)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       beta_schedule="scaled_linear", timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(
        unet=unet, vae=vae, scheduler=scheduler, text_encoder=CLIPTextModel(CLIPTextConfig(**config)),
        tokenizer=tokenizer, text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**config)),
        tokenizer_2=tokenizer, image_encoder=None, feature_extractor=None)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora_bases")
    build_pipeline(root / "sd_parts").save_pretrained(root / "sd", safe_serialization=True)
    build_sdxl(root / "sdxl_parts").save_pretrained(root / "sdxl", safe_serialization=True)
    return {"sd": root / "sd", "sdxl": root / "sdxl"}


def load(bases, family="sd"):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    cls = StableDiffusionXLPipeline if family == "sdxl" else StableDiffusionPipeline
    pipe = cls.from_pretrained(bases[family], local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def dataset(n=3) -> TrainingSet:
    return TrainingSet(faces(n), ["a photo of sks grandmother"] * n, trigger="sks")


def options(**kw) -> LoraOptions:
    base = dict(rank=4, alpha=8, learning_rate=5e-3, steps=6, batch_size=2, resolution=RES, seed=3,
                save_every=100, gradient_checkpointing=True)
    base.update(kw)
    return LoraOptions(**base)


def picture(pipe) -> np.ndarray:
    image = pipe("a photo of sks grandmother", num_inference_steps=2, width=RES, height=RES,
                 generator=torch.Generator().manual_seed(0), output_type="np").images[0]
    return np.asarray(image, np.float32)


def test_sd15_trains_and_the_saved_lora_changes_the_picture(bases, tmp_path):
    trainer = LoraTrainer(load(bases), dataset(), options(), tmp_path / "run", consent=CONSENT, base_model="tiny-sd")
    events = list(trainer.run())
    assert events[0].payload["event"] == "setup" and events[0].payload["optimizer"] == "adamw"  # no bitsandbytes here
    steps = [e.payload for e in events if e.payload["event"] == "step"]
    losses = [s["losses"]["loss"] for s in steps]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses) and len(set(losses)) > 1
    assert steps[-1]["percent"] == 100.0 and steps[2]["eta_s"] is not None and events[-1].payload["event"] == "done"
    path = trainer.save_lora(tmp_path / "grandma.safetensors")

    pipe = load(bases)
    before = picture(pipe)
    pipe.load_lora_weights(str(path), adapter_name="grandma")
    after = picture(pipe)
    assert np.abs(after - before).max() > 0.02

    meta = read_metadata(path)
    assert meta["family"] == "SD 1.x" and meta["rank"] == 4 and meta["alpha"] == 8.0 and meta["steps"] == 6
    assert meta["trigger"] == "sks" and meta["dataset_size"] == 3 and meta["base_model"] == "tiny-sd"
    assert meta["consent"] == CONSENT.to_dict()

    kohya = trainer.save_lora(tmp_path / "grandma_kohya.safetensors", kohya=True)
    from safetensors import safe_open

    with safe_open(str(kohya), "pt") as f:
        keys = list(f.keys())
        assert {float(f.get_tensor(k)) for k in keys if k.endswith(".alpha")} == {8.0}
    assert keys and all(re.match(r"^lora_unet_[a-z0-9_]+\.(lora_down\.weight|lora_up\.weight|alpha)$", k) for k in keys)
    assert any(k.startswith("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.") for k in keys)
    assert read_metadata(kohya)["consent"] == CONSENT.to_dict()
    again = load(bases)
    again.load_lora_weights(str(kohya), adapter_name="grandma_kohya")  # diffusers converts kohya names
    np.testing.assert_allclose(picture(again), after, atol=2e-4)  # same weights, same alpha scaling


def test_the_studio_illustrator_reads_the_trained_file(bases, tmp_path):
    from studio.backends.lora_files import inspect_lora

    trainer = LoraTrainer(load(bases), dataset(2), options(steps=1, batch_size=1), tmp_path / "run", consent=CONSENT)
    list(trainer.run())
    info = inspect_lora(trainer.save_lora(tmp_path / "l.safetensors"))
    assert info.cross_attention_dim == 32 and info.mismatch(32) is None


def lora_of(trainer) -> dict:
    return trainer.lora_state()


def test_cancel_then_resume_continues_from_the_checkpoint(bases, tmp_path):
    straight = LoraTrainer(load(bases), dataset(), options(), tmp_path / "straight", consent=CONSENT)
    list(straight.run())

    token = CancelToken()
    first = LoraTrainer(load(bases), dataset(), options(), tmp_path / "cut", consent=CONSENT)
    with pytest.raises(Cancelled):
        for event in first.run(cancel=token):
            if event.payload["event"] == "step" and event.payload["step"] == 3:
                token.cancel()
    saved = torch.load(str(first.checkpoint_path), weights_only=True)
    assert saved["step"] == 3

    resumed = LoraTrainer(load(bases), dataset(), options(), tmp_path / "cut", consent=CONSENT)
    assert resumed.resumed and resumed.step == 3 and resumed.elapsed_s == pytest.approx(saved["elapsed_s"])
    moments = resumed.optimizer.state_dict()["state"]
    for index, state in saved["job"]["optimizer"]["state"].items():  # the same Adam moments, not fresh ones
        assert torch.equal(moments[index]["exp_avg"], state["exp_avg"])
    events = list(resumed.run())
    assert [e.payload["step"] for e in events if e.payload["event"] == "step"] == [4, 5, 6]
    assert events[1].payload["elapsed_s"] > saved["elapsed_s"]  # the ETA keeps the time already spent
    a, b = lora_of(straight), lora_of(resumed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_a_window_pauses_with_a_checkpoint(bases, tmp_path):
    trainer = LoraTrainer(load(bases), dataset(), options(steps=5), tmp_path / "w", consent=CONSENT)
    events = list(trainer.run(max_steps=2))
    assert events[-1].payload["event"] == "paused" and trainer.step == 2 and trainer.checkpoint_path.is_file()
    assert events[-1].payload["percent"] == 40.0


def test_a_checkpoint_for_other_photos_is_refused(bases, tmp_path):
    list(LoraTrainer(load(bases), dataset(3), options(steps=1), tmp_path / "x", consent=CONSENT).run())
    with pytest.raises(LoraTrainingRefused, match="other photos"):
        LoraTrainer(load(bases), dataset(2), options(steps=1), tmp_path / "x", consent=CONSENT)
    (tmp_path / "x" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(LoraTrainingRefused, match="could not be read"):
        LoraTrainer(load(bases), dataset(3), options(steps=1), tmp_path / "x", consent=CONSENT)


@pytest.mark.parametrize("consent", [None, Consent(given_by="Minji", relation="granddaughter", date="", statement="")])
def test_a_person_without_consent_is_refused_and_nothing_is_written(bases, tmp_path, consent):
    pipe = load(bases)
    with pytest.raises(LoraTrainingRefused, match="consent") as err:
        LoraTrainer(pipe, dataset(), options(), tmp_path / "run", consent=consent)
    assert "동의" in err.value.render("ko")
    assert not (tmp_path / "run").exists()
    assert not any(n for n, _ in pipe.unet.named_parameters() if "lora" in n)  # the model is untouched


def test_a_style_needs_no_consent(bases, tmp_path):
    data = TrainingSet(faces(2), ["an illustration in gieokstyle style"] * 2, trigger="gieokstyle", subject="style")
    trainer = LoraTrainer(load(bases), data, options(steps=1, batch_size=1), tmp_path / "style")
    list(trainer.run())
    assert read_metadata(trainer.save_lora(tmp_path / "style.safetensors"))["consent"] is None


def test_prior_preservation_uses_class_images_from_the_same_pipeline(bases, tmp_path):
    opts = options(steps=3, prior_preservation=True, class_prompt="a photo of a grandmother", class_images=2,
                   class_steps=2, eval_every=1, sample_every=3, sample_steps=2)
    samples = []
    trainer = LoraTrainer(load(bases), dataset(), opts, tmp_path / "prior", consent=CONSENT,
                          on_sample=lambda step, image: samples.append((step, image)))
    assert sorted(p.name for p in (tmp_path / "prior" / "class_images").iterdir()) == ["0000.png", "0001.png"]
    events = list(trainer.run())
    steps = [e.payload for e in events if e.payload["event"] == "step"]
    assert all(math.isfinite(s["losses"]["prior"]) for s in steps)
    checks = [e for e in events if e.payload["event"] == "eval"]
    assert len(checks) == 3 and len(trainer.history["val"]) == 3
    assert checks[0].text("en") == f"Check on the class pictures: {checks[0].payload['value']}"
    assert [s for s, _ in samples] == [3] and samples[0][1].size == (RES, RES)
    assert any(e.payload["event"] == "sample" for e in events)


def test_the_overtraining_rule_needs_rising_checks():
    assert not rising([3.0, 2.0, 2.1, 2.2], 3)
    assert rising([3.0, 2.0, 2.1, 2.2, 2.3], 3)


def test_sdxl_trains_and_both_file_formats_reload(bases, tmp_path):
    trainer = LoraTrainer(load(bases, "sdxl"), dataset(2), options(steps=3, batch_size=1), tmp_path / "xl",
                          consent=CONSENT, base_model="tiny-sdxl")
    losses = [e.payload["losses"]["loss"] for e in trainer.run() if e.payload["event"] == "step"]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses) and len(set(losses)) > 1
    plain = trainer.save_lora(tmp_path / "xl.safetensors")
    kohya = trainer.save_lora(tmp_path / "xl_kohya.safetensors", kohya=True)
    assert read_metadata(plain)["family"] == "SDXL"
    from safetensors import safe_open

    with safe_open(str(kohya), "pt") as f:
        keys = list(f.keys())
    assert any(k.startswith("lora_unet_input_blocks_") for k in keys)  # SGM block names, as kohya's SDXL files
    assert any(k.startswith("lora_unet_output_blocks_") for k in keys) and any("middle_block_1" in k for k in keys)
    base = load(bases, "sdxl")
    before = picture(base)
    base.load_lora_weights(str(plain), adapter_name="p")
    after = picture(base)
    assert np.abs(after - before).max() > 0.005
    other = load(bases, "sdxl")
    other.load_lora_weights(str(kohya), adapter_name="k")
    np.testing.assert_allclose(picture(other), after, atol=2e-4)
