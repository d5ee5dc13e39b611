"""Kiosk soak through the running app: a day of visitors must leave the web server as it found it.

``bench_kiosk.py`` drives the kiosk's flows in-process; this one starts the real kiosk app (queue,
session guard, one-time link route) on a free port and sends every visitor through it with a fresh
gradio_client, as the touch screen would: the page loads (``/start_session``) -> welcome -> consent
-> their memories with a photo (every ``--voice-every`` th visitor also a recording of their voice)
-> the book is made -> the next page is read aloud -> take it home: the one-time link is fetched
once from another client (httpx, the visitor's phone) and refused the second time -> "I'm done"
(``/kiosk_new_visitor``). So what only the web server holds is measured too: Gradio's upload and
cache folder (``GRADIO_TEMP_DIR``, pointed at this run's own folder, like every temp file), and
the per-page session state Gradio keeps in ``demo.state_holder``. A warm-up visitor runs first so
that loading models, fonts and the first page is not counted as growth.

Prints (``name: value``), with the bound each must stay within (exit 1 otherwise):
  rss_mb_per_visitor_second_half   the trend once settled (reported; ≈ 0 when flat)
  rss_growth_mb              server memory after the warm-up -> after N visitors (<= --rss-bound-mb, 80)
  data_growth_kb             the data dir: only the job log may grow (<= 1 KB a visitor)
  gradio_files_during_visit  files there while a book is shown (> 0, else the folder is not measured)
  gradio_files_left / gradio_kb_left   uploads and cache copies left in GRADIO_TEMP_DIR (0: each
                             visitor's uploads go when they leave)
  temp_files_left            files left in the process's temp folder (0)
  sessions_held              Gradio per-page sessions still held (<= --sessions-bound, 2: a page
                             that said "I'm done" is dropped at once; see tabs/kiosk)
  owners_left, links_left, visitors_left   all 0
  seconds_per_visitor (median), seconds_per_visitor_ratio (last third / first third; flat ≈ 1)
The server and the visitors' clients share this process, so RSS counts both (the clients are
closed after each visitor). Before tabs/kiosk capped glibc's malloc arenas, RSS rose ~25 MB a
visitor here (+173 MB for 6); Gradio's sessions rose one a visitor (each until 10,000).
Run: .venv/bin/python bench/bench_kiosk_app.py [--visitors 200]   (about 4 s a visitor on 2 idle
     cores, so about 15 minutes for 200, plus ~20 s to start; --visitors 6 takes about a minute)
"""
from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from _soak import MEMORIES, kiosk_arguments, korean_recording, rss_mb, start_app  # noqa: E402

PIN = "2468"
LINK = re.compile(r"(http://[^\s<'\"]+/kiosk/take/[A-Za-z0-9_-]+)")


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def one_visitor(url: str, n: int, photo: Path, voice: Path | None, during: list[int], gradio_dir: Path) -> float:
    """One visitor from page load to "I'm done"; ``during`` gets the files in Gradio's folder while
    their book is shown (their uploads), so a zero at the end is known to measure the right folder."""
    import httpx
    from gradio_client import Client, handle_file

    started = time.perf_counter()
    client = Client(url, verbose=False, download_files=False)  # a fresh page load: a new visitor
    try:
        client.predict(api_name="/start_session")
        client.predict(api_name="/kiosk_begin")
        client.predict(api_name="/kiosk_consent_yes")
        memories = (MEMORIES[: 1 + n % 3] + ["", ""])[:3]
        made = client.predict(f"순자{n}", "할머니", *memories, handle_file(str(photo)),
                              handle_file(str(voice)) if voice else None, voice is not None, api_name="/kiosk_make")
        if made[0] != "making":
            raise RuntimeError(f"visitor {n}: the book was not made: {made[:2]}")
        during.append(len(files_in(gradio_dir)))
        if client.predict(api_name="/kiosk_next")[0] != "playback":
            raise RuntimeError(f"visitor {n}: no playback")
        link = LINK.search(client.predict(api_name="/kiosk_take_home")[1]).group(1)
        first = httpx.get(link, timeout=60)
        if first.status_code != 200 or not first.content.startswith(b"%PDF"):
            raise RuntimeError(f"visitor {n}: the link did not serve their PDF ({first.status_code})")
        if httpx.get(link, timeout=60).status_code != 404:
            raise RuntimeError(f"visitor {n}: the link worked twice")
        if client.predict(api_name="/kiosk_new_visitor")[0] != "welcome":
            raise RuntimeError(f"visitor {n}: 'I'm done' did not return to welcome")
    finally:
        client.close()
    return time.perf_counter() - started


def measure(demo, services, gradio_dir: Path, temp_dir: Path) -> dict[str, float]:
    from studio.job_log import folder_bytes

    holder = demo.state_holder
    gradio_files = files_in(gradio_dir)
    return {
        "rss_mb": rss_mb(),
        "data_kb": folder_bytes(services.settings.data_dir) / 1024,
        "gradio_files": len(gradio_files),
        "gradio_kb": sum(p.stat().st_size for p in gradio_files) / 1024,
        "temp_files": len(files_in(temp_dir)),
        "sessions": len(holder.session_data),
        "state_values": sum(len(s.state_data) for s in list(holder.session_data.values())),
    }


def main() -> int:
    parser = kiosk_arguments(__doc__.splitlines()[0], voice_every=5, rss_bound_mb=80.0)
    parser.add_argument("--sessions-bound", type=int, default=2,
                        help="Gradio sessions still held after every visitor said \"I'm done\"")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gieok-bench-kiosk-app-") as tmp:
        gradio_dir, temp_dir = Path(tmp) / "gradio", Path(tmp) / "tmp"
        temp_dir.mkdir()
        os.environ["GRADIO_TEMP_DIR"] = str(gradio_dir)  # the web server's copies: this run's own folder
        tempfile.tempdir = str(temp_dir)  # every temp file the studio makes, apart from other processes'
        photo, voice = Path(tmp) / "photo.png", Path(tmp) / "visitor.wav"
        from PIL import Image
        Image.new("RGB", (640, 480), (200, 150, 90)).save(photo)
        korean_recording(voice)

        demo, services, url = start_app(Path(tmp) / "data", mode="kiosk", kiosk_pin=PIN, max_file_size_mb=20)
        services.settings.kiosk_url = url
        during: list[int] = []
        try:
            one_visitor(url, 0, photo, voice if args.voice_every else None, during, gradio_dir)  # warm-up: models, fonts, first page
            before = measure(demo, services, gradio_dir, temp_dir)
            seconds, plain, rss = [], [], []
            for n in range(1, args.visitors + 1):
                with_voice = voice if args.voice_every and n % args.voice_every == 0 else None
                seconds.append(one_visitor(url, n, photo, with_voice, during, gradio_dir))
                rss.append(rss_mb())
                if with_voice is None:
                    plain.append(seconds[-1])
            time.sleep(2)  # Gradio ends a finished client's stream and its expired states each second
            after = measure(demo, services, gradio_dir, temp_dir)
            kiosk = services.kiosk
            left = {"owners_left": len(services.store.owners()), "links_left": len(kiosk.links),
                    "visitors_left": kiosk.active_visitors()}
            jobs = len(kiosk.job_log.read())
        finally:
            demo.close()
            services.close()

    third = max(1, len(plain) // 3)
    rss_growth, data_growth = after["rss_mb"] - before["rss_mb"], after["data_kb"] - before["data_kb"]
    data_bound = args.data_bound_kb_per_visitor * args.visitors
    print("RSS after each visitor (MB): " + " ".join(f"{r:.0f}" for r in rss))
    print(f"visitors: {args.visitors}")
    print(f"jobs_logged: {jobs}")
    for name in ("rss_mb", "data_kb", "gradio_files", "gradio_kb", "temp_files", "sessions", "state_values"):
        print(f"{name}_before: {before[name]:.1f}")
        print(f"{name}_after: {after[name]:.1f}")
    for name, value in left.items():
        print(f"{name}: {value}")
    print(f"seconds_per_visitor: {statistics.median(seconds):.2f}")
    if plain:
        print(f"seconds_per_visitor_ratio: {statistics.mean(plain[-third:]) / statistics.mean(plain[:third]):.2f}")
    half = rss[len(rss) // 2:]  # the trend once the allocator has settled: MB a visitor over the second half
    slope = (half[-1] - half[0]) / (len(half) - 1) if len(half) > 1 else 0.0
    print(f"rss_mb_per_visitor_second_half: {slope:.2f}")
    print(f"rss_growth_mb: {rss_growth:.1f} (bound {args.rss_bound_mb:g})")
    print(f"data_growth_kb: {data_growth:.1f} (bound {data_bound:g}: the job log only)")
    print(f"gradio_files_during_visit: {min(during)}..{max(during)} (their uploads: must be > 0)")
    print(f"gradio_files_left: {after['gradio_files']} (bound 0)")
    print(f"gradio_kb_left: {after['gradio_kb']:.1f}")
    print(f"temp_files_left: {after['temp_files']} (bound 0)")
    print(f"sessions_held: {after['sessions']} (bound {args.sessions_bound})")
    ok = (min(during) > 0 and rss_growth <= args.rss_bound_mb and data_growth <= data_bound and after["gradio_files"] == 0
          and after["temp_files"] == 0 and after["sessions"] <= args.sessions_bound and not any(left.values()))
    print(f"bound_ok: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
