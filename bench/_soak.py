"""What the soak benches share (not a bench itself: ``run_all`` skips names starting with ``_``):
the process's memory, the real app started in-process, and a browser tab closing."""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import psutil


# What a kiosk visitor tells about her (one, two or three memories)
MEMORIES = ["겨울마다 곶감을 말려 주셨어요", "눈 오는 밤이면 옛날이야기를 들려주셨어요", "시장에 가면 손을 잡아 주셨어요"]


def korean_recording(path: Path) -> Path:
    """A visitor's voice recording: about ten seconds of Korean speech from eSpeak NG."""
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(path),
                    "감나무 아래에서 할머니가 웃으셨어요. 눈 내리는 밤이면 옛날이야기를 들려주셨지요. " * 2],
                   check=True, timeout=60)
    return path


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1024**2


def start_app(data_dir: Path, **settings):
    """The real app (queue, session guard, routes) on a free port, as ``app.main`` starts it.
    Returns ``(demo, services, url)``; the caller closes both."""
    import app as app_module
    from studio.config import Settings
    from studio.services import build_services

    services = build_services(Settings(data_dir=data_dir, **settings))
    demo = app_module.build_app(services)
    _, url, _ = app_module.launch(demo, services, prevent_thread_lock=True, server_port=None, quiet=True)
    return demo, services, url


def close_page(url: str, client) -> None:
    """What a closing browser tab does: its heartbeat stream ends (Gradio marks the session closed)."""
    import httpx

    with httpx.stream("GET", f"{url}gradio_api/heartbeat/{client.session_hash}", cookies=client.cookies,
                      timeout=30) as stream:
        next(stream.iter_lines())  # the page is alive; leaving the block closes the connection


def kiosk_arguments(description: str, voice_every: int, rss_bound_mb: float) -> argparse.ArgumentParser:
    """The options both kiosk soaks take (each adds its own): visitors, how often one records
    their voice, and the memory and data bounds."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--voice-every", type=int, default=voice_every,
                        help="every Nth visitor records their voice (0: none)")
    parser.add_argument("--rss-bound-mb", type=float, default=rss_bound_mb)
    parser.add_argument("--data-bound-kb-per-visitor", type=float, default=1.0,
                        help="only the job log may grow: four lines (~0.7 KB) per visitor, rotated by day")
    return parser
