"""Illustration overhead on a tiny Stable Diffusion pipeline (built from config, no downloads).

    .venv/bin/python bench/bench_illustrate.py [--quick]   (--quick: 3 rounds instead of 8)

Prints, measured in this one run:
  * page generation through the studio (prompt, maps, LoRA choice, tone, PNG with parameters,
    stored variant) vs a raw diffusers call on the same loaded pipeline   (target <= 1.05x)
  * switching the style LoRA (set_adapters) vs reloading the pipeline     (target <= 0.1x)
  * 4 variants of a page in one batched pipeline call vs 4 calls one by one (same seeds; on a
    GPU batching fills the device, on 2 CPU cores it mostly saves the per-call overhead)
  * a 4-page whole-book job with its pages in one call (GIEOK_PAGE_BATCH=4) vs one page per call
    (=1), each run on a fresh copy of the same book; this ratio decides the CPU default (one
    page per call) and, run on a GPU, shows what batching gains there
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import torch  # noqa: E402

from studio import illustrate, page_inputs  # noqa: E402
from studio.book import ImageSpec, LoraChoice, Page  # noqa: E402
from studio.config import Settings  # noqa: E402
from studio.services import build_services  # noqa: E402
from tiny_sd import build_all  # noqa: E402

SIZE, STEPS, ROUNDS = 64, 4, (3 if "--quick" in sys.argv[1:] else 8)  # --quick: bench/run_all


def _once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed(fn, rounds=ROUNDS) -> float:
    fn()  # warm up
    return min(_once(fn) for _ in range(rounds))


def timed_pair(first, second, rounds=ROUNDS) -> tuple[float, float]:
    """Alternate the two so a busy shared machine slows both alike; best of each (the least
    disturbed run is the truest cost on a machine shared with other work)."""
    first(), second()
    a, b = [], []
    for _ in range(rounds):
        a.append(_once(first))
        b.append(_once(second))
    return min(a), min(b)


def main() -> None:
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    root = Path(tempfile.mkdtemp(prefix="gieok-bench-"))
    models = build_all(root / "models")
    services = build_services(Settings(data_dir=root / "data", sd_model=str(models.sd)))
    book = services.store.create("local", "Bench", page_count=4)
    spec = ImageSpec(width=SIZE, height=SIZE, steps=STEPS, seed=5, seed_locked=True, tone="warm")
    book = services.store.update("local", book.id, lambda b: setattr(b, "pages", [
        Page(text="p", illustration_prompt="a grandmother in the garden", image=spec)]))
    page = book.pages[0]
    ill = services.backends.active("illustrator")

    illustrate.generate_variants(services, "local", book.id, page.id, spec)  # loads the model
    pipe = ill._pipeline_for(False, "none")
    prompt = illustrate.final_spec(book, page, spec, 5).prompt

    @torch.inference_mode()  # as the studio runs it, so only the studio's own work differs
    def raw():
        return pipe(prompt=prompt, num_inference_steps=STEPS, guidance_scale=spec.guidance, width=SIZE,
                    height=SIZE, generator=torch.Generator("cpu").manual_seed(5)).images[0]

    studio_s, raw_s = timed_pair(lambda: illustrate.generate_variants(services, "local", book.id, page.id, spec), raw)

    a = page_inputs.add_user_lora(services, "local", book.id, page.id, models.lora_a, "a.safetensors")
    b = page_inputs.add_user_lora(services, "local", book.id, page.id, models.lora_b, "b.safetensors")
    request = illustrate.IllustrationRequest(spec=ImageSpec(), prompt="")
    request.lora_paths = page_inputs.lora_paths(services, ImageSpec(loras=[LoraChoice(a.ref), LoraChoice(b.ref)]), "local")
    toggle = [0]

    def switch():
        toggle[0] ^= 1
        request.spec.loras = [LoraChoice(a.ref, 1.0 * toggle[0]), LoraChoice(b.ref, 1.0 - toggle[0])]
        ill._apply_loras(pipe, request)

    switch_s = timed(switch)

    def reload():
        pipeline = ill._load_pipeline(str(models.sd), torch.float32)
        pipeline.load_lora_weights(str(models.lora_a), adapter_name="a")

    reload_s = timed(reload, rounds=3)

    variants = 4
    many = ImageSpec.from_dict({**spec.to_dict(), "loras": []})

    def batched():
        illustrate.generate_variants(services, "local", book.id, page.id, many, count=variants)

    def sequential():
        for i in range(variants):
            one = ImageSpec.from_dict({**many.to_dict(), "seed": many.seed + i})
            illustrate.generate_variants(services, "local", book.id, page.id, one, count=1)

    batched_s, sequential_s = timed_pair(batched, sequential, rounds=3)

    pages = 4
    whole = services.store.create("local", "Whole book", page_count=pages)
    services.store.update("local", whole.id, lambda b: setattr(b, "pages", [
        Page(text=f"p{i}", illustration_prompt=f"a grandmother in the garden, page {i}",
             image=ImageSpec.from_dict({**many.to_dict(), "seed": 30 + i})) for i in range(pages)]))

    def whole_book(batch):
        def run():
            services.settings.page_batch = batch
            copy = services.store.duplicate("local", whole.id)
            for _ in illustrate.illustrate_book(services, "local", copy.id):
                pass
            services.store.delete("local", copy.id)
        return run

    pages_batched_s, pages_sequential_s = timed_pair(whole_book(pages), whole_book(1), rounds=2)
    print(f"tiny SD {SIZE}x{SIZE}, {STEPS} steps, best of {ROUNDS} interleaved runs")
    print(f"page through studio {studio_s * 1000:8.1f} ms | raw diffusers {raw_s * 1000:8.1f} ms | "
          f"ratio {studio_s / raw_s:.3f}x (target <= 1.05x)")
    print(f"LoRA switch         {switch_s * 1000:8.1f} ms | pipeline reload {reload_s * 1000:7.1f} ms | "
          f"ratio {switch_s / reload_s:.3f}x (target <= 0.1x)")
    print(f"{variants} variants batched {batched_s * 1000:7.1f} ms | one by one {sequential_s * 1000:7.1f} ms | "
          f"ratio {batched_s / sequential_s:.3f}x")
    print(f"{pages}-page book batched {pages_batched_s * 1000:7.1f} ms | one page a call {pages_sequential_s * 1000:7.1f} ms"
          f" | ratio {pages_batched_s / pages_sequential_s:.3f}x")
    print(f"page_studio_vs_raw: {studio_s / raw_s:.3f}")
    print(f"lora_switch_vs_reload: {switch_s / reload_s:.3f}")
    print(f"variants_batched_vs_sequential: {batched_s / sequential_s:.3f}")
    print(f"pages_batched_vs_sequential: {pages_batched_s / pages_sequential_s:.3f}")
    services.close()


if __name__ == "__main__":
    main()
