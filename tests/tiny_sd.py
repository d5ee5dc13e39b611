"""Tiny Stable Diffusion parts built from config and saved to a temp dir (no downloads).

``tiny_models`` (session-scoped) gives paths the studio loads through its real loading code:
an SD 1.5-style pipeline folder, a ControlNet folder, two style LoRAs and one LoRA for a model
of another width (a stand-in for "an SDXL LoRA on an SD 1.5 model").
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

WORDS = ("a", "the", "girl", "grandmother", "garden", "tree", "red", "sky", "book", "cat")


@dataclass(frozen=True)
class TinyModels:
    sd: Path
    controlnet: Path
    lora_a: Path
    lora_b: Path
    lora_other_base: Path


def _bytes_to_unicode() -> list[str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def _write_tokenizer(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in _bytes_to_unicode():
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    merges = []
    for word in WORDS:
        cur = word[0]
        for i, ch in enumerate(word[1:], start=1):
            nxt = ch + ("</w>" if i == len(word) - 1 else "")
            merges.append(f"{cur} {nxt}")
            cur += nxt
            vocab.setdefault(cur, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")


def build_pipeline(root: Path, cross_dim: int = 32, seed: int = 0):
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=cross_dim, attention_head_dim=8)
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4, sample_size=64,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2)
    _write_tokenizer(root / "tok")
    tokenizer = CLIPTokenizer.from_pretrained(root / "tok", model_max_length=77, local_files_only=True)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=cross_dim, intermediate_size=37,
        layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=max(1000, len(tokenizer)), max_position_embeddings=77))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   image_encoder=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_lora(pipe, target: Path, seed: int) -> Path:
    """A random (so visible) LoRA on the UNet attention layers, saved as one .safetensors file."""
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    name = f"tmp_{seed}"
    pipe.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]), adapter_name=name)
    with torch.no_grad():  # make the effect clearly visible in a 2-step, 64 px image
        for param_name, param in pipe.unet.named_parameters():
            if name in param_name and "lora_B" in param_name:
                param.mul_(20.0)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet, adapter_name=name))
    target.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(target, unet_lora_layers=layers, safe_serialization=True)
    pipe.unet.delete_adapters(name)
    return target / "pytorch_lora_weights.safetensors"


def _wake_zero_convs(controlnet) -> None:
    """A fresh ControlNet adds exactly zero (its output convs start at 0); give them small random
    weights so the control image visibly steers the picture, as a trained one does."""
    import torch

    torch.manual_seed(4)
    with torch.no_grad():
        for module in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
                       controlnet.controlnet_cond_embedding.conv_out]:
            torch.nn.init.normal_(module.weight, std=0.3)


def build_all(root: Path) -> TinyModels:
    from diffusers import ControlNetModel

    pipe = build_pipeline(root / "parts")
    pipe.save_pretrained(root / "sd", safe_serialization=True)
    controlnet = ControlNetModel.from_unet(pipe.unet, conditioning_embedding_out_channels=(16, 32))
    _wake_zero_convs(controlnet)
    controlnet.save_pretrained(root / "controlnet", safe_serialization=True)
    lora_a = save_lora(pipe, root / "lora_a", seed=1)
    lora_b = save_lora(pipe, root / "lora_b", seed=2)
    other = save_lora(build_pipeline(root / "parts64", cross_dim=64), root / "lora_other", seed=3)
    return TinyModels(root / "sd", root / "controlnet", lora_a, lora_b, other)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    return build_all(tmp_path_factory.mktemp("tiny_sd"))
