"""Tiny SDXL parts built from config and saved to a temp dir (no downloads).

Shaped like SDXL where the studio looks: two text encoders (the second with a projection, giving
the pooled embedding), a UNet with the ``text_time`` added embedding, an SDXL-shaped ControlNet
made from that UNet and a LoRA on its attention layers. ``tiny_sdxl`` is session-scoped.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tiny_sd import _wake_zero_convs, _write_tokenizer, save_lora


@dataclass(frozen=True)
class TinySdxl:
    sdxl: Path
    controlnet: Path
    lora: Path


def build_sdxl_pipeline(root: Path, seed: int = 0):
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(seed)
    time_dim, text_dim = 8, 32  # UNet's pooled+time input = projection (32) + 6 size/crop numbers x 8
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=time_dim, transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=text_dim + 6 * time_dim, cross_attention_dim=2 * text_dim)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
                        sample_size=64, down_block_types=["DownEncoderBlock2D"] * 2,
                        up_block_types=["UpDecoderBlock2D"] * 2)
    _write_tokenizer(root / "tok")
    tokenizer = CLIPTokenizer.from_pretrained(root / "tok", model_max_length=77, local_files_only=True)
    config = CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=text_dim,
                            intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
                            vocab_size=max(1000, len(tokenizer)), max_position_embeddings=77,
                            projection_dim=text_dim)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(unet=unet, vae=vae, text_encoder=CLIPTextModel(config), tokenizer=tokenizer,
                                     text_encoder_2=CLIPTextModelWithProjection(config), tokenizer_2=tokenizer,
                                     scheduler=scheduler, force_zeros_for_empty_prompt=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_all(root: Path) -> TinySdxl:
    from diffusers import ControlNetModel

    pipe = build_sdxl_pipeline(root / "parts")
    pipe.save_pretrained(root / "sdxl", safe_serialization=True)
    controlnet = ControlNetModel.from_unet(pipe.unet, conditioning_embedding_out_channels=(16, 32))
    _wake_zero_convs(controlnet)
    controlnet.save_pretrained(root / "controlnet_xl", safe_serialization=True)

    lora = save_lora(pipe, root / "lora_xl", seed=5)
    return TinySdxl(root / "sdxl", root / "controlnet_xl", lora)


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory) -> TinySdxl:
    return build_all(tmp_path_factory.mktemp("tiny_sdxl"))
