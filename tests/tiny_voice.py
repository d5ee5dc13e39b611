"""Tiny random voice models saved in the real on-disk layouts, for offline tests and benches:
RVC ``.pth`` files (v1/v2, f0/no-f0, 32k/40k/48k, as the WebUI or Applio write them), a HuBERT
folder (optionally with ContentVec's final_proj), a faiss ``.index`` and a VITS model folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np

TINY_RVC_CONFIG = [17, 8, 8, 8, 16, 2, 1, 3, 0, "1", [3], [[1, 3, 5]], [10, 10, 4],
                   16, [20, 20, 8], 1, 8, 40000]


FULL_RVC_CONFIG = [1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3, [10, 10, 2, 2],
                   512, [16, 16, 4, 4], 109, 256, 40000]  # RVC v2 40k as published (random weights here)


# Upsampling per sample rate, as RVC's v2 configs (product = samples per 10 ms frame); tiny widths.
TINY_UPSAMPLING = {32000: ([10, 8, 4], [20, 16, 8]), 40000: ([10, 10, 4], [20, 20, 8]),
                   48000: ([12, 10, 4], [24, 20, 8])}


def tiny_rvc_config(sample_rate: int = 40000) -> list:
    """TINY_RVC_CONFIG for 32k / 40k / 48k (RVC writes the rate as a number in the list)."""
    rates, kernels = TINY_UPSAMPLING[sample_rate]
    config = list(TINY_RVC_CONFIG)
    config[12], config[14], config[17] = rates, kernels, sample_rate
    return config


def make_hubert(folder: Path, hidden: int = 768, full_size: bool = False, final_proj: int = 0) -> Path:
    """A HuBERT folder; ``final_proj=256`` adds ContentVec's projection (what RVC v1 models read)."""
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    if full_size:  # HuBERT-base shape: real compute cost, random weights
        config = HubertConfig(hidden_size=hidden, feat_extract_norm="group", do_stable_layer_norm=False)
    else:
        config = HubertConfig(hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                              conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=16,
                              feat_extract_norm="group", do_stable_layer_norm=False)
    HubertModel(config).eval().save_pretrained(folder)
    if final_proj:  # ContentVec ports keep final_proj beside the encoder in the same weights file
        from safetensors.torch import load_file, save_file

        state = load_file(str(folder / "model.safetensors"))
        proj = torch.nn.Linear(hidden, final_proj)
        state.update({"final_proj.weight": proj.weight.detach().contiguous(),
                      "final_proj.bias": proj.bias.detach().contiguous()})
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def make_rvc_pth(path: Path, seed: int = 0, version: str = "v2", config: list | None = None,
                 use_f0: bool = True, writer: str = "webui") -> Path:
    """An RVC inference file as the community has them: the original WebUI's layout
    (``weight_g``/``weight_v`` pairs, half precision), or ``writer="applio"``: Applio's newer
    ``parametrizations.weight.original0/1`` names and its extra keys."""
    import torch

    from studio.backends.rvc.synthesizer import SynthConfig, Synthesizer

    torch.manual_seed(seed)
    config = list(config or TINY_RVC_CONFIG)
    model = Synthesizer(SynthConfig.from_list(config), version, use_f0=use_f0)
    g_name, v_name = ("parametrizations.weight.original0", "parametrizations.weight.original1") \
        if writer == "applio" else ("weight_g", "weight_v")
    weight = {}
    for key, value in model.state_dict().items():
        if key.startswith(("dec.ups.", "dec.resblocks.")) and key.endswith(".weight"):
            dims = tuple(range(1, value.dim()))
            g = torch.linalg.vector_norm(value, dim=dims, keepdim=True)
            weight[key[:-len("weight")] + g_name] = g.half()
            weight[key[:-len("weight")] + v_name] = value.half()
        else:
            weight[key] = value.half()
    rate = f"{int(config[-1]) // 1000}k"
    ckpt = {"weight": weight, "config": config, "info": "random test model", "sr": rate,
            "f0": int(use_f0), "version": version}
    if writer == "applio":  # what Applio's extract_model adds (all plain values: weights_only loads them)
        ckpt.update({"epoch": 300, "step": 12000, "creation_date": "2025-01-01T00:00:00",
                     "model_hash": "0" * 64, "overtrain_info": "None", "dataset_lenght": 120,
                     "model_name": "grandma", "author": "family", "embedder_model": "contentvec",
                     "speakers_id": 1, "vocoder": "HiFi-GAN", "info": "300epoch"})
    torch.save(ckpt, path)
    return path


def make_index(path: Path, dim: int = 768, n: int = 64, seed: int = 0) -> Path:
    import faiss

    rng = np.random.default_rng(seed)
    index = faiss.IndexFlatL2(dim)
    index.add(rng.standard_normal((n, dim)).astype(np.float32) * 3)
    faiss.write_index(index, str(path))
    return path


def make_vits(folder: Path, uroman: bool = False) -> Path:
    import json

    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    letters = list("abcdefghijklmnopqrstuvwxyz '.,") + [chr(c) for c in range(0xAC00, 0xAC00 + 400)] + \
        list("안녕하세요할머니감나무아래에서우리는노래를불렀다")
    vocab = {"<pad>": 0, "<unk>": 1}
    for ch in letters:
        vocab.setdefault(ch, len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    tokenizer = VitsTokenizer(str(folder / "vocab.json"), language=None, add_blank=True, normalize=True,
                              phonemize=False, is_uroman=uroman)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = VitsConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        ffn_dim=32, flow_size=16, spectrogram_bins=17, upsample_initial_channel=16,
                        upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
                        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3, 5]],
                        prior_encoder_num_flows=1, prior_encoder_num_wavenet_layers=1,
                        posterior_encoder_num_wavenet_layers=1, duration_predictor_num_flows=1,
                        duration_predictor_filter_channels=16, depth_separable_num_layers=1,
                        sampling_rate=16000)
    VitsModel(config).eval().save_pretrained(folder)
    return folder


def speech_like(seconds: float, sr: int = 16000, f0: float = 180.0, seed: int = 0) -> np.ndarray:
    """A voiced, syllable-like test signal (harmonics with a moving pitch and 4 Hz envelope)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = f0 * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.abs(np.sin(2 * np.pi * 2 * t))
    return (0.2 * x * envelope + 0.002 * rng.standard_normal(len(t))).astype(np.float32)
