"""Loading RVC model files safely.

A ``.pth`` is a pickle; a pickle can run code. We only ever call ``torch.load(weights_only=True)``,
which accepts tensors and plain containers and refuses anything else before it is built, then
check the layout (``weight``, ``config``, ``f0``, ``version``) ourselves. Checkpoints saved with
weight normalisation (``weight_g``/``weight_v`` or the newer ``parametrizations`` names) are folded
into plain weights, which is what inference uses anyway.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from studio.messages import Localized

MAX_MODEL_BYTES = 1 << 30


class ModelFileError(Localized, ValueError):
    """A model file that cannot be used; the message is for the user."""


@dataclass
class LoadedModel:
    synthesizer: object  # Synthesizer
    version: str
    use_f0: bool
    sample_rate: int
    info: str


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, via the weights-only unpickler (no arbitrary objects, ever)."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise ModelFileError("The RVC model file is empty or missing.")
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise ModelFileError("The RVC model file is larger than 1 GB; that is not an RVC voice model.")
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelFileError("This .pth file contains code or objects that are not model weights; "
                             "it was refused for safety.") from exc
    except Exception as exc:
        raise ModelFileError(f"This is not a readable .pth model file ({type(exc).__name__}).") from exc
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("weight"), dict) or "config" not in ckpt:
        raise ModelFileError("This .pth is not an RVC voice model (it has no 'weight' and 'config'). "
                             "Use the small inference model from RVC's weights folder, not a training G_*.pth.")
    return ckpt


def fold_weight_norm(state: dict) -> dict:
    """Replace weight-norm pairs (g, v) with the weight they stand for: g * v / ||v||."""
    import torch

    out = {}
    pairs = {}
    for key, value in state.items():
        m = re.fullmatch(r"(.*)\.(weight_g|weight_v)", key) or \
            re.fullmatch(r"(.*)\.parametrizations\.weight\.(original0|original1)", key)
        if m:
            part = "g" if m.group(2) in ("weight_g", "original0") else "v"
            pairs.setdefault(m.group(1), {})[part] = value
        else:
            out[key] = value
    for prefix, pair in pairs.items():
        if set(pair) != {"g", "v"}:
            raise ModelFileError(f"The model's weights are incomplete at {prefix}.")
        g, v = pair["g"].float(), pair["v"].float()
        dims = [d for d in range(v.dim()) if g.shape[d] == 1]
        out[prefix + ".weight"] = g * v / torch.linalg.vector_norm(v, dim=dims, keepdim=True).clamp_min(1e-12)
    return out


def load_model(path: str | Path) -> LoadedModel:
    import torch

    from studio.backends.rvc.synthesizer import SynthConfig, Synthesizer

    ckpt = read_checkpoint(path)
    version = str(ckpt.get("version", "v1"))
    if version not in ("v1", "v2"):
        raise ModelFileError(f"RVC model version {version!r} is not supported (v1 and v2 are).")
    use_f0 = bool(int(ckpt.get("f0", 1)))
    weights = {k: v for k, v in ckpt["weight"].items() if not k.startswith("enc_q.")}
    if not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise ModelFileError("The model's 'weight' holds something other than tensors.")
    try:
        cfg = SynthConfig.from_list(ckpt["config"])
        if "emb_g.weight" in weights:
            cfg.spk_embed_dim = int(weights["emb_g.weight"].shape[0])
        model = Synthesizer(cfg, version, use_f0)
        state = fold_weight_norm(weights)
        missing, unexpected = model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"The model's layout does not match RVC {version}: {str(exc)[:300]}") from exc
    if missing or unexpected:
        raise ModelFileError(f"The model's layout does not match RVC {version} "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]}).")
    model.eval()
    return LoadedModel(model, version, use_f0, cfg.sr, str(ckpt.get("info", "")))


def read_index(path: str | Path, feature_dim: int):
    """A faiss index and its stored vectors (for the weighted nearest-neighbour blend)."""
    import faiss
    import numpy as np

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise ModelFileError("The .index file is empty or missing.")
    try:
        index = faiss.read_index(str(path))
    except Exception as exc:
        raise ModelFileError("This is not a faiss .index file.") from exc
    if index.d != feature_dim:
        raise ModelFileError(f"This .index holds {index.d}-dim features but the model needs {feature_dim}; "
                             "it belongs to a different model version.")
    if index.ntotal == 0:
        raise ModelFileError("This .index is empty.")
    try:
        vectors = index.reconstruct_n(0, index.ntotal)
    except Exception as exc:  # IVF without direct map: make one
        try:
            faiss.extract_index_ivf(index).make_direct_map()
            vectors = index.reconstruct_n(0, index.ntotal)
        except Exception:
            raise ModelFileError("The .index cannot be read back.") from exc
    return index, np.asarray(vectors, dtype=np.float32)
