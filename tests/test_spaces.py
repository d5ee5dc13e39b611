"""Spaces: ZeroGPU turns sized from the job (``spaces`` faked), the HF login as the owner."""
from __future__ import annotations

import importlib.machinery
import pickle
import sys
import types

import pytest
from PIL import Image

from studio import zerogpu
from studio.backends.base import BackendError, IllustrationRequest
from studio.book import ImageSpec
from studio.config import Settings
from studio.illustrate import illustrate_book
from studio.store import new_page

TRUE_SECONDS_PER_UNIT = 1.0  # what the fake GPU "really" takes per 512² step


class FakeSpaces(types.ModuleType):
    """``spaces.GPU`` as ZeroGPU behaves for us: arguments and results cross a process boundary
    (pickled), the dynamic duration is called with the call's arguments."""

    def __init__(self) -> None:
        super().__init__("spaces")
        self.__spec__ = importlib.machinery.ModuleSpec("spaces", None)
        self.decorated: list = []
        self.durations: list[int] = []

    def GPU(self, task=None, *, duration=None, size=None):
        def decorate(fn):
            self.decorated.append(fn)

            def run(*args, **kwargs):
                args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))
                self.durations.append(duration(*args, **kwargs) if callable(duration) else duration)
                return pickle.loads(pickle.dumps(fn(*args, **kwargs)))

            return run

        return decorate if task is None else decorate(task)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def use_fake_zerogpu(monkeypatch) -> tuple[FakeSpaces, FakeTime]:
    """A Space with ZeroGPU: ``spaces`` faked, the studio's GPU dispatcher and clocks fresh."""
    fake = FakeSpaces()
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setenv("SPACE_ID", "family/gieok")
    for name, value in (("_dispatch", None), ("_clocks", {}), ("_registry", {})):
        monkeypatch.setattr(zerogpu, name, value)
    clock = FakeTime()
    monkeypatch.setattr(zerogpu, "time", clock)
    return fake, clock


@pytest.fixture
def fake_zerogpu(monkeypatch):
    return use_fake_zerogpu(monkeypatch)


def _paint_factory(clock: FakeTime, seen: list):
    def paint(request):  # runs "on the GPU": takes units × the true speed
        seen.append(request.spec.steps)
        clock.now += 10 + zerogpu.illustration_units(request) * TRUE_SECONDS_PER_UNIT  # 10 s: loading
        return Image.new("RGB", (request.spec.width // 8, request.spec.height // 8), "white")

    return paint


class GpuTestIllustrator:
    name, label, source, uses_maps = "gputest", "GPU test illustrator", "", False

    def __init__(self, settings, paint) -> None:
        self.gpu = zerogpu.GpuFunction("illustrate", paint, zerogpu.illustration_units, settings)

    def illustrate(self, request, on_step=None, cancel=None):
        return self.gpu(request, local={"on_step": on_step, "cancel": cancel})


def test_without_a_space_nothing_imports_spaces(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setattr(zerogpu, "_dispatch", None)
    assert not zerogpu.activate() and "spaces" not in sys.modules


def test_dispatcher_is_decorated_once_at_start_up(fake_zerogpu):
    fake, _ = fake_zerogpu
    assert zerogpu.activate() and zerogpu.activate()
    assert len(fake.decorated) == 1


def test_whole_book_turns_are_sized_from_each_page_and_follow_measurement(fake_zerogpu, services):
    fake, clock = fake_zerogpu
    settings = Settings(data_dir=services.settings.data_dir, gpu_seconds_per_step=0.3, gpu_overhead_s=10,
                        gpu_min_duration_s=15, gpu_max_duration_s=120)
    seen: list[int] = []
    backend = GpuTestIllustrator(settings, _paint_factory(clock, seen))
    book = services.store.create("local", "Turns", "", "en", 4)
    sizes = [(20, 512, 512), (40, 512, 512), (20, 768, 768), (150, 1536, 1536)]  # the last cannot fit

    def set_specs(b):
        b.pages = [new_page(text=f"Page {i + 1}") for i in range(len(sizes))]
        for page, (steps, w, h) in zip(b.pages, sizes):
            page.image.steps, page.image.width, page.image.height = steps, w, h

    services.store.update("local", book.id, set_specs)
    events = illustrate_book(services, "local", book.id, backend=backend)
    with pytest.raises(BackendError) as refused:
        for _ in events:
            pass
    # page 1: 10 s + 20 units × 0.3 s × 1.25 = 17.5 -> 18 s, from Settings before any measurement
    assert fake.durations[0] == 18
    # the first page really took 10 s + 1 s/unit: the estimate moved halfway there, so page 2
    # (40 units) asks 10 + 40 × 0.65 × 1.25 = 42.5 -> 43 s
    assert fake.durations[1] == 43
    # page 3 is 20 steps at 768² = 45 units: bigger than page 1, and measured speed keeps rising
    assert fake.durations[2] > fake.durations[0] and len(fake.durations) == 3
    # measured 1 s/unit three times: 0.3 -> 0.65 (halfway) -> 0.755 -> 0.8285 (moving average)
    assert zerogpu.clock("illustrate", settings).seconds_per_unit == pytest.approx(0.8285)
    # 150 steps at 1536² cannot fit one turn: refused with numbers, before any GPU time
    assert refused.value.key == "spaces.gpu_turn_too_long" and refused.value.values["limit"] == 120
    assert "120" in str(refused.value) and seen == [20, 40, 20]
    done = services.store.get("local", book.id)
    assert [p.chosen_image() is not None for p in done.pages] == [True, True, True, False]

    # the family lowers the steps; the job resumes at the page not done, in one more turn
    services.store.update("local", book.id, lambda b: setattr(b.pages[3].image, "steps", 8))
    list(illustrate_book(services, "local", book.id, backend=backend))
    assert seen == [20, 40, 20, 8] and len(fake.durations) == 4
    assert fake.durations[3] <= 120


def test_diffusers_backend_routes_through_a_sized_turn_without_callbacks(fake_zerogpu, settings):
    from studio.backends.diffusers_sd import DiffusersIllustrator

    fake, clock = fake_zerogpu
    backend = DiffusersIllustrator(settings)
    calls = []

    def fake_illustrate(request, seeds, on_step=None, cancel=None):
        calls.append((request.spec.steps, seeds, on_step, cancel))
        return [Image.new("RGB", (8, 8)) for _ in seeds]

    backend._illustrate = fake_illustrate  # the pipeline itself is tested in test_diffusers_sd
    spec = ImageSpec(steps=30, width=512, height=512)
    backend.illustrate(IllustrationRequest(spec=spec, prompt="a persimmon tree"), on_step=lambda *a: None,
                       cancel=object())
    assert calls == [(30, [0], None, None)]  # callbacks never cross into the GPU worker
    assert fake.durations == [22]  # 10 s + 30 steps × 0.3 s × 1.25 = 21.25, rounded up


def test_in_process_runs_keep_callbacks(monkeypatch, settings):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setattr(zerogpu, "_dispatch", None)
    got = []
    gpu = zerogpu.GpuFunction("test", lambda request, on_step=None: got.append(on_step) or "ok",
                              zerogpu.illustration_units, settings)
    marker = object()
    assert gpu(IllustrationRequest(spec=ImageSpec(), prompt=""), local={"on_step": marker}) == "ok"
    assert got == [marker]


def test_illustration_units_follow_the_job():
    base = IllustrationRequest(spec=ImageSpec(steps=20, width=512, height=512), prompt="")
    assert zerogpu.illustration_units(base) == 20
    big = IllustrationRequest(spec=ImageSpec(steps=20, width=1024, height=1024), prompt="")
    assert zerogpu.illustration_units(big) == 80
    img2img = IllustrationRequest(spec=ImageSpec(steps=20, width=512, height=512, strength=0.5), prompt="",
                                  init_image=Image.new("RGB", (8, 8)))
    assert zerogpu.illustration_units(img2img) == 10


# -- who owns books on a Space, and how long they live -------------------------------------------
HOUR = 3600.0


def _visitor_with_a_book(store, owner: str) -> str:
    book = store.create(owner, f"{owner}'s book", "", "en", 4)
    store.media_for(owner).put_bytes(b"a photo of grandma", "jpg")
    return book.id


def test_anonymous_books_expire_and_logged_in_books_survive_restarts(tmp_path):
    import time
    from types import SimpleNamespace

    from app import owner_for
    from studio import visitors
    from studio.owners import owner_folder
    from studio.services import build_services

    settings = Settings(data_dir=tmp_path / "data", mode="public", anon_ttl_hours=24)
    secret = visitors.load_secret(settings.data_dir)
    anon = owner_for("public", visitors.mint_token(secret), None, secret)
    family = owner_for("public", None, SimpleNamespace(username="soonja"), secret)  # fake OAuth profile
    assert family == "hf:soonja" and anon.startswith("anon:")

    services = build_services(settings)
    anon_book, family_book = _visitor_with_a_book(services.store, anon), _visitor_with_a_book(services.store, family)
    policy = visitors.ExpiryPolicy(settings.anon_ttl_hours)
    assert visitors.purge_expired(services.store, policy, now=lambda: time.time() + 23 * HOUR) == []
    assert [b.id for b in services.store.list(anon)] == [anon_book]
    services.close()

    services = build_services(settings)  # the Space restarts on the same /data
    assert [b.id for b in services.store.list(family)] == [family_book]
    assert visitors.purge_expired(services.store, policy, now=lambda: time.time() + 25 * HOUR) == [anon]
    assert services.store.list(anon) == []
    assert anon not in {info.owner for info in services.store.owners()}
    assert not owner_folder(settings.data_dir, anon).exists()  # the photo went with the books
    assert owner_folder(settings.data_dir, family).exists()
    services.close()

    services = build_services(settings)  # and again: the family's book is still there
    assert [b.title for b in services.store.list(family)] == ["hf:soonja's book"]
    services.close()


def test_notice_says_how_long_in_the_visitors_language():
    from studio import visitors

    policy = visitors.ExpiryPolicy(24)
    anon = visitors.anon_owner(visitors.mint_token(b"k"))
    en, ko = policy.notice(anon, "en", last_activity=0), policy.notice(anon, "ko", last_activity=0)
    assert "24 hours" in en and "1970-01-02 00:00 UTC" in en
    assert "24시간" in ko and "1970-01-02 00:00 UTC" in ko
    assert "kept" in policy.notice("hf:soonja", "en") and policy.notice("local", "en") == ""


def test_purge_timer_runs_at_once_and_survives_a_failing_purge():
    import threading

    from studio import visitors

    calls = threading.Semaphore(0)

    class Store:
        n = 0

        def expire_owners(self, prefix, older_than_s, now_s):
            Store.n += 1
            calls.release()
            if Store.n == 1:
                raise OSError("disk hiccup")
            return []

    timer = visitors.PurgeTimer(Store(), visitors.ExpiryPolicy(1), interval_s=0.01).start()
    assert calls.acquire(timeout=5) and calls.acquire(timeout=5)  # failed once, ran again
    timer.stop()


def test_space_visitor_sees_the_temporary_notice(launch_app, client_for, monkeypatch):
    monkeypatch.setenv("SPACE_ID", "family/gieok")
    url, services = launch_app(mode="public", anon_ttl_hours=12)
    for purger in [getattr(services, "purger", None)]:
        assert purger is not None
        purger.stop()
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False, headers={"Accept-Language": "ko-KR,ko;q=0.9"})
    notice = client.predict(api_name="/start_session")
    assert "12시간" in str(notice)
