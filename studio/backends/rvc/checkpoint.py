"""Loading RVC model files safely.

A ``.pth`` is a pickle; a pickle can run code. We only ever call ``torch.load(weights_only=True)``,
which accepts tensors and plain containers and refuses anything else before it is built, then
check the layout (``weight``, ``config``, ``f0``, ``version``) ourselves. Checkpoints saved with
weight normalisation (``weight_g``/``weight_v`` or the newer ``parametrizations`` names) are folded
into plain weights, which is what inference uses anyway. Before either library runs, the
file's declared sizes are checked against its real size (``studio.model_files``), so a tiny
hostile file cannot make torch or faiss allocate a gigabyte.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from studio.model_files import MAX_MODEL_BYTES, ModelFileError, check_faiss_index, check_torch_zip

__all__ = ["MAX_MODEL_BYTES", "ModelFileError", "LoadedModel", "read_checkpoint", "load_model", "read_index"]


@dataclass
class LoadedModel:
    synthesizer: object  # Synthesizer
    version: str
    use_f0: bool
    sample_rate: int
    info: str


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, via the weights-only unpickler (no arbitrary objects, ever), after
    its zip records were checked to expand to no more than the file's size allows."""
    import pickle

    import torch

    check_torch_zip(path, MAX_MODEL_BYTES)
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelFileError("uploads.pth_unsafe") from exc
    except Exception as exc:
        raise ModelFileError("uploads.pth_unreadable", error=type(exc).__name__) from exc
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("weight"), dict) or "config" not in ckpt:
        raise ModelFileError("uploads.pth_not_rvc")
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
            raise ModelFileError("uploads.pth_incomplete", part=prefix)
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
        raise ModelFileError("uploads.pth_version", version=version[:20])
    use_f0 = bool(int(ckpt.get("f0", 1)))
    weights = {k: v for k, v in ckpt["weight"].items() if not k.startswith("enc_q.")}
    if not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise ModelFileError("uploads.pth_not_tensors")
    try:
        cfg = SynthConfig.from_list(ckpt["config"])
        if "emb_g.weight" in weights:
            cfg.spk_embed_dim = int(weights["emb_g.weight"].shape[0])
        model = Synthesizer(cfg, version, use_f0)
        state = fold_weight_norm(weights)
        missing, unexpected = model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ModelFileError("uploads.pth_layout", version=version, detail=str(exc)[:300]) from exc
    if missing or unexpected:
        raise ModelFileError("uploads.pth_layout", version=version,
                             detail=f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.eval()
    return LoadedModel(model, version, use_f0, cfg.sr, str(ckpt.get("info", "")))


def read_index(path: str | Path, feature_dim: int):
    """A faiss index and its stored vectors (for the weighted nearest-neighbour blend).

    The file's layout is walked first (``check_faiss_index``): faiss allocates what the header
    claims before reading, so only a file whose every declared size it can hold reaches faiss."""
    import faiss
    import numpy as np

    check_faiss_index(path, feature_dim)
    try:
        index = faiss.read_index(str(path))
    except Exception as exc:
        raise ModelFileError("uploads.index_unreadable") from exc
    if index.d != feature_dim:
        raise ModelFileError("uploads.index_wrong_dim", dim=index.d, needed=feature_dim)
    if index.ntotal == 0:
        raise ModelFileError("uploads.index_empty")
    try:
        vectors = index.reconstruct_n(0, index.ntotal)
    except Exception as exc:  # IVF without direct map: make one
        try:
            faiss.extract_index_ivf(index).make_direct_map()
            vectors = index.reconstruct_n(0, index.ntotal)
        except Exception:
            raise ModelFileError("uploads.index_unreadable") from exc
    return index, np.asarray(vectors, dtype=np.float32)
