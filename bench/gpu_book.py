"""A 12-page book on a real GPU: sequential vs batched vs compiled, seconds per page and peak memory.

    GIEOK_SD_MODEL=/models/sd15 .venv/bin/python bench/gpu_book.py [--sdxl /models/sdxl]
        [--pages 12] [--steps 25] [--batch 4] [--no-compile]
        [--vits facebook/mms-tts-kor [--rvc-pth voice.pth --hubert lengyue233/content-vec-best]]

Needs a CUDA GPU and a real Stable Diffusion 1.5 model (hub id, folder or single file, loaded by
the studio's own code, so the fp16 variant / no safety checker / SDPA decisions are the ones the
studio makes). Pages are 512² (1024² with ``--sdxl``). Prints per mode: seconds per page, peak
GPU memory, and the ratio to sequential; with ``--vits`` (and ``--rvc-pth``) the narration's
real-time factor (VITS itself follows GIEOK_DEVICE only once tts_vits uses ``voice_placement``).
Key figures are printed as ``name: value``.

Published reference points to compare with (diffusers docs, "Speed up inference" / torch 2.0
blog): SD 1.5 fp16 at 512², 50 steps ≈ 1.5-2 s per image on an A100 with SDPA; torch.compile
adds 5-30 % on top. On this repository's CPU-only machines the script exits with a clear message.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = ["a grandmother picking persimmons under an autumn tree", "a girl and her grandmother reading a book",
           "a small house by the sea at dawn", "grandmother teaching a child to cook rice cakes",
           "a family walking in the rain with umbrellas", "an old photo album on a wooden table",
           "a cat sleeping in a sunny courtyard", "two people planting flowers in a garden",
           "a market street with lanterns at night", "grandmother singing a lullaby",
           "children flying a kite on a hill", "a quiet snowy village at evening"]


def _require_cuda() -> None:
    try:
        import torch
    except ImportError:
        sys.exit("gpu_book: torch is not installed.")
    if not torch.cuda.is_available():
        sys.exit("gpu_book: no CUDA GPU is visible on this machine; run it on a machine with an NVIDIA GPU "
                 "(the tiny-model benches in bench/ run on the CPU).")


def _illustrator(source: str):
    from studio.backends.diffusers_sd import DiffusersIllustrator
    from studio.config import Settings

    ill = DiffusersIllustrator(Settings(data_dir=Path(tempfile.mkdtemp()), sd_model=source, device="cuda"))
    problem = ill.available()
    if not problem.ok:
        sys.exit(f"gpu_book: the model {source!r} cannot be used: {problem.reason}")
    ill._ensure_loaded()
    return ill


def _measure(label: str, pages: int, run) -> dict:
    import torch

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    run()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 1024**3
    print(f"{label:<12} {seconds / pages:6.3f} s/page  peak {peak:5.2f} GiB")
    return {"s_per_page": seconds / pages, "peak_gib": peak}


def bench_family(source: str, side: int, pages: int, steps: int, batch: int, compile_unet: bool, tag: str) -> None:
    import torch

    from studio.backends.base import IllustrationRequest
    from studio.book import ImageSpec

    ill = _illustrator(source)
    pipe = ill._base
    print(f"{tag}: {type(pipe).__name__} from {source}, {pages} pages {side}² x {steps} steps, "
          f"{torch.cuda.get_device_name(0)}, dtype {ill._placement.dtype}, slicing {ill._placement.slicing}")
    prompts = (PROMPTS * ((pages + len(PROMPTS) - 1) // len(PROMPTS)))[:pages]

    guidance = 7.0 if tag == "sd15" else 6.0

    def request(prompt: str) -> IllustrationRequest:
        spec = ImageSpec(width=side, height=side, steps=steps, guidance=guidance, seed=1)
        return IllustrationRequest(spec=spec, prompt=prompt)

    def sequential():
        for prompt in prompts:
            ill.illustrate(request(prompt))

    def embeds(chunk: list[str]) -> dict:
        """The studio's own prompt encoding (compel), stacked: the same text conditioning as sequential."""
        encoded = [ill._prompt_encoder().encode(p, "", guidance).kwargs for p in chunk]
        if all(e[k].shape == encoded[0][k].shape for e in encoded for k in encoded[0]):
            return {k: torch.cat([e[k] for e in encoded]) for k in encoded[0]}
        return {"prompt": chunk}  # prompts of different window counts: plain prompts

    def batched():  # pages that share the pipeline and the size, ``batch`` at a time
        for i in range(0, pages, batch):
            chunk = prompts[i:i + batch]
            with torch.inference_mode():
                pipe(**embeds(chunk), num_inference_steps=steps, width=side, height=side, guidance_scale=guidance,
                     generator=[torch.Generator("cpu").manual_seed(1) for _ in chunk])

    ill.illustrate(request(prompts[0]))  # warm-up (kernels, allocator)
    results = {"sequential": _measure("sequential", pages, sequential),
               "batched": _measure(f"batched x{batch}", pages, batched)}
    if compile_unet:
        pipe.unet = torch.compile(pipe.unet, mode="max-autotune-no-cudagraphs", fullgraph=False)
        ill.illustrate(request(prompts[0]))  # compile outside the timing
        results["compiled"] = _measure("compiled", pages, sequential)
    base = results["sequential"]["s_per_page"]
    for mode, figures in results.items():
        print(f"{tag}_{mode}_s_per_page: {figures['s_per_page']:.3f}")
        print(f"{tag}_{mode}_peak_gib: {figures['peak_gib']:.2f}")
        if mode != "sequential":
            print(f"{tag}_{mode}_vs_sequential: {figures['s_per_page'] / base:.3f}")


def bench_narration(vits: str, rvc_pth: str, hubert: str, rmvpe: str) -> None:
    """Real-time factor (seconds of compute per second of speech) of VITS, then RVC on its output."""
    import torch

    from studio.backends.rvc import RvcConverter
    from studio.backends.tts_vits import VitsSpeaker
    from studio.config import Settings

    settings = Settings(data_dir=Path(tempfile.mkdtemp()), vits_model_ko=vits, hubert_model=hubert,
                        rmvpe_model=rmvpe, device="cuda")
    text = "옛날 옛적에 감나무 아래에서 할머니가 노래를 불렀어요. 우리는 그 노래를 아직도 기억해요."
    speaker = VitsSpeaker(settings)
    speaker.speak(text, "ko")  # load + warm-up
    start = time.perf_counter()
    speech = speaker.speak(text, "ko")
    vits_s = time.perf_counter() - start
    print(f"narration_vits_rtf: {vits_s / speech.duration_s:.3f}")
    if rvc_pth and hubert:
        converter = RvcConverter(settings)
        converter.convert(speech, model_path=rvc_pth)  # load + warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        converter.convert(speech, model_path=rvc_pth)
        torch.cuda.synchronize()
        print(f"narration_rvc_rtf: {(time.perf_counter() - start) / speech.duration_s:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("GIEOK_SD_MODEL", ""), help="SD 1.5 hub id, folder or file")
    parser.add_argument("--sdxl", default="", help="optional SDXL model (1024² pages)")
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--vits", default="", help="optional VITS model (e.g. facebook/mms-tts-kor): narration RTF")
    parser.add_argument("--rvc-pth", default="", help="optional RVC .pth converted after VITS")
    parser.add_argument("--hubert", default="", help="HuBERT/ContentVec for --rvc-pth")
    parser.add_argument("--rmvpe", default="", help="optional rmvpe.pt (pitch method rmvpe)")
    args = parser.parse_args()
    _require_cuda()
    if not args.model:
        sys.exit("gpu_book: set GIEOK_SD_MODEL (or --model) to a Stable Diffusion 1.5 model.")
    bench_family(args.model, 512, args.pages, args.steps, args.batch, not args.no_compile, "sd15")
    if args.sdxl:
        bench_family(args.sdxl, 1024, args.pages, args.steps, max(1, args.batch // 2), not args.no_compile, "sdxl")
    if args.vits:
        bench_narration(args.vits, args.rvc_pth, args.hubert, args.rmvpe)


if __name__ == "__main__":
    main()
