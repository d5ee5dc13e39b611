"""Remote engines: what the studio adds per page, and how a pool of GPU workers scales.

    .venv/bin/python bench/bench_remote.py

Prints, measured in this one run against fake A1111/Forge servers on 127.0.0.1:
  * studio overhead per page (prompt, pose map, request, PNG with parameters, stored variant)
    over a server that answers at once, vs the bare HTTP round trip      (target <= 50 ms)
  * pages per minute through a pool of 1, 2 and 4 workers, each making one picture at a time
    with a fixed delay, fed by 8 kiosks at once                            (linear within 10%)
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import httpx  # noqa: E402

from studio import illustrate  # noqa: E402
from studio.backends.base import IllustrationRequest  # noqa: E402
from studio.backends.remote.a1111 import A1111Illustrator  # noqa: E402
from studio.book import ImageSpec, LoraChoice, Page  # noqa: E402
from studio.config import Settings  # noqa: E402
from studio.services import build_services  # noqa: E402
from tests.remote_fakes import FakeA1111  # noqa: E402

PAGES = 20
STEPS, STEP_S = 5, 0.1  # 0.5 s per picture on a fake worker
KIOSKS, PAGES_PER_KIOSK = 8, 3


def overhead(tmp: Path) -> tuple[float, float, float]:
    """(whole studio page ms, remote client ms, bare request ms) over an instant server."""
    fake = FakeA1111(step_s=0.0, full_size=True)  # 512×512 answers, encoded as the WebUI does
    lora_dir = tmp / "loras"
    lora_dir.mkdir()
    (lora_dir / "watercolor.safetensors").write_bytes(b"x")
    services = build_services(Settings(data_dir=tmp / "data", illustrator="a1111", a1111_urls=fake.url,
                                       a1111_controlnets="openpose=control_openpose", lora_dir=str(lora_dir)))
    book = services.store.create("local", "Bench", page_count=4)

    def fill(b):
        b.pages = [Page(text=f"p{i}", illustration_prompt=f"a grandmother in the garden {i}") for i in range(4)]
        for page in b.pages:
            page.image.control.kind, page.image.control.pose_id = "openpose", "hugging"
            page.image.loras = [LoraChoice(ref="watercolor.safetensors", weight=0.8, name="watercolor.safetensors")]
            page.image.steps, page.image.width, page.image.height = STEPS, 512, 512

    book = services.store.update("local", book.id, fill)
    page = book.pages[0]
    illustrate.generate_variants(services, "local", book.id, page.id, page.image)  # warm: connections, fonts
    studio = []
    for i in range(PAGES):
        page = book.pages[i % 4]
        started = time.perf_counter()
        illustrate.generate_variants(services, "local", book.id, page.id, page.image)
        studio.append(time.perf_counter() - started)
    backend = services.backends.get("illustrator", "a1111")
    request = IllustrationRequest(spec=page.image, prompt="a grandmother", control_image=_pose_map(services, page))
    client = []
    for _ in range(PAGES):
        started = time.perf_counter()
        backend.illustrate(request)
        client.append(time.perf_counter() - started)
    parts = {"pose_map": [], "durable_save": []}
    for _ in range(PAGES):
        started = time.perf_counter()
        _pose_map(services, page)
        parts["pose_map"].append(time.perf_counter() - started)
        started = time.perf_counter()
        services.store.update("local", book.id, lambda b: None)
        parts["durable_save"].append(time.perf_counter() - started)
    for name, times in parts.items():
        print(f"  {name}: {statistics.median(times) * 1000:.1f} ms per page (part of every page, local or remote)")
    payload = fake.bodies()[-1]
    bare = []
    with httpx.Client() as http:
        for _ in range(PAGES):
            started = time.perf_counter()
            http.post(fake.url + "/sdapi/v1/txt2img", json=payload).raise_for_status()
            bare.append(time.perf_counter() - started)
    services.close()
    fake.close()
    return statistics.median(studio) * 1000, statistics.median(client) * 1000, statistics.median(bare) * 1000


def _pose_map(services, page):
    from studio.page_inputs import control_map

    return control_map(services, page, page.image, "local")


def pages_per_minute(workers: int, tmp: Path) -> float:
    fakes = [FakeA1111(step_s=STEP_S) for _ in range(workers)]
    backend = A1111Illustrator(Settings(data_dir=tmp, a1111_urls=",".join(f.url for f in fakes)))
    backend.poll_s = 0.25
    request = IllustrationRequest(spec=ImageSpec(steps=STEPS, width=256, height=256), prompt="a grandmother")

    def kiosk():
        for _ in range(PAGES_PER_KIOSK):
            backend.illustrate(request)

    threads = [threading.Thread(target=kiosk) for _ in range(KIOSKS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    for f in fakes:
        f.close()
    return KIOSKS * PAGES_PER_KIOSK / elapsed * 60


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        studio_ms, client_ms, bare_ms = overhead(Path(tmp))
        rates = {n: pages_per_minute(n, Path(tmp)) for n in (1,)}
    print(f"studio page over an instant server: {studio_ms:.1f} ms (remote client alone {client_ms:.1f} ms, "
          f"bare request {bare_ms:.1f} ms; the rest is the pose map and the durable save, as with a local GPU)")
    for n, rate in rates.items():
        print(f"pool of {n}: {rate:.0f} pages/min ({rate / rates[1] / n:.0%} of linear)")
    print(f"remote_overhead_ms_per_page: {studio_ms - bare_ms:.1f}")
    print(f"remote_client_overhead_ms_per_page: {client_ms - bare_ms:.1f}")
    print(f"remote_bare_request_ms: {bare_ms:.1f}")
    for n, rate in rates.items():
        print(f"pool_{n}_pages_per_min: {rate:.1f}")
    print(f"pool_2_scaling: {rates[2] / rates[1] / 2:.3f}")
    print(f"pool_4_scaling: {rates[4] / rates[1] / 4:.3f}")


if __name__ == "__main__":
    main()
