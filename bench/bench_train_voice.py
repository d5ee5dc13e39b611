"""Voice training bench: seconds per RVC v2 training step on this machine.

  tiny_step_s   the tiny test model (batch 2), the baseline measured in this run
  full_step_s   the published v2 40k generator + full multi-period/scale discriminator at batch 4
                (3.7 s slices, random weights: the real compute cost), timed over ``--full-steps``
                steps after one warm-up step; skipped with the reason when the warm-up alone exceeds
                ``--budget`` seconds
  full_vs_tiny  full_step_s / tiny_step_s
  epoch_10min_s the full step time x the steps of one epoch for 10 minutes of speech at batch 4

Features are random 768-dim vectors (HuBERT cost is a one-off, cached step, not per epoch).
Run: .venv/bin/python bench/bench_train_voice.py [--full-steps 2] [--budget 60] [--device cpu]
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

TINY = [513, 8, 8, 8, 16, 2, 1, 3, 0, "1", [3], [[1, 3, 5]], [10, 10, 4], 16, [20, 20, 8], 1, 8, 40000]


def items(count: int, seconds: float = 3.7, sr: int = 40000):
    import numpy as np

    from studio.backends.rvc.pipeline import coarse_pitch
    from studio.train_voice.dataset import TrainItem
    from tiny_voice import speech_like

    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        wav = speech_like(seconds, sr, 160 + 10 * i, seed=i)
        frames = int(seconds * 100)
        pitchf = np.full(frames, 160.0 + 10 * i, dtype=np.float32)
        out.append(TrainItem(wav, rng.standard_normal((frames // 2 + 1, 768)).astype(np.float32),
                             coarse_pitch(pitchf.astype(np.float64)), pitchf, f"bench{i}"))
    return out


def step_times(config, options, data, steps: int, budget_s: float | None = None):
    from studio.train_voice.trainer import VoiceTrainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = VoiceTrainer(data, config, options, Path(tmp))
        batches = [trainer._batch(data[i:i + options.batch_size]) for i in range(0, options.batch_size * (steps + 1),
                                                                                  options.batch_size)]
        started = time.perf_counter()
        trainer.train_step(batches[0])  # warm-up (allocations, first kernels)
        warm = time.perf_counter() - started
        if budget_s is not None and warm * (steps + 1) > budget_s:
            return None, warm
        times = []
        for batch in batches[1:steps + 1]:
            started = time.perf_counter()
            trainer.train_step(batch)
            times.append(time.perf_counter() - started)
        return statistics.median(times), warm


def main() -> None:
    import torch

    from studio.train_voice.flow import V2_CONFIGS
    from studio.train_voice.trainer import TrainOptions

    parser = argparse.ArgumentParser()
    parser.add_argument("--full-steps", type=int, default=2)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}, device: {args.device}")
    tiny, _ = step_times(TINY, TrainOptions(batch_size=2, d_shrink=16, device=args.device), items(12), 5)
    print(f"tiny_step_s: {tiny:.4f}")
    full, warm = step_times(V2_CONFIGS[40000], TrainOptions(batch_size=4, device=args.device),
                            items(4 * (args.full_steps + 1)), args.full_steps, args.budget)
    if full is None:
        print(f"full_step_s: skipped (the warm-up step took {warm:.1f} s; {args.full_steps} more would pass "
              f"the {args.budget:.0f} s budget)")
        full = warm
        label = "full_step_s_warmup"
    else:
        label = "full_step_s"
    steps_per_epoch = math.ceil(600 / 3.7 / 4)  # 10 minutes of speech in 3.7 s slices, batch 4
    print(f"{label}: {full:.2f}")
    print(f"full_vs_tiny: {full / tiny:.1f}")
    print(f"epoch_10min_s: {full * steps_per_epoch:.0f}")


if __name__ == "__main__":
    main()
