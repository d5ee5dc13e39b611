"""Cold start: seconds from starting the studio's process to its first HTTP 200, against a bare
Gradio app with the same tabs, measured in this run.

  studio   ``python app.py`` as a family starts it: offline defaults (every GIEOK_* variable and
           API key removed from the environment), a fresh temporary data dir, a free port.
  bare     a plain ``gr.Blocks`` with the studio's skeleton and nothing else: the same tab titles
           in the same order and, in each tab (and above the tabs), the same components by type
           (Button, Markdown, Slider, Gallery...) created empty with default arguments; no
           studio import, no services, no event listeners, no theme, CSS or translations.
           ``demo.queue().launch()`` on 127.0.0.1. The skeleton is read from the studio's own
           ``build_app`` in this (parent) process, so the two stay comparable as tabs grow.

Each start is a fresh subprocess; the clock runs from ``Popen`` until ``GET /`` answers 200
(polled every 20 ms), then the process is stopped. One untimed start of each warms the disk
cache; then ``--runs`` pairs alternate studio, bare, studio, bare... Medians are compared.
Prints ``name: value`` lines last: ``cold_start_studio_s``, ``cold_start_bare_s`` and
``cold_start_ratio`` (studio / bare; the target is <= 1.5).
Run: .venv/bin/python bench/bench_cold_start.py [--runs 5]   (12 starts of ~5 s on 2 cores: about a minute)
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 180.0

BARE_APP = r"""
import json, os, sys
import gradio as gr

skeleton = json.loads(os.environ["BARE_SKELETON"])

def make(names):
    for name in names:
        getattr(gr, name)()

with gr.Blocks() as demo:
    make(skeleton["outside"])
    with gr.Tabs():
        for title, names in skeleton["tabs"]:
            with gr.Tab(title):
                make(names)
demo.queue().launch(server_name="127.0.0.1", server_port=int(sys.argv[1]))
"""


def studio_skeleton() -> dict:
    """The studio's tab titles (English) and, per tab and outside the tabs, its components'
    type names, from the real ``build_app``. Types gradio does not export by name become Markdown."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    import gradio as gr

    import app
    from studio.config import Settings
    from studio.messages import text
    from studio.services import build_services

    def names(block) -> list[str]:
        found = []
        for child in getattr(block, "children", None) or []:
            if isinstance(child, gr.components.Component):
                name = type(child).__name__
                found.append(name if isinstance(getattr(gr, name, None), type) else "Markdown")
            found += names(child)
        return found

    with tempfile.TemporaryDirectory(prefix="gieok-bench-skeleton-") as tmp:
        services = build_services(Settings(data_dir=Path(tmp) / "data", mode="local"))
        try:
            demo = app.build_app(services)
            tabs = [b for b in demo.blocks.values() if isinstance(b, gr.Tab)]
            if len(tabs) != len(app.TAB_MODULES):
                raise SystemExit(f"bench_cold_start: {len(tabs)} tabs built, {len(app.TAB_MODULES)} modules")
            every = [b for b in demo.blocks.values() if isinstance(b, gr.components.Component)]
            inside = [names(tab) for tab in tabs]
            outside = ["Markdown"] * (len(every) - sum(map(len, inside)))
            demo.close()
        finally:
            services.close()
    titles = [text(module.TITLE, "en") for module in app.TAB_MODULES]
    return {"tabs": list(zip(titles, inside)), "outside": outside}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env() -> dict[str, str]:
    """The environment of a fresh machine: no GIEOK_* settings, no API keys, no hub access."""
    keys = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "HF_TOKEN")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIEOK_") and k not in keys}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", DO_NOT_TRACK="1",
               PYTHONUNBUFFERED="1")
    return env


def time_to_200(command: list[str], env: dict[str, str], port: int, label: str) -> float:
    """Seconds from starting ``command`` until http://127.0.0.1:port/ answers 200; the process
    is stopped afterwards. Exits loudly if it dies or never answers."""
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            while True:
                elapsed = time.perf_counter() - start
                if proc.poll() is not None or elapsed > START_TIMEOUT_S:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-2000:]
                    raise SystemExit(f"bench_cold_start: the {label} app did not answer within {elapsed:.0f} s "
                                     f"(exit code {proc.returncode}):\n{tail}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                        if response.status == 200:
                            return time.perf_counter() - start
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                time.sleep(0.02)
        finally:
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: gradio's helpers go with it
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_studio() -> float:
    with tempfile.TemporaryDirectory(prefix="gieok-bench-cold-") as tmp:
        env, port = clean_env(), free_port()
        env.update(GIEOK_DATA_DIR=str(Path(tmp) / "data"), GIEOK_PORT=str(port))
        return time_to_200([sys.executable, str(ROOT / "app.py")], env, port, "studio")


def start_bare(skeleton: dict) -> float:
    env, port = clean_env(), free_port()
    env["BARE_SKELETON"] = json.dumps(skeleton)
    return time_to_200([sys.executable, "-c", BARE_APP, str(port)], env, port, "bare")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed starts of each app (alternating)")
    args = parser.parse_args()
    skeleton = studio_skeleton()
    components = len(skeleton["outside"]) + sum(len(names) for _, names in skeleton["tabs"])
    load = os.getloadavg()[0]
    start_studio(), start_bare(skeleton)  # warm-up: the disk cache holds Python, gradio and the studio
    studio, bare = [], []
    for _ in range(args.runs):
        studio.append(start_studio())
        bare.append(start_bare(skeleton))
    print(f"skeleton: {len(skeleton['tabs'])} tabs, {components} components; load {load:.2f} on "
          f"{os.cpu_count()} cores at the start")
    print("studio starts (s): " + ", ".join(f"{s:.2f}" for s in studio))
    print("bare starts (s):   " + ", ".join(f"{s:.2f}" for s in bare))
    studio_s, bare_s = statistics.median(studio), statistics.median(bare)
    print(f"cold_start_studio_s: {studio_s:.2f}")
    print(f"cold_start_bare_s: {bare_s:.2f}")
    print(f"cold_start_ratio: {studio_s / bare_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
