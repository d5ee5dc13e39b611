"""The A1111/Forge backend against fake WebUI servers on 127.0.0.1 (real JSON shapes, base64
pictures): a page with a pose and a LoRA, progress, cancel, every failure, and a pool."""
from __future__ import annotations

import base64
import io
import threading
import time

import pytest
from PIL import Image

from studio import illustrate
from studio.backends.base import BackendError, CancelToken, Cancelled
from studio.backends.remote.a1111 import A1111Illustrator
from studio.config import Settings
from studio.image_params import parse_a1111, read_png_parameters
from studio.services import build_services
from tests.remote_fakes import FakeA1111, refuse_connections_url, remote_book, variant_count


@pytest.fixture
def fakes():
    made = []

    def make(**kwargs):
        made.append(FakeA1111(**kwargs))
        return made[-1]

    yield make
    for fake in made:
        fake.close()


def _services(tmp_path, urls, **extra):
    lora_dir = tmp_path / "loras"
    lora_dir.mkdir(parents=True, exist_ok=True)
    (lora_dir / "watercolor.safetensors").write_bytes(b"x")  # named on the server; never opened here
    settings = Settings(data_dir=tmp_path / "data", illustrator="a1111", a1111_urls=",".join(urls),
                        a1111_controlnets="openpose=control_v11p_sd15_openpose [cab727d4]",
                        lora_dir=str(lora_dir), remote_retries=1, remote_backoff_s=0.01,
                        remote_cooldown_s=60, remote_timeout_s=5, **extra)
    services = build_services(settings)
    services.backends.get("illustrator", "a1111").poll_s = 0.01
    return services


def test_page_with_pose_and_lora_reports_progress_and_stores_parameters(tmp_path, fakes):
    fake = fakes(step_s=0.03)
    services = _services(tmp_path, [fake.url])
    book = remote_book(services, pages=2)
    page = book.pages[0]
    steps = []
    [variant] = illustrate.generate_variants(services, "local", book.id, page.id, page.image,
                                             on_step=lambda i, n, s, t: steps.append((s, t)))
    body = fake.bodies()[0]
    assert body["prompt"].endswith("<lora:watercolor:0.7>") and "picking persimmons 0" in body["prompt"]
    assert body["seed"] == 1234 and body["steps"] == 6 and body["width"] == 256 and body["send_images"]
    unit = body["alwayson_scripts"]["controlnet"]["args"][0]
    assert unit["model"] == "control_v11p_sd15_openpose [cab727d4]" and unit["module"] == "none"
    pose_map = Image.open(io.BytesIO(base64.b64decode(unit["image"])))
    assert pose_map.size == (256, 256) and pose_map.convert("L").getextrema()[1] > 50  # the rendered pose
    assert steps and steps[-1][1] == 6 and all(0 < s <= 6 for s, _ in steps)  # polled from /progress
    params = parse_a1111(variant.params["parameters"])
    assert params["Seed"] == "1234" and params["Steps"] == "6" and params["Backend"] == "a1111"
    assert params["Size"] == "256x256" and params["Model"] == "webui-current-model"
    assert read_png_parameters(services.store.media_for("local").path(variant.image)) == variant.params["parameters"]
    assert variant_count(services, book.id) == 1


@pytest.mark.parametrize("legacy", [False, True])
def test_cancel_interrupts_the_remote_job_and_stores_nothing(tmp_path, fakes, legacy):
    fake = fakes(step_s=0.05, legacy=legacy)
    services = _services(tmp_path, [fake.url])
    book = remote_book(services, pages=2)
    page = book.pages[0]
    page.image.steps = 40
    token = CancelToken()

    def on_step(i, n, step, total):
        if step >= 2:
            token.cancel()

    with pytest.raises(Cancelled):
        illustrate.generate_variants(services, "local", book.id, page.id, page.image, cancel=token, on_step=on_step)
    deadline = time.monotonic() + 3
    while fake.interrupts == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.interrupts == 1 and fake.interrupted_tasks[0].startswith("task(gieok-")
    assert variant_count(services, book.id) == 0


@pytest.mark.parametrize("answer,key", [
    (401, "remote.bad_token"), (402, "remote.quota"), (429, "remote.quota"), (404, "remote.model_not_found"),
    ("black", "remote.nsfw"), (500, "remote.server_error"), (422, "remote.refused"),
])
def test_every_failure_has_its_message_and_stores_nothing(tmp_path, fakes, answer, key):
    fake = fakes()
    fake.fail = [answer] * 5
    services = _services(tmp_path, [fake.url])
    book = remote_book(services, pages=2)
    with pytest.raises(BackendError) as caught:
        illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image)
    assert caught.value.key == key
    assert caught.value.render("ko") != caught.value.render("en") and "{" not in caught.value.render("ko")
    assert variant_count(services, book.id) == 0
    if answer == 429:
        assert len(fake.requests_to("txt2img")) == 2  # tried again once (remote_retries=1), then told


def test_cancel_while_queued_spares_the_running_job_of_another_kiosk(tmp_path, fakes):
    fake = fakes(step_s=0.03)
    backend = A1111Illustrator(Settings(data_dir=tmp_path, a1111_urls=fake.url, remote_timeout_s=10))
    backend.poll_s = 0.01
    from studio.backends.base import IllustrationRequest
    from studio.book import ImageSpec

    other = threading.Thread(target=backend.illustrate,
                             args=(IllustrationRequest(spec=ImageSpec(steps=15, width=64, height=64), prompt="other"),))
    other.start()
    while fake.current is None:
        time.sleep(0.01)
    token = CancelToken()
    threading.Timer(0.1, token.cancel).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        backend.illustrate(IllustrationRequest(spec=ImageSpec(steps=15, width=64, height=64), prompt="mine"),
                           cancel=token)
    assert time.monotonic() - started < 0.4  # the visitor is not kept waiting behind the queue
    other.join()
    assert fake.bodies()[0]["prompt"] == "other" and fake.finished[0] == fake.bodies()[0]["force_task_id"]
    deadline = time.monotonic() + 3
    while not fake.interrupts and time.monotonic() < deadline:
        time.sleep(0.01)
    # only ours was interrupted, once it ran; the other kiosk's job was never touched
    assert fake.interrupted_tasks == [fake.bodies()[1]["force_task_id"]]


def test_timeout_and_server_down_are_told_clearly(tmp_path, fakes):
    fake = fakes()
    fake.fail = ["slow"]
    services = _services(tmp_path, [fake.url], **{})
    services.settings.remote_timeout_s = 0.5
    book = remote_book(services, pages=2)
    with pytest.raises(BackendError) as caught:
        illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image)
    assert caught.value.key == "remote.timeout"
    down = _services(tmp_path / "b", [refuse_connections_url()])
    book = remote_book(down, pages=2)
    with pytest.raises(BackendError) as caught:
        illustrate.generate_variants(down, "local", book.id, book.pages[0].id, book.pages[0].image)
    assert caught.value.key == "remote.server_down" and "127.0.0.1" in str(caught.value)
    assert variant_count(down, book.id) == 0


def test_missing_lora_or_controlnet_model_is_named(tmp_path, fakes):
    fake = fakes(loras=())
    services = _services(tmp_path, [fake.url])
    book = remote_book(services, pages=2)
    with pytest.raises(BackendError) as caught:
        illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image)
    assert caught.value.key == "remote.lora_missing" and "watercolor" in str(caught.value)
    services.settings.a1111_controlnets = ""
    with pytest.raises(BackendError) as caught:
        illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image)
    assert caught.value.key == "remote.controlnet_missing"
    assert not fake.requests_to("txt2img") and variant_count(services, book.id) == 0


def test_pool_of_two_with_one_failing_finishes_every_page_on_the_healthy_one(tmp_path, fakes):
    healthy, broken = fakes(), fakes()
    broken.fail = [500] * 10
    services = _services(tmp_path, [broken.url, healthy.url, refuse_connections_url()])
    book = remote_book(services, pages=2)
    events = list(illustrate.illustrate_book(services, "local", book.id))
    assert events[-1].done == events[-1].total == 2
    assert len(healthy.requests_to("txt2img")) == 2 and len(broken.requests_to("txt2img")) <= 1
    assert variant_count(services, book.id) == 2
    pool = services.backends.get("illustrator", "a1111").pool
    assert [w.url for w in pool.workers if w.down_until > 0] != [] and pool.workers[1].done == 2


def test_pool_skips_a_down_worker_until_its_cool_down_then_checks_it_again():
    from studio.backends.remote.common import WorkerDown
    from studio.backends.remote.pool import WorkerPool

    now = [0.0]
    pool = WorkerPool(["http://a", "http://b"], cooldown_s=30, clock=lambda: now[0])
    broken = {"http://a"}
    used = []

    def job(url):
        used.append(url)
        if url in broken:
            raise WorkerDown("remote.server_down", service="WebUI", address=url)
        return url

    assert [pool.run(job, "WebUI") for _ in range(4)] == ["http://b"] * 4
    assert used.count("http://a") == 1  # tried once, then left alone during the cool-down
    broken.clear()
    now[0] = 31.0  # cooled down: checked again and used again
    assert sorted(pool.run(job, "WebUI") for _ in range(4)) == ["http://a"] * 2 + ["http://b"] * 2
    broken.update({"http://a", "http://b"})
    with pytest.raises(BackendError) as caught:
        pool.run(job, "WebUI")
    assert caught.value.key == "remote.all_down" and "2" in str(caught.value)
    broken.clear()  # both cooling down: a new job still re-checks the first to come back
    assert pool.run(job, "WebUI") == "http://a"


def test_pool_spreads_concurrent_kiosks_over_workers(tmp_path, fakes):
    first, second = fakes(step_s=0.02), fakes(step_s=0.02)
    backend = A1111Illustrator(Settings(data_dir=tmp_path, a1111_urls=f"{first.url},{second.url}",
                                        remote_timeout_s=5))
    from studio.backends.base import IllustrationRequest
    from studio.book import ImageSpec

    request = IllustrationRequest(spec=ImageSpec(steps=4, width=64, height=64), prompt="a cat")
    threads = [threading.Thread(target=backend.illustrate, args=(request,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(first.requests_to("txt2img")) == 2 and len(second.requests_to("txt2img")) == 2


def test_available_without_network_and_settings_test_button(tmp_path, fakes):
    assert not A1111Illustrator(Settings(data_dir=tmp_path)).available().ok
    fake = fakes()
    backend = A1111Illustrator(Settings(data_dir=tmp_path, a1111_urls=f"{fake.url},{refuse_connections_url()}",
                                        a1111_model="sd15"))
    assert backend.available().ok and fake.seen == []  # no network call to say "configured"
    rows = backend.check()
    assert rows[0][1] is None and rows[1][1].key == "remote.server_down"
    backend.settings.a1111_model = "sdxl-missing"
    assert backend.check()[0][1].key == "remote.model_not_found"
