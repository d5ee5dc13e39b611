"""Tiny random voice models saved in the real on-disk layouts, for offline tests and benches:
an RVC v2 ``.pth`` (weight-normed decoder, like RVC's exports), a HuBERT folder, a faiss
``.index`` and a VITS model + tokenizer folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np

TINY_RVC_CONFIG = [17, 8, 8, 8, 16, 2, 1, 3, 0, "1", [3], [[1, 3, 5]], [10, 10, 4],
                   16, [20, 20, 8], 1, 8, 40000]


FULL_RVC_CONFIG = [1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3, [10, 10, 2, 2],
                   512, [16, 16, 4, 4], 109, 256, 40000]  # RVC v2 40k as published (random weights here)


def make_hubert(folder: Path, hidden: int = 768, full_size: bool = False) -> Path:
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
    return folder


def make_rvc_pth(path: Path, seed: int = 0, version: str = "v2", config: list | None = None) -> Path:
    import torch

    from studio.backends.rvc.synthesizer import SynthConfig, Synthesizer

    torch.manual_seed(seed)
    config = list(config or TINY_RVC_CONFIG)
    model = Synthesizer(SynthConfig.from_list(config), version, use_f0=True)
    weight = {}
    for key, value in model.state_dict().items():
        if key.startswith(("dec.ups.", "dec.resblocks.")) and key.endswith(".weight"):
            # saved as RVC saves it: weight_norm pairs, in half precision
            dims = tuple(range(1, value.dim()))
            g = torch.linalg.vector_norm(value, dim=dims, keepdim=True)
            weight[key[:-len("weight")] + "weight_g"] = g.half()
            weight[key[:-len("weight")] + "weight_v"] = value.half()
        else:
            weight[key] = value.half()
    torch.save({"weight": weight, "config": config, "info": "random test model",
                "sr": "40k", "f0": 1, "version": version}, path)
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
