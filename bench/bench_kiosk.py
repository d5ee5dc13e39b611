"""Kiosk soak: a day of visitors must leave the machine as it found it.

N simulated visitors go through the kiosk's own flows in-process on the offline backends (not a
browser): arrive -> their book is made (written, sketched, narrated, PDF; every ``--voice-every``
th visitor with a recording of their own voice) -> every page is read back for playback -> a
one-time link is issued and fetched once -> they leave (forget). A warm-up visitor runs first so
that loading the writer and speech models is not counted as growth.

Prints (``name: value``):
  rss_before_mb / rss_after_mb / rss_growth_mb       server memory after the warm-up and after N
  data_before_kb / data_after_kb / data_growth_kb    the data dir (only the job log may grow)
  seconds_per_visitor (median) and seconds_per_visitor_ratio (last tenth / first tenth of the
                                   visitors without a voice: flat ≈ 1)
  owners_left, exports_left, links_left, visitors_left   all must be 0
  bound_ok   rss growth <= --rss-bound-mb (60) and data growth <= --data-bound-kb-per-visitor (1 KB)
             × visitors, and nothing left of any visitor (exit 1 otherwise)
What only the web server holds (Gradio's upload folder and per-page sessions) is measured by
``bench_kiosk_app.py``, which sends the visitors through the running app.
Run: .venv/bin/python bench/bench_kiosk.py [--visitors 200]   (about 7 s a visitor on 2 cores,
     plus ~30 s of warm-up; --visitors 4 for a one-minute check)
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _soak import MEMORIES, kiosk_arguments, korean_recording, rss_mb  # noqa: E402
from studio.config import Settings  # noqa: E402
from studio.job_log import folder_bytes  # noqa: E402
from studio.kiosk import Kiosk  # noqa: E402
from studio.kiosk_book import VisitorMemories, make_book, page_for_playback  # noqa: E402
from studio.services import build_services  # noqa: E402

def one_visitor(kiosk: Kiosk, n: int, voice: Path | None) -> float:
    started = time.perf_counter()
    owner = f"anon:{n % 10**32:032d}"
    kiosk.arrive(owner)
    visit = VisitorMemories(f"순자{n}", "할머니", MEMORIES[: 1 + n % 3], None, str(voice) if voice else None,
                            voice is not None, "ko" if n % 2 else "en")
    pdf = None
    for event in make_book(kiosk, owner, visit):
        pdf = event.payload.get("pdf", pdf)
    book_id = kiosk.visitor(owner).book_id
    for index in range(kiosk.settings.page_count):
        page_for_playback(kiosk.services, owner, book_id, index)
    token = kiosk.issue_link(owner, pdf)
    link = kiosk.links.take(token)
    assert link is not None and link.path.read_bytes()[:4] == b"%PDF"
    assert kiosk.links.take(token) is None  # once only
    assert kiosk.forget(owner)
    return time.perf_counter() - started


def main() -> int:
    args = kiosk_arguments(__doc__.splitlines()[0], voice_every=10, rss_bound_mb=60.0).parse_args()

    with tempfile.TemporaryDirectory(prefix="gieok-bench-kiosk-") as tmp:
        voice = korean_recording(Path(tmp) / "visitor.wav")
        services = build_services(Settings(data_dir=Path(tmp) / "data", mode="kiosk", kiosk_pin="2468"))
        kiosk = Kiosk(services)
        kiosk.purge_all()
        data_dir = services.settings.data_dir
        for n in range(-4, 0):  # warm-up: both languages, with and without a voice; models and fonts load once
            one_visitor(kiosk, 1000 + n, voice if n % 2 else None)
        rss_before, data_before = rss_mb(), folder_bytes(data_dir)
        seconds, plain = [], []  # every visitor; those without a voice (compared first vs last)
        for n in range(1, args.visitors + 1):
            with_voice = voice if args.voice_every and n % args.voice_every == 0 else None
            seconds.append(one_visitor(kiosk, n, with_voice))
            if with_voice is None:
                plain.append(seconds[-1])
        rss_after, data_after = rss_mb(), folder_bytes(data_dir)
        tenth = max(1, len(plain) // 10)
        leftovers = {
            "owners_left": len(services.store.owners()),
            "exports_left": sum(1 for _ in kiosk.exports_root.rglob("*") if _.is_file()) if kiosk.exports_root.exists() else 0,
            "links_left": len(kiosk.links),
            "visitors_left": kiosk.active_visitors(),
        }
        jobs = len(kiosk.job_log.read())
        services.close()

    rss_growth, data_growth_kb = rss_after - rss_before, (data_after - data_before) / 1024
    data_bound_kb = args.data_bound_kb_per_visitor * args.visitors
    print(f"visitors: {args.visitors}")
    print(f"jobs_logged: {jobs}")
    print(f"rss_before_mb: {rss_before:.1f}")
    print(f"rss_after_mb: {rss_after:.1f}")
    print(f"data_before_kb: {data_before / 1024:.1f}")
    print(f"data_after_kb: {data_after / 1024:.1f}")
    for name, value in leftovers.items():
        print(f"{name}: {value}")
    print(f"seconds_per_visitor: {statistics.median(seconds):.2f}")
    print(f"seconds_per_visitor_ratio: {statistics.mean(plain[-tenth:]) / statistics.mean(plain[:tenth]):.2f}")
    print(f"rss_growth_mb: {rss_growth:.1f} (bound {args.rss_bound_mb:g})")
    print(f"data_growth_kb: {data_growth_kb:.1f} (bound {data_bound_kb:g}: the job log only)")
    ok = rss_growth <= args.rss_bound_mb and data_growth_kb <= data_bound_kb and not any(leftovers.values())
    print(f"bound_ok: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
