"""LoRA training bench: seconds per training step of the tiny SD 1.5 model on this machine's CPU.

  tiny_step_s          rank 4, batch 2, 64 px, no gradient checkpointing: the baseline of this run
  checkpointing_ratio  the same with gradient checkpointing / baseline (memory for time)
  batch4_ratio         batch 4 / baseline (per step; per image it is this / 2)
  rank16_ratio         rank 16 / baseline
  prior_ratio          with prior preservation (a class image per instance image) / baseline

Each is the median of ``--steps`` steps after two warm-up steps, on one torch thread (the tiny
model is fastest there). The real SD 1.5 at 512 px needs a GPU: not measured here.
Run: .venv/bin/python bench/bench_train_lora.py [--steps 6]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def step_seconds(pipe_dir: Path, work: Path, steps: int, **overrides) -> float:
    from diffusers import StableDiffusionPipeline
    from PIL import Image

    from studio.book import Consent
    from studio.train_lora import LoraOptions, LoraTrainer, TrainingSet

    pipe = StableDiffusionPipeline.from_pretrained(pipe_dir, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    images = [Image.new("RGB", (64, 64), (40 * i, 120, 200 - 30 * i)) for i in range(4)]
    data = TrainingSet(images, ["a photo of sks grandmother"] * 4, trigger="sks")
    options = dict(rank=4, steps=steps + 2, batch_size=2, resolution=64, gradient_checkpointing=False,
                   save_every=10_000, class_images=2, class_steps=2, class_prompt="a photo of a grandmother")
    options.update(overrides)
    consent = Consent("bench", "bench", "2026-11-30", "bench")
    trainer = LoraTrainer(pipe, data, LoraOptions(**options), work, consent=consent)
    times, last = [], None
    for event in trainer.run():
        if event.payload["event"] != "step":
            continue
        now = time.perf_counter()
        if last is not None and event.payload["step"] > 2:
            times.append(now - last)
        last = now
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    import torch

    from tiny_sd import build_pipeline

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_pipeline(root / "parts").save_pretrained(root / "sd", safe_serialization=True)
        base = step_seconds(root / "sd", root / "w0", args.steps)
        cases = {
            "checkpointing_ratio": dict(gradient_checkpointing=True),
            "batch4_ratio": dict(batch_size=4),
            "rank16_ratio": dict(rank=16),
            "prior_ratio": dict(prior_preservation=True),
        }
        results = {name: step_seconds(root / "sd", root / name, args.steps, **kw) / base for name, kw in cases.items()}
    print(f"tiny_step_s: {base:.4f}")
    for name, value in results.items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
