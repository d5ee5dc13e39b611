"""Export bench on the target machine (2 cores): a 12-page Korean book with 12 narrations of ~8 s
and 512 px pictures.

Prints seconds and ratios:
  pdf+epub_s        PDF (A4) + EPUB made together (target <= 5 s; clip cache cleared first)
  mp4_s             the MP4 at 1280x720 with burned-in text (target <= 20 s)
  mp4_realtime      MP4 encode time / total narration length (lower is better; 0.2 = 5x faster than real time)
  webbook_s, m4b_s  for reference
  *_cpu_s           CPU seconds (this process + ffmpeg): what the job costs whatever else runs
  load              the 1-minute load average at the start (other work on the machine slows every number)
Run: .venv/bin/python bench/bench_export.py [--repeat 1]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from export_fixtures import make_book  # noqa: E402
from studio.config import Settings  # noqa: E402
from studio.export import av  # noqa: E402
from studio.export.audiobook import export_audiobook  # noqa: E402
from studio.export.common import gather  # noqa: E402
from studio.export.epub import export_epub  # noqa: E402
from studio.export.pdf import export_pdf  # noqa: E402
from studio.export.video import export_video  # noqa: E402
from studio.export.webbook import export_webbook  # noqa: E402
from studio.services import build_services  # noqa: E402


CPU: dict[str, list[float]] = {}


def timed(fn, label: str = "") -> float:
    """Wall seconds; the CPU seconds of this process and its ffmpeg children go to CPU[label]."""
    before = _cpu()
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    CPU.setdefault(label, []).append(_cpu() - before)
    return elapsed


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="gieok-bench-") as tmp:
        tmp = Path(tmp)
        av._CLIP_CACHE = tmp / "clip-cache"  # measure the real encoding, not a warm cache
        services = build_services(Settings(data_dir=tmp / "data"))
        durations = [7.5 + 0.1 * i for i in range(12)]  # ~8 s each, 95 s in all
        saved = make_book(services.store, pages=12, durations=durations, image_size=512)
        out = tmp / "out"
        results: dict[str, list[float]] = {k: [] for k in ("gather", "pdf+epub", "mp4", "webbook", "m4b")}
        for _ in range(args.repeat):
            shutil.rmtree(av._CLIP_CACHE, ignore_errors=True)
            book = None

            def both():
                nonlocal book
                book = gather(services.store.get("local", saved.id), services.store.media_for("local"), services.backends)
                export_pdf(book, out, size="a4")
                export_epub(book, out, settings=services.settings)

            results["pdf+epub"].append(timed(both, "pdf+epub"))
            results["gather"].append(timed(lambda: gather(saved, services.store.media_for("local"), services.backends)))
            results["mp4"].append(timed(lambda: export_video(book, out, burn_text=True, settings=services.settings), "mp4"))
            results["webbook"].append(timed(lambda: export_webbook(book, out, settings=services.settings)))
            results["m4b"].append(timed(lambda: export_audiobook(book, out, settings=services.settings)))
        narration = sum(durations)
        best = {k: min(v) for k, v in results.items()}
        print(f"load_1min_at_start   {load:.2f} (cores: {os.cpu_count()})")
        print(f"narration_total_s    {narration:.1f} over 12 pages")
        print(f"gather_s             {best['gather']:.2f}")
        print(f"pdf+epub_s           {best['pdf+epub']:.2f}   target <= 5   {'OK' if best['pdf+epub'] <= 5 else 'SLOW'}")
        print(f"mp4_s                {best['mp4']:.2f}   target <= 20  {'OK' if best['mp4'] <= 20 else 'SLOW'}")
        print(f"mp4_realtime_ratio   {best['mp4'] / narration:.3f}  (encode time / narration length)")
        cores = os.cpu_count() or 1
        for label in ("pdf+epub", "mp4"):
            cpu = min(CPU[label])
            print(f"{label + '_cpu_s':20s} {cpu:.2f}   CPU seconds; on {cores} idle cores about {cpu / cores:.1f} s wall")
        print(f"webbook_s            {best['webbook']:.2f}")
        print(f"m4b_s                {best['m4b']:.2f}")
        for f in sorted(out.iterdir()):
            print(f"  {f.name:40s} {f.stat().st_size / 1e6:7.2f} MB")
        for name in ("pdf+epub", "mp4", "webbook", "m4b"):  # the key figures last, as ``name: value`` (bench/run_all)
            print(f"export_{name.replace('+', '_')}_s: {best[name]:.2f}")
        print(f"export_mp4_realtime_ratio: {best['mp4'] / narration:.3f}")
        services.close()


if __name__ == "__main__":
    main()
