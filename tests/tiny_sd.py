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


def build_pipeline(root: Path, cross_dim: int = 32, seed: int = 0, tokenizer_folder: Path | None = None):
    """``tokenizer_folder``: a real tokenizer to use (default: a tiny one of a few words)."""
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
    if tokenizer_folder is None:
        _write_tokenizer(tokenizer_folder := root / "tok")
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_folder, model_max_length=77, local_files_only=True)
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
    type(pipe).save_lora_weights(target, unet_lora_layers=layers, safe_serialization=True)  # SD 1.5 or SDXL
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


def ip_adapter_attention_weights(unet, cross: int, q_lora_rank: int = 0) -> dict:
    """Random ``to_k_ip``/``to_v_ip`` weights (and a ``to_q`` LoRA of ``q_lora_rank``, as FaceID
    ships) for every cross-attention processor of ``unet``, in the published numbering: every
    attention processor counts, only cross-attention has weights."""
    import torch

    weights, key = {}, 1
    for name in unet.attn_processors:
        if name.endswith("attn2.processor"):
            hidden = unet.get_submodule(name[: -len(".processor")]).to_q.out_features
            weights[f"ip_adapter.{key}.to_k_ip.weight"] = torch.randn(hidden, cross) * 0.3
            weights[f"ip_adapter.{key}.to_v_ip.weight"] = torch.randn(hidden, cross) * 0.3
            if q_lora_rank:
                weights[f"ip_adapter.{key}.to_q_lora.down.weight"] = torch.randn(q_lora_rank, hidden)
                weights[f"ip_adapter.{key}.to_q_lora.up.weight"] = torch.randn(hidden, q_lora_rank)
            key += 2
    return weights


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


def pixels(services, variant):
    """A stored variant's pixels as an int array (for comparisons in tests)."""
    import numpy as np
    from PIL import Image

    with Image.open(services.store.media_for("local").path(variant.image)) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def one_variant(services, book, page, **changes):
    """One picture for ``page`` through the studio, with ``changes`` to its saved settings."""
    from studio import illustrate
    from studio.book import ImageSpec

    spec = ImageSpec.from_dict({**page.image.to_dict(), **changes})
    return illustrate.generate_variants(services, "local", book.id, page.id, spec, count=1)[0]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    return build_all(tmp_path_factory.mktemp("tiny_sd"))


# -- a single-file checkpoint in the original (LDM / A1111) layout ---------------------------
_RESNET_TO_LDM = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
                  ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection"))
_VAE_ATTN_TO_LDM = (("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out"))


def _rename(rest: str, pairs) -> str:
    head, _, param = rest.rpartition(".")
    for new, old in pairs:
        if head == new or head.startswith(new + "."):
            head = old + head[len(new):]
    return f"{head}.{param}"


def _unet_key(key: str, config) -> str:
    import re

    per_level = config.layers_per_block + 1
    fixed = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
             "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2"}
    head, _, param = key.rpartition(".")
    if head in fixed:
        return f"{fixed[head]}.{param}"
    if m := re.match(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
        return f"input_blocks.{int(m[1]) * per_level + int(m[2]) + 1}.0." + _rename(m[3], _RESNET_TO_LDM)
    if m := re.match(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.*)", key):
        return f"input_blocks.{int(m[1]) * per_level + int(m[2]) + 1}.1.{m[3]}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"input_blocks.{(int(m[1]) + 1) * per_level}.0.op.{m[2]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key):
        return f"middle_block.{2 * int(m[1])}." + _rename(m[2], _RESNET_TO_LDM)
    if m := re.match(r"mid_block\.attentions\.0\.(.*)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
        return f"output_blocks.{int(m[1]) * per_level + int(m[2])}.0." + _rename(m[3], _RESNET_TO_LDM)
    if m := re.match(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.*)", key):
        return f"output_blocks.{int(m[1]) * per_level + int(m[2])}.1.{m[3]}"
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
        has_attention = "CrossAttn" in config.up_block_types[int(m[1])]
        return f"output_blocks.{int(m[1]) * per_level + per_level - 1}.{2 if has_attention else 1}.conv.{m[2]}"
    raise KeyError(key)


def _vae_key(key: str, config) -> str:
    import re

    fixed = {"conv_norm_out": "norm_out"}
    side, _, rest = key.partition(".")
    if side not in ("encoder", "decoder"):
        return key  # quant_conv, post_quant_conv
    levels = len(config.up_block_types)
    if m := re.match(r"(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest):
        level = int(m[2]) if m[1] == "down" else levels - 1 - int(m[2])
        return f"{side}.{m[1]}.{level}.block.{m[3]}." + _rename(m[4], (("conv_shortcut", "nin_shortcut"),))
    if m := re.match(r"(down|up)_blocks\.(\d+)\.(down|up)samplers\.0\.conv\.(.*)", rest):
        level = int(m[2]) if m[1] == "down" else levels - 1 - int(m[2])
        return f"{side}.{m[1]}.{level}.{m[3]}sample.conv.{m[4]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", rest):
        return f"{side}.mid.block_{int(m[1]) + 1}." + _rename(m[2], (("conv_shortcut", "nin_shortcut"),))
    if m := re.match(r"mid_block\.attentions\.0\.(.*)", rest):
        return f"{side}.mid.attn_1." + _rename(m[1], _VAE_ATTN_TO_LDM)
    head, _, param = rest.rpartition(".")
    return f"{side}.{fixed.get(head, head)}.{param}"


def write_ldm_checkpoint(pipe, target: Path) -> Path:
    """The pipeline as one ``.safetensors`` file with the original Stable Diffusion key names
    (``model.diffusion_model.*``, ``first_stage_model.*``, ``cond_stage_model.transformer.*``) —
    what a family downloads from a model site."""
    from safetensors.torch import save_file

    state = {}
    for key, value in pipe.unet.state_dict().items():
        state["model.diffusion_model." + _unet_key(key, pipe.unet.config)] = value
    for key, value in pipe.vae.state_dict().items():
        new = _vae_key(key, pipe.vae.config)
        if ".mid.attn_1." in new and value.ndim == 2:
            value = value[:, :, None, None]  # LDM's VAE attention projections are 1x1 convolutions
        state["first_stage_model." + new] = value
    for key, value in pipe.text_encoder.state_dict().items():  # transformers 5 flattened CLIPTextModel
        state["cond_stage_model.transformer." + (key if key.startswith("text_model.") else "text_model." + key)] = value
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(target))
    return target
