"""The ComfyUI backend against a fake ComfyUI on 127.0.0.1 (its HTTP routes and its websocket):
a page with a pose and a LoRA, progress, cancel (running and queued jobs), every failure, a pool."""
from __future__ import annotations

import threading

import pytest
from PIL import Image

from studio import illustrate
from studio.backends.base import BackendError, CancelToken, Cancelled, IllustrationRequest
from studio.backends.remote.comfyui import ComfyUIIllustrator
from studio.book import ImageSpec
from studio.config import Settings
from studio.image_params import parse_a1111
from studio.services import build_services
from tests.remote_fakes import FakeComfyUI, refuse_connections_url, remote_book, variant_count


@pytest.fixture
def fakes():
    made = []

    def make(**kwargs):
        made.append(FakeComfyUI(**kwargs))
        return made[-1]

    yield make
    for fake in made:
        fake.close()


def _book(services, pose=True):
    return remote_book(services, pose=pose, lora_weight=0.6, steps=5, seed=4321)


def _settings(tmp_path, urls, **extra):
    lora_dir = tmp_path / "loras"
    lora_dir.mkdir(parents=True, exist_ok=True)
    (lora_dir / "watercolor.safetensors").write_bytes(b"x")
    values = dict(data_dir=tmp_path / "data", illustrator="comfyui", comfyui_urls=",".join(urls),
                  comfyui_checkpoint="sd15.safetensors", comfyui_controlnets="openpose=control_v11p_sd15_openpose.pth",
                  lora_dir=str(lora_dir), remote_retries=1, remote_backoff_s=0.01, remote_timeout_s=5,
                  remote_cooldown_s=60)
    values.update(extra)
    return Settings(**values)


def test_page_with_pose_and_lora_streams_progress_and_stores_parameters(tmp_path, fakes):
    fake = fakes(step_s=0.01)
    services = build_services(_settings(tmp_path, [fake.url]))
    book = _book(services)
    steps = []
    [variant] = illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image,
                                             on_step=lambda i, n, s, t: steps.append((s, t)))
    assert steps == [(i, 5) for i in range(1, 6)]  # only our job's progress, none of another visitor's
    [queued] = fake.prompts.values()
    workflow = queued["prompt"]
    by_type = {n["class_type"]: n["inputs"] for n in workflow.values()}
    assert by_type["KSampler"]["seed"] == 4321 and by_type["KSampler"]["steps"] == 5
    lora = by_type["LoraLoader"]
    assert lora["lora_name"] == "watercolor.safetensors" and lora["strength_model"] == 0.6
    assert by_type["ControlNetLoader"]["control_net_name"] == "control_v11p_sd15_openpose.pth"
    [name] = fake.uploads
    assert by_type["LoadImage"]["image"] == name
    pose_map = Image.open(__import__("io").BytesIO(fake.uploads[name]))
    assert pose_map.size == (256, 256) and pose_map.convert("L").getextrema()[1] > 50
    params = parse_a1111(variant.params["parameters"])
    assert params["Backend"] == "comfyui" and params["Model"] == "sd15.safetensors" and params["Seed"] == "4321"
    assert variant_count(services, book.id) == 1


def test_page_without_pose_or_lora_drops_those_nodes(tmp_path, fakes):
    fake = fakes()
    backend = ComfyUIIllustrator(_settings(tmp_path, [fake.url]))
    image = backend.illustrate(IllustrationRequest(spec=ImageSpec(steps=2, width=64, height=64), prompt="a cat"))
    assert image.size == (64, 64)
    [queued] = fake.prompts.values()
    kinds = sorted(n["class_type"] for n in queued["prompt"].values())
    assert kinds == ["CLIPTextEncode", "CLIPTextEncode", "CheckpointLoaderSimple", "EmptyLatentImage", "KSampler",
                     "SaveImage", "VAEDecode"] and fake.uploads == {}


def test_cancel_interrupts_our_running_job(tmp_path, fakes):
    fake = fakes(step_s=0.05)
    services = build_services(_settings(tmp_path, [fake.url]))
    book = _book(services)
    book.pages[0].image.steps = 40
    token = CancelToken()

    def on_step(i, n, step, total):
        if step >= 2:
            token.cancel()

    with pytest.raises(Cancelled):
        illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image,
                                     cancel=token, on_step=on_step)
    [prompt_id] = fake.prompts
    assert fake.interrupts == [{"prompt_id": prompt_id}] and fake.deletes == []
    assert variant_count(services, book.id) == 0


def test_cancel_of_a_queued_job_takes_it_out_of_the_queue(tmp_path, fakes):
    fake = fakes(queue_s=2.0)
    backend = ComfyUIIllustrator(_settings(tmp_path, [fake.url]))
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    with pytest.raises(Cancelled):
        backend.illustrate(IllustrationRequest(spec=ImageSpec(steps=2, width=64, height=64), prompt="x"), cancel=token)
    assert fake.deletes == list(fake.prompts) and fake.interrupts == []  # someone else's running job untouched


@pytest.mark.parametrize("failure,key", [("error", "remote.workflow_error"), ("black", "remote.nsfw"),
                                         (500, "remote.server_error"), (429, "remote.quota")])
def test_failures_have_their_message_and_store_nothing(tmp_path, fakes, failure, key):
    fake = fakes()
    fake.fail = [failure] * 3
    services = build_services(_settings(tmp_path, [fake.url]))
    book = _book(services)
    with pytest.raises(BackendError) as caught:
        illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image)
    assert caught.value.key == key and "{" not in caught.value.render("ko")
    assert variant_count(services, book.id) == 0


def test_missing_checkpoint_or_lora_is_named_from_the_servers_validation(tmp_path, fakes):
    fake = fakes()
    fake.loras = []
    services = build_services(_settings(tmp_path, [fake.url]))
    book = _book(services)
    with pytest.raises(BackendError) as caught:
        illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image)
    assert caught.value.key == "remote.workflow_error" and "watercolor.safetensors" in str(caught.value)
    services.settings.comfyui_controlnets = ""
    with pytest.raises(BackendError) as caught:
        illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image)
    assert caught.value.key == "remote.controlnet_missing"
    assert variant_count(services, book.id) == 0


def test_timeout_while_running_interrupts_and_says_so(tmp_path, fakes):
    fake = fakes(step_s=0.2)
    backend = ComfyUIIllustrator(_settings(tmp_path, [fake.url], remote_timeout_s=0.5))
    with pytest.raises(BackendError) as caught:
        backend.illustrate(IllustrationRequest(spec=ImageSpec(steps=20, width=64, height=64), prompt="x"))
    assert caught.value.key == "remote.timeout" and len(fake.interrupts) == 1


def test_pool_finishes_pages_on_the_healthy_server(tmp_path, fakes):
    healthy = fakes()
    services = build_services(_settings(tmp_path, [refuse_connections_url(), healthy.url]))
    book = _book(services, pose=False)
    events = list(illustrate.illustrate_book(services, "local", book.id))
    assert events[-1].done == 4 and len(healthy.prompts) == 4 and variant_count(services, book.id) == 4
    alone = ComfyUIIllustrator(_settings(tmp_path, [refuse_connections_url()]))
    with pytest.raises(BackendError) as caught:
        alone.illustrate(IllustrationRequest(spec=ImageSpec(steps=2, width=64, height=64), prompt="x"))
    assert caught.value.key == "remote.server_down"


def test_settings_check_reads_the_servers_checkpoints(tmp_path, fakes):
    fake = fakes()
    backend = ComfyUIIllustrator(_settings(tmp_path, [fake.url, refuse_connections_url()]))
    assert backend.available().ok
    rows = backend.check()
    assert rows[0][1] is None and rows[1][1].key == "remote.server_down"
    backend.settings.comfyui_checkpoint = "sdxl.safetensors"
    assert backend.check()[0][1].key == "remote.model_not_found"
    assert not ComfyUIIllustrator(Settings(data_dir=tmp_path)).available().ok
