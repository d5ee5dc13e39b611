"""What training leaves behind: the community ``.pth`` and the faiss ``.index``.

The ``.pth`` is the small inference file RVC's WebUI and Applio write and load: ``weight`` (the
synthesizer without ``enc_q``, half precision, weight-normed layers as ``weight_g``/``weight_v``),
``config`` (the 18-entry list), ``info``, ``sr`` ("40k"), ``f0`` (1/0) and ``version``. The studio
adds a ``gieok`` entry (plain strings and numbers) with the consent it was trained under.
The index is built as the reference does: IVF with n_ivf = min(16 * sqrt(n), n / 39) lists,
nprobe 1; a flat index when there are too few vectors for even one list.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

RATE_NAMES = {32000: "32k", 40000: "40k", 48000: "48k"}


def inference_weights(net_g) -> dict:
    """The synthesizer's weights as the community file stores them (fp16, no ``enc_q``)."""
    from studio.train_voice.model import to_reference_keys

    state = to_reference_keys(net_g.state_dict())
    return {k: v.detach().cpu().half().clone() for k, v in state.items() if not k.startswith("enc_q.")}


def inference_model(net_g, version: str, use_f0: bool, sample_rate: int):
    """The current weights as the studio's RVC inference model (for samples during training)."""
    import torch

    from studio.backends.rvc.checkpoint import LoadedModel, fold_weight_norm
    from studio.backends.rvc.synthesizer import Synthesizer

    model = Synthesizer(net_g.cfg, version, use_f0)
    state = {k: v for k, v in net_g.state_dict().items() if not k.startswith("enc_q.")}
    with torch.no_grad():
        model.load_state_dict({k: v.detach().float().cpu() for k, v in fold_weight_norm(state).items()})
    model.eval()
    return LoadedModel(model, version, use_f0, sample_rate, "training sample")


def consent_record(consent) -> dict:
    return {"given_by": consent.given_by, "relation": consent.relation, "date": consent.date,
            "statement": consent.statement}


def export_pth(net_g, config: list, path: str | Path, *, version: str, use_f0: bool, epoch: int, step: int,
               voice_name: str, consent) -> Path:
    import torch

    sr = int(config[-1])
    record = consent_record(consent)
    info = (f"{epoch}epoch; {voice_name} trained in Gieok Studio; consent given by {record['given_by']} "
            f"({record['relation']}) on {record['date']}: {record['statement']}")
    payload = {
        "weight": inference_weights(net_g), "config": list(config), "info": info,
        "sr": RATE_NAMES.get(sr, str(sr)), "f0": int(bool(use_f0)), "version": version,
        "gieok": {"voice": voice_name, "epoch": int(epoch), "step": int(step), "consent": record},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def ivf_lists(n: int) -> int:
    """The reference's list count; 0 means too few vectors for an IVF index."""
    return min(int(16 * math.sqrt(n)), n // 39)


def build_index(items, path: str | Path, seed: int = 0) -> Path:
    """A faiss index of every training feature frame (50 fps HuBERT vectors), shuffled."""
    import faiss

    vectors = np.concatenate([item.phone for item in items]).astype(np.float32)
    vectors = vectors[np.random.default_rng(seed).permutation(len(vectors))]
    dim, lists = vectors.shape[1], ivf_lists(len(vectors))
    if lists >= 1:
        index = faiss.index_factory(dim, f"IVF{lists},Flat")
        faiss.extract_index_ivf(index).nprobe = 1
        index.train(vectors)
    else:
        index = faiss.IndexFlatL2(dim)
    for start in range(0, len(vectors), 8192):
        index.add(vectors[start:start + 8192])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    faiss.write_index(index, str(tmp))
    tmp.replace(path)
    return path
