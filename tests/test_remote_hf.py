"""Hugging Face inference through the real ``InferenceClient`` pointed at a fake server on
127.0.0.1: pictures, speech and stories, each visitor's own token, every failure, cancel, and no
token in logs, stored books, exports or API answers."""
from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from studio import illustrate
from studio.backends.base import BackendError, CancelToken, Cancelled, IllustrationRequest
from studio.backends.remote.common import Credentials, visitor_credentials, with_credentials
from studio.backends.remote.hf_inference import HFIllustrator, HFSpeaker, HFWriter
from studio.book import ImageSpec, LoraChoice
from studio.config import Settings
from studio.image_params import parse_a1111
from studio.services import build_services
from tests.remote_fakes import FakeHF, refuse_connections_url, remote_book, variant_count
from tests.test_writers_http import REQUEST, story_json

TOKEN_A, TOKEN_B, SPACE_TOKEN = "hf_visitorAAAAsecret111", "hf_visitorBBBBsecret222", "hf_spaceSSSSsecret333"
TASKS = {"stabilityai/sdxl": "text-to-image", "timbrooks/pix2pix": "image-to-image",
         "facebook/mms-tts-kor": "text-to-speech", "Qwen/Qwen2.5-7B-Instruct": "chat"}


@pytest.fixture
def fake():
    server = FakeHF(TASKS, chat_reply=story_json())
    yield server
    server.close()


@pytest.fixture(autouse=True)
def no_space_token(monkeypatch):
    """No Space token unless a test sets one; the hub stays unreachable (HF_HUB_OFFLINE=1 for the
    suite) but the client may talk to the fake on 127.0.0.1."""
    import huggingface_hub.constants

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def _book(services):  # a plain page: providers take no pose map and no LoRA
    return remote_book(services, pose=False, lora_weight=None, steps=9, seed=77, width=512, height=384,
                       negative="blurry")


def _settings(tmp_path, url, **extra):
    values = dict(data_dir=tmp_path / "data", illustrator="hf", hf_base_url=url, hf_image_model="stabilityai/sdxl",
                  hf_image2image_model="timbrooks/pix2pix", hf_tts_model_ko="facebook/mms-tts-kor",
                  hf_chat_model="Qwen/Qwen2.5-7B-Instruct", remote_retries=1, remote_backoff_s=0.01,
                  remote_timeout_s=5)
    values.update(extra)
    return Settings(**values)


def test_picture_uses_the_visitors_token_and_passes_every_setting(tmp_path, fake):
    services = build_services(_settings(tmp_path, fake.url))
    book = _book(services)
    backend = with_credentials(services.backends.active("illustrator"), Credentials(hf_token=TOKEN_A, user="amy"))
    steps = []
    [variant] = illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image,
                                             backend=backend, on_step=lambda i, n, s, t: steps.append((s, t)))
    sent = fake.seen[0]
    assert sent["path"] == "/models/stabilityai/sdxl"
    assert fake.authorizations() == [f"Bearer {TOKEN_A}"]
    body = json.loads(sent["raw"])
    assert "picking persimmons 0" in body["inputs"]
    assert body["parameters"] == {"negative_prompt": "blurry", "width": 512, "height": 384,
                                  "num_inference_steps": 9, "guidance_scale": 7.0, "seed": 77}
    assert steps == [(0, 1), (1, 1)]
    params = parse_a1111(variant.params["parameters"])
    assert params["Backend"] == "hf" and params["Model"] == "sdxl" and params["Seed"] == "77"
    assert variant.backend == "hf" and not services.backends.get("illustrator", "hf").reproducible


def test_two_visitors_each_pay_with_their_own_token(tmp_path, fake):
    fake.delay_s = 0.1  # both jobs in flight at once
    shared = HFIllustrator(_settings(tmp_path, fake.url))
    results = {}

    def job(token, prompt):
        bound = with_credentials(shared, visitor_credentials(type("T", (), {"token": token})()))
        request = IllustrationRequest(spec=ImageSpec(width=64, height=64, steps=2), prompt=prompt)
        results[prompt] = bound.illustrate(request)

    threads = [threading.Thread(target=job, args=(t, p)) for t, p in ((TOKEN_A, "visitor a"), (TOKEN_B, "visitor b"))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and len(fake.seen) == 4
    for seen in fake.seen:
        prompt = json.loads(seen["raw"])["inputs"]
        assert seen["headers"]["authorization"] == f"Bearer {TOKEN_A if prompt == 'visitor a' else TOKEN_B}"
    assert TOKEN_A not in repr(vars(shared)) and TOKEN_B not in repr(vars(shared))


def test_without_login_it_asks_for_one_and_the_space_token_is_used_when_set(tmp_path, fake, monkeypatch):
    backend = HFIllustrator(_settings(tmp_path, fake.url))
    request = IllustrationRequest(spec=ImageSpec(width=64, height=64, steps=2), prompt="a cat")
    with pytest.raises(BackendError) as caught:
        backend.illustrate(request)
    assert caught.value.key == "remote.login_needed" and fake.seen == []
    monkeypatch.setenv("HF_TOKEN", SPACE_TOKEN)
    backend.illustrate(request)
    assert fake.authorizations() == [f"Bearer {SPACE_TOKEN}"]


@pytest.mark.parametrize("answer,key,tries", [
    (401, "remote.bad_token", 1), (402, "remote.quota", 1), (429, "remote.quota", 2),
    (404, "remote.model_not_found", 1),
    (503, "remote.busy", 2), ("black", "remote.nsfw", 1), (500, "remote.server_error", 1),
])
def test_every_failure_has_its_message_and_stores_nothing(tmp_path, fake, answer, key, tries):
    fake.fail = [answer] * 3
    services = build_services(_settings(tmp_path, fake.url))
    book = _book(services)
    backend = with_credentials(services.backends.active("illustrator"), Credentials(hf_token=TOKEN_A))
    with pytest.raises(BackendError) as caught:
        illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image, backend=backend)
    assert caught.value.key == key and len(fake.seen) == tries
    assert "{" not in caught.value.render("ko") and TOKEN_A not in caught.value.render("en")
    assert variant_count(services, book.id) == 0


def test_model_not_found_timeout_and_server_down(tmp_path, fake):
    creds = Credentials(hf_token=TOKEN_A)
    request = IllustrationRequest(spec=ImageSpec(width=64, height=64, steps=2), prompt="a cat")
    missing = HFIllustrator(_settings(tmp_path, fake.url, hf_image_model="nobody/nothing"))
    with pytest.raises(BackendError, match="nobody/nothing") as caught:
        missing.illustrate(request, credentials=creds)
    assert caught.value.key == "remote.model_not_found"
    fake.fail = ["slow"]
    slow = HFIllustrator(_settings(tmp_path, fake.url, remote_timeout_s=0.4, remote_retries=0))
    with pytest.raises(BackendError) as caught:
        slow.illustrate(request, credentials=creds)
    assert caught.value.key == "remote.timeout"
    down = HFIllustrator(_settings(tmp_path, refuse_connections_url()))
    with pytest.raises(BackendError) as caught:
        down.illustrate(request, credentials=creds)
    assert caught.value.key == "remote.server_down"


def test_pose_or_lora_is_refused_clearly_before_any_call(tmp_path, fake):
    backend = HFIllustrator(_settings(tmp_path, fake.url))
    spec = ImageSpec(width=64, height=64, steps=2)
    spec.loras = [LoraChoice(ref="watercolor.safetensors", name="watercolor.safetensors")]
    with pytest.raises(BackendError) as caught:
        backend.illustrate(IllustrationRequest(spec=spec, prompt="x"), credentials=Credentials(hf_token=TOKEN_A))
    assert caught.value.key == "remote.lora_missing" and fake.seen == []


def test_photo_is_repainted_with_image_to_image(tmp_path, fake):
    from PIL import Image

    backend = HFIllustrator(_settings(tmp_path, fake.url))
    spec = ImageSpec(width=64, height=64, steps=3, strength=0.6)
    photo = Image.new("RGB", (64, 64))
    image = backend.illustrate(IllustrationRequest(spec=spec, prompt="watercolor", init_image=photo),
                               credentials=Credentials(hf_token=TOKEN_B))
    assert image.size == (64, 64) and fake.seen[0]["path"] == "/models/timbrooks/pix2pix"
    body = json.loads(fake.seen[0]["raw"])
    assert body["parameters"]["strength"] == 0.6 and body["parameters"]["prompt"] == "watercolor" and body["inputs"]


def test_cancel_stops_waiting_at_once_and_stores_nothing(tmp_path, fake):
    fake.delay_s = 2.0
    services = build_services(_settings(tmp_path, fake.url))
    book = _book(services)
    backend = with_credentials(services.backends.active("illustrator"), Credentials(hf_token=TOKEN_A))
    token = CancelToken()
    threading.Timer(0.2, token.cancel).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image,
                                     backend=backend, cancel=token)
    assert time.monotonic() - started < 1.0 and variant_count(services, book.id) == 0


def test_speech_in_korean_and_a_clear_message_for_a_language_without_model(tmp_path, fake):
    speaker = with_credentials(HFSpeaker(_settings(tmp_path, fake.url)), Credentials(hf_token=TOKEN_B))
    audio = speaker.speak("안녕하세요", "ko", rate=50, pitch=50, seed=0)
    assert audio.sample_rate == 16000 and 0.25 < audio.duration_s < 0.35 and audio.samples.dtype.name == "float32"
    assert json.loads(fake.seen[0]["raw"])["inputs"] == "안녕하세요" and fake.authorizations() == [f"Bearer {TOKEN_B}"]
    assert speaker.supports("ko") and not speaker.supports("en")
    with pytest.raises(BackendError) as caught:
        speaker.speak("hello", "en")
    assert caught.value.key == "remote.language_missing"
    fake.tasks["facebook/mms-tts-kor"] = "text-to-image"  # a picture where speech was expected
    with pytest.raises(BackendError) as caught:
        speaker.speak("안녕", "ko")
    assert caught.value.key == "remote.audio_unreadable"


def test_story_through_chat_completion_with_the_visitors_token(tmp_path, fake):
    writer = with_credentials(HFWriter(_settings(tmp_path, fake.url)), Credentials(hf_token=TOKEN_A))
    draft = writer.write_story(REQUEST)
    assert len(draft.pages) == 4 and draft.characters[0].name == "순자 할머니"
    sent = fake.seen[0]
    assert sent["path"] == "/models/Qwen/Qwen2.5-7B-Instruct/v1/chat/completions"
    assert sent["headers"]["authorization"] == f"Bearer {TOKEN_A}"
    assert "감을 따 주셨다" in json.loads(sent["raw"])["messages"][1]["content"]
    fake.chat_reply = "not json at all"
    with pytest.raises(BackendError, match="twice"):
        writer.rewrite_page(REQUEST, draft.pages, 1)


def test_no_token_in_logs_stored_book_or_export(tmp_path, fake, caplog, monkeypatch):
    from studio.export.archive import export_archive

    monkeypatch.setenv("HF_TOKEN", SPACE_TOKEN)
    caplog.set_level(logging.DEBUG)
    services = build_services(_settings(tmp_path, fake.url))
    book = _book(services)
    backend = with_credentials(services.backends.active("illustrator"), Credentials(hf_token=TOKEN_A, user="amy"))
    logging.getLogger("test").info("backend in use: %r", backend)
    illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image, backend=backend)
    fake.fail = [401]
    with pytest.raises(BackendError):
        illustrate.generate_variants(services, "local", book.id, book.pages[1].id, book.pages[1].image, backend=backend)
    archive = export_archive(services.store, "local", book.id, tmp_path / "out")
    everything = [caplog.text, repr(services.backends.statuses())]
    everything += [p.read_bytes().decode("latin-1") for p in (tmp_path / "data").rglob("*") if p.is_file()]
    everything.append(archive.read_bytes().decode("latin-1"))
    for text in everything:
        assert TOKEN_A not in text and SPACE_TOKEN not in text
    assert "hf_token='***'" in caplog.text  # the credentials were logged, masked


def test_a_page_is_narrated_with_the_visitors_token(tmp_path, fake):
    from studio import narrate

    services = build_services(_settings(tmp_path, fake.url, speaker="hf"))
    book = _book(services)
    voice = narrate.create_voice(services, "local", book.id, "Narrator")

    def plain_voice(b):  # a standard reading voice: no likeness, so no consent form needed
        b.voice(voice.id).converter, b.voice(voice.id).speaker = "none", "hf"

    services.store.update("local", book.id, plain_voice)
    take = narrate.narrate_page(services, "local", book.id, book.pages[0].id, voice.id,
                                credentials=Credentials(hf_token=TOKEN_B))
    assert take.speaker == "hf" and take.duration_s > 0.2
    assert fake.authorizations() == [f"Bearer {TOKEN_B}"]
    with pytest.raises(BackendError) as caught:  # no visitor token and no Space token: log in first
        narrate.narrate_page(services, "local", book.id, book.pages[1].id, voice.id)
    assert caught.value.key == "remote.login_needed"
    assert len(services.store.get("local", book.id).pages[1].takes) == 0
