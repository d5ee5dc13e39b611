"""Remote engines: what the studio adds per page, and how a pool of GPU workers scales.

    .venv/bin/python bench/bench_remote.py

Prints, measured in this one run against fake A1111/Forge servers on 127.0.0.1:
  * studio overhead per page (prompt, pose map, request, PNG with parameters, stored variant)
    over a server that answers at once, vs the bare HTTP round trip      (target <= 50 ms)
  * pages per minute through a pool of 1, 2 and 4 workers, each making one picture at a time
    with a fixed delay, fed by 6 visitors at once through the running app's queue (the remote
    line takes as many jobs as there are workers)                           (linear within 10%)
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import httpx  # noqa: E402

from studio import illustrate  # noqa: E402
from studio.backends.base import IllustrationRequest  # noqa: E402
from studio.book import ImageSpec, LoraChoice, Page  # noqa: E402
from studio.config import Settings  # noqa: E402
from studio.services import build_services  # noqa: E402
from tests.remote_fakes import FakeA1111  # noqa: E402

PAGES = 20
STEPS, STEP_S = 5, 0.25  # 1.25 s per picture on a fake worker (a real GPU takes 2-10 s)
KIOSKS, PAGES_PER_KIOSK = 6, 2  # 12 pictures: 12, 6 and 3 rounds on 1, 2 and 4 workers; more visitors than
# workers, so a job always waits in the line (their clients share this 2-core machine with the app)


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
            page.image.seed = -1  # a new seed, so a new picture file, every time (as for a family)

    book = services.store.update("local", book.id, fill)
    page = book.pages[0]
    illustrate.generate_variants(services, "local", book.id, page.id, page.image)  # warm: connections, fonts
    backend = services.backends.get("illustrator", "a1111")
    request = IllustrationRequest(spec=page.image, prompt="a grandmother", control_image=_pose_map(services, page))
    payload = fake.bodies()[-1]
    # Interleaved, so that a busy machine slows the studio and its baseline alike.
    studio, client, bare = [], [], []
    with httpx.Client() as http:
        for i in range(PAGES):
            page = book.pages[i % 4]
            started = time.perf_counter()
            illustrate.generate_variants(services, "local", book.id, page.id, page.image)  # a new picture each time
            studio.append(time.perf_counter() - started)
            started = time.perf_counter()
            backend.illustrate(request)
            client.append(time.perf_counter() - started)
            started = time.perf_counter()
            http.post(fake.url + "/sdapi/v1/txt2img", json=payload).raise_for_status()
            bare.append(time.perf_counter() - started)
    from studio.control_maps import MAPS

    parts = {"pose_map_first_time": [], "pose_map_cached": [], "durable_save": []}
    for _ in range(PAGES):
        MAPS.clear()
        for part in ("pose_map_first_time", "pose_map_cached"):
            started = time.perf_counter()
            _pose_map(services, page)
            parts[part].append(time.perf_counter() - started)
        started = time.perf_counter()
        services.store.update("local", book.id, lambda b: None)
        parts["durable_save"].append(time.perf_counter() - started)
    for name, times in parts.items():
        print(f"  {name}: {statistics.median(times) * 1000:.1f} ms")
    services.close()
    fake.close()
    return statistics.median(studio) * 1000, statistics.median(client) * 1000, statistics.median(bare) * 1000


def _pose_map(services, page):
    from studio.page_inputs import control_map

    return control_map(services, page, page.image, "local")


def pages_per_minute(workers: int, tmp: Path) -> float:
    """Pages per minute through the running app's queue: KIOSKS visitors (each their own owner,
    each in its own process so their clients do not slow the app) press "make a picture"
    PAGES_PER_KIOSK times at once, over ``workers`` fake WebUI servers."""
    import multiprocessing

    import app as app_module

    fakes = [FakeA1111(step_s=STEP_S) for _ in range(workers)]
    services = build_services(Settings(data_dir=tmp / f"app{workers}", mode="public", illustrator="a1111",
                                       a1111_urls=",".join(f.url for f in fakes), max_file_size_mb=5))
    services.backends.get("illustrator", "a1111").poll_s = 0.25
    demo = app_module.build_app(services)
    _, url, _ = app_module.launch(demo, services, prevent_thread_lock=True, server_port=None, quiet=True)
    spawn = multiprocessing.get_context("spawn")
    books, filled, ready = spawn.Queue(), spawn.Barrier(KIOSKS + 1), spawn.Barrier(KIOSKS + 1)
    kiosks = [spawn.Process(target=_kiosk, args=(url, books, filled, ready)) for _ in range(KIOSKS)]
    for k in kiosks:
        k.start()
    for _ in range(KIOSKS):  # the story step is not measured: each new book gets one page here
        book_id = books.get(timeout=120)
        owner = next(o.owner for o in services.store.owners()
                     if any(b.id == book_id for b in services.store.list(o.owner)))
        services.store.update(owner, book_id, lambda b: setattr(b, "pages", [
            Page(text="p", illustration_prompt="a grandmother", image=ImageSpec(width=256, height=256, steps=STEPS))]))
    filled.wait(timeout=120)
    ready.wait(timeout=120)  # every visitor has the page open
    started = time.monotonic()  # one clock for every process on this machine
    finished = [books.get(timeout=300) for _ in kiosks]  # when each visitor had their last picture
    elapsed = max(finished) - started
    for k in kiosks:
        k.join()
    made = sum(len(f.made) for f in fakes)
    demo.close()
    services.close()
    for f in fakes:
        f.close()
    assert made == KIOSKS * PAGES_PER_KIOSK, f"{made} pictures made"
    return made / elapsed * 60


def _kiosk(url: str, books, filled, ready) -> None:
    """One visitor in its own process: a book (its page is added by the bench), then pictures."""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    client.predict(api_name="/start_session")
    drop, *_ = client.predict("Bench", "", "en", 4, api_name="/create_book")
    books.put(drop["value"])
    filled.wait(timeout=120)
    pages, _, _ = client.predict(None, api_name="/list_pages")
    page_id = pages["choices"][0][1]
    form = [v["value"] if isinstance(v, dict) and v.get("__type__") == "update" else v
            for v in client.predict(page_id, api_name="/show_page")[2:24]]
    ready.wait(timeout=120)
    for _ in range(PAGES_PER_KIOSK):
        client.predict(page_id, 1, *form, api_name="/generate_variants")
    books.put(time.monotonic())  # not the process's own exit, which is no part of the app's work


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        studio_ms, client_ms, bare_ms = overhead(Path(tmp))
        rates = {n: pages_per_minute(n, Path(tmp)) for n in (1, 2, 4)}
    print(f"studio page over an instant server: {studio_ms:.1f} ms (remote client alone {client_ms:.1f} ms, "
          f"bare request {bare_ms:.1f} ms; the rest is the control map, the picture's PNG and the durable save)")
    for n, rate in rates.items():
        print(f"pool of {n} through the app's queue: {rate:.0f} pages/min ({rate / rates[1] / n:.0%} of linear)")
    print(f"remote_client_overhead_ms_per_page: {client_ms - bare_ms:.1f}")
    print(f"remote_bare_request_ms: {bare_ms:.1f}")
    for n, rate in rates.items():
        print(f"pool_{n}_pages_per_min: {rate:.1f}")
    print(f"remote_pool_scaling_2: {rates[2] / rates[1] / 2:.3f}")
    print(f"remote_pool_scaling_4: {rates[4] / rates[1] / 4:.3f}")
    print(f"remote_overhead_ms_per_page: {studio_ms - bare_ms:.1f}")


if __name__ == "__main__":
    main()
