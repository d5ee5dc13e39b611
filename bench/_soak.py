"""What the soak benches share (not a bench itself: ``run_all`` skips names starting with ``_``):
the process's memory, the real app started in-process, and a browser tab closing."""
from __future__ import annotations

from pathlib import Path

import psutil


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
