"""Public Space soak through the running app: many strangers' page loads must not pile up memory.

Starts the real app in public mode (session guard, per-visitor stores) on a free port and sends N
visitors through it, each with a fresh gradio_client, as a browser would: the page loads
(``/start_session``), a book is made, listed and opened, a second book is deleted, and the page
closes (its heartbeat stream ends, which is how Gradio learns a tab closed). Every
``--sweep-every`` visitors the app's sweep runs (``tabs.common.sessions.drop_closed``) with a clock
past the hour Gradio keeps a closed page's states, as its timer would on a long day.

Gradio 6 keeps one session object per page load (~0.7 MB for the studio's 440 components) until
10,000 newer pages: without the sweep this process would hold every visitor's.

Prints (``name: value``), with bounds (exit 1 otherwise):
  session_kb_each            what one held page session costs here (tracemalloc over 20 made aside)
  sessions_held_before_sweep the most closed pages Gradio held before a sweep
  sessions_held              after the last sweep (<= 1: none of the closed pages)
  rss_mb_per_visitor_second_half  the memory trend once settled (<= --slope-bound-mb, 0.1)
  rss_growth_mb              server memory after the warm-up -> after N visitors and the sweep
                             (<= --rss-bound-mb, 120 for 500 visitors; held sessions alone would
                             be ~0.7 MB each)
  owners_with_books          visitors whose books are still stored (they expire by the anonymous
                             policy, not here): N + warm-up, so the store was really written
  seconds_per_visitor (median), seconds_per_visitor_ratio (last third / first third; flat ≈ 1)
Run: .venv/bin/python bench/bench_public_app.py [--visitors 500]   (about 1.5 s a visitor on 2
     idle cores: ~13 minutes for 500; --visitors 30 takes about a minute)
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from _soak import close_page, rss_mb, start_app  # noqa: E402


def one_visitor(url: str, n: int) -> float:
    from gradio_client import Client

    started = time.perf_counter()
    client = Client(url, verbose=False, download_files=False)  # a fresh page load: a new stranger
    try:
        client.predict(api_name="/start_session")
        kept = client.predict(f"할머니의 감나무 {n}", "", "ko", 6, api_name="/create_book")[0]["value"]
        spare = client.predict(f"Grandpa's boat {n}", "", "en", 4, api_name="/create_book")[0]["value"]
        client.predict(api_name="/list_books")
        client.predict(kept, api_name="/open_book")
        client.predict(spare, api_name="/delete_book")
        close_page(url, client)
    finally:
        client.close()
    return time.perf_counter() - started


def session_kb(demo) -> float:
    from gradio.state_holder import SessionState

    tracemalloc.start()
    made = [SessionState(demo) for _ in range(20)]
    size = tracemalloc.get_traced_memory()[0] / len(made) / 1024
    tracemalloc.stop()
    return size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rss-bound-mb", type=float, default=120.0)
    parser.add_argument("--slope-bound-mb", type=float, default=0.1, help="MB a visitor over the second half")
    parser.add_argument("--sweep-every", type=int, default=10,
                        help="visitors between sweeps (the timer runs every 5 minutes)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gieok-bench-public-app-") as tmp:
        os.environ["GRADIO_TEMP_DIR"] = str(Path(tmp) / "gradio")
        from tabs.common import sessions

        demo, services, url = start_app(Path(tmp) / "data", mode="public")
        try:
            for n in range(args.warmup):  # the first pages load fonts, catalogues and the store
                one_visitor(url, -1 - n)
            before = rss_mb()
            seconds, rss, held_most = [], [], 0
            for n in range(args.visitors):
                seconds.append(one_visitor(url, n))
                if (n + 1) % args.sweep_every == 0:  # the app's timer, the closed pages' hour passed
                    held_most = max(held_most, len(demo.state_holder.session_data))
                    sessions.drop_closed(demo, datetime.datetime.now() + datetime.timedelta(hours=2))
                rss.append(rss_mb())
            time.sleep(1)
            sessions.drop_closed(demo, datetime.datetime.now() + datetime.timedelta(hours=2))
            held = len(demo.state_holder.session_data)
            after = rss_mb()
            owners = sum(1 for info in services.store.owners() if services.store.list(info.owner))
            each_kb = session_kb(demo)
        finally:
            demo.close()
            services.close()

    third = max(1, len(seconds) // 3)
    growth = after - before
    half = rss[len(rss) // 2:]  # the trend once the allocator has settled
    slope = (half[-1] - half[0]) / (len(half) - 1) if len(half) > 1 else 0.0
    print("RSS after each visitor (MB): " + " ".join(f"{r:.0f}" for r in rss))
    print(f"visitors: {args.visitors} (after {args.warmup} warm-up)")
    print(f"session_kb_each: {each_kb:.0f}")
    print(f"sessions_held_before_sweep: {held_most} (most, sweeping every {args.sweep_every} visitors)")
    print(f"sessions_held: {held} (bound 1)")
    print(f"owners_with_books: {owners}")
    print(f"seconds_per_visitor: {statistics.median(seconds):.2f}")
    print(f"seconds_per_visitor_ratio: {statistics.mean(seconds[-third:]) / statistics.mean(seconds[:third]):.2f}")
    print(f"rss_mb_per_visitor_second_half: {slope:.3f} (bound {args.slope_bound_mb:g})")
    print(f"rss_growth_mb: {growth:.1f} (bound {args.rss_bound_mb:g})")
    ok = (held <= 1 and growth <= args.rss_bound_mb and slope <= args.slope_bound_mb
          and owners == args.visitors + args.warmup)
    print(f"bound_ok: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
