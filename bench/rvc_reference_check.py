"""Does a voice the studio trains sound, sample for sample, like the reference RVC says it should?

Trains a few steps of an RVC v2 40k f0 model with the studio's trainer (the tiny test config, and
with ``--full`` also the published v2 40k config with random weights), saves the ``.pth`` with the
studio's exporter, then loads that file twice:

* into the reference implementation's ``SynthesizerTrnMs768NSFsid`` from the RVC WebUI source
  given with ``--reference-src`` (a checkout of RVC-Project/Retrieval-based-Voice-Conversion-WebUI;
  nothing of it is copied into the studio: it is imported from that folder for this check only),
  loaded the way the WebUI loads a voice (``config[-3]`` from ``emb_g``, ``enc_q`` dropped,
  ``load_state_dict(strict=False)``);
* into the studio's own RVC inference (``studio.backends.rvc.checkpoint.load_model``),

and runs both ``infer`` on the same phone features, pitch and noise seed. Printed:

  rvc_reference_missing_keys / _unexpected_keys  what the reference did not find in our file
  rvc_reference_max_abs_diff                     same inputs, same ``torch.manual_seed`` (the
                                                 reference's NSF source draws one extra
                                                 ``torch.rand`` for its initial phase, so the noise
                                                 streams can differ after the first draw)
  rvc_reference_max_abs_diff_noiseless           every random draw zeroed in both (``randn_like``
                                                 and ``rand`` patched for the two calls only): the
                                                 deterministic path alone
  rvc_reference_peak                             the reference output's peak, for scale

Run: .venv/bin/python bench/rvc_reference_check.py --reference-src /tmp/rvcref [--full] [--steps 3]
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

TINY = [513, 8, 8, 8, 16, 2, 1, 3, 0, "1", [3], [[1, 3, 5]], [10, 10, 4], 16, [20, 20, 8], 1, 8, 40000]


def reference_class(source: Path):
    """``SynthesizerTrnMs768NSFsid`` imported from the reference checkout. Its ``infer/module``
    imports only torch, numpy, scipy and its own siblings, so no stubs are needed; should a later
    version import the WebUI's config or i18n at module level, stub those here."""
    if not (source / "infer" / "module" / "models.py").is_file():
        raise SystemExit(f"{source} is not an RVC WebUI checkout (no infer/module/models.py)")
    sys.path.insert(0, str(source))
    from infer.module.models import SynthesizerTrnMs768NSFsid
    return SynthesizerTrnMs768NSFsid


def train_and_export(config: list, steps: int, folder: Path, d_shrink: int) -> Path:
    from bench_train_voice import items
    from studio.train_voice.export import export_pth
    from studio.train_voice.trainer import TrainOptions, VoiceTrainer
    from tiny_voice_train import CONSENT

    data = items(6, seconds=1.5)
    trainer = VoiceTrainer(data, config, TrainOptions(batch_size=2, d_shrink=d_shrink, seed=3, eval_every=0,
                                                      sample_every=0, save_every=10 ** 9), folder / "run")
    for _ in trainer.run(max_steps=steps):
        pass
    return export_pth(trainer.net_g, config, folder / "voice.pth", version="v2", use_f0=True, epoch=1,
                      step=trainer.step, voice_name="bench", consent=CONSENT)


def load_reference(cls, pth: Path):
    """As the WebUI's ``get_vc`` loads a v2 f0 voice (without half precision)."""
    import torch

    cpt = torch.load(str(pth), map_location="cpu", weights_only=True)
    config = list(cpt["config"])
    config[-3] = cpt["weight"]["emb_g.weight"].shape[0]
    net_g = cls(*config, is_half=False)
    del net_g.enc_q
    result = net_g.load_state_dict(cpt["weight"], strict=False)
    return net_g.eval().float(), result


@contextlib.contextmanager
def no_randomness():
    """Every ``torch.randn_like`` and ``torch.rand`` returns zeros while inside (both models draw
    their noise through these two)."""
    import torch

    saved = torch.randn_like, torch.rand
    torch.randn_like = lambda x, *a, **k: torch.zeros_like(x)
    torch.rand = lambda *size, **k: torch.zeros(*size, **{n: v for n, v in k.items() if n in ("device", "dtype")})
    try:
        yield
    finally:
        torch.randn_like, torch.rand = saved


def inputs(frames: int, seed: int):
    import numpy as np
    import torch

    from studio.backends.rvc.pipeline import coarse_pitch

    rng = np.random.default_rng(seed)
    phone = torch.from_numpy(rng.standard_normal((1, frames, 768)).astype(np.float32))
    t = np.arange(frames) / 100
    f0 = 180 + 40 * np.sin(2 * np.pi * 0.8 * t)
    f0[(t > 0.5) & (t < 0.7)] = 0.0  # an unvoiced stretch: the source is noise there
    pitch = torch.from_numpy(coarse_pitch(f0.copy()))[None]
    return phone, pitch, torch.from_numpy(f0).float()[None]


def compare(label: str, config: list, args, cls) -> None:
    import torch

    from studio.backends.rvc.checkpoint import load_model

    with tempfile.TemporaryDirectory(prefix="gieok-rvcref-") as tmp:
        pth = train_and_export(config, args.steps, Path(tmp), 16 if label == "tiny" else 1)
        ours = load_model(pth).synthesizer.eval()
        reference, result = load_reference(cls, pth)
    phone, pitch, pitchf = inputs(args.frames, args.seed)
    lengths, sid = torch.tensor([phone.shape[1]]), torch.tensor([0])

    def run_both():
        torch.manual_seed(args.seed)
        with torch.no_grad():
            ref = reference.infer(phone, lengths, pitch, pitchf, sid)[0][0, 0]
        torch.manual_seed(args.seed)
        mine = ours.infer(phone, pitch, pitchf, speaker=0)
        return ref, mine

    ref, mine = run_both()
    with no_randomness():
        ref0, mine0 = run_both()
    if ref.shape != mine.shape:
        print(f"{label}_shapes_differ: reference {tuple(ref.shape)} ours {tuple(mine.shape)}")
    n = min(len(ref), len(mine))
    prefix = "rvc_reference" if label == "tiny" else f"rvc_reference_{label}"
    print(f"{prefix}_missing_keys: {len(result.missing_keys)} {result.missing_keys[:4]}")
    print(f"{prefix}_unexpected_keys: {len(result.unexpected_keys)} {result.unexpected_keys[:4]}")
    print(f"{prefix}_peak: {float(ref.abs().max()):.6g}")
    print(f"{prefix}_max_abs_diff_noiseless: {float((ref0[:n] - mine0[:n]).abs().max()):.3g}")
    print(f"{prefix}_max_abs_diff: {float((ref[:n] - mine[:n]).abs().max()):.3g}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference-src", required=True, type=Path)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full", action="store_true", help="also the published v2 40k size (random start)")
    args = parser.parse_args()
    cls = reference_class(args.reference_src.expanduser())
    if args.full:
        from studio.train_voice.flow import V2_CONFIGS
        compare("full", V2_CONFIGS[40000], args, cls)
    compare("tiny", TINY, args, cls)  # last: its lines are the bench's result


if __name__ == "__main__":
    main()
