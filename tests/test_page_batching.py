"""The whole-book job denoises pages that share settings in one call, on the tiny pipeline:
each batched page is the picture it makes alone, pages that cannot share go alone, progress
names the pages, cancel stores nothing of the call, and the batch size follows the device."""
from __future__ import annotations

import numpy as np
import pytest

from studio import illustrate, page_inputs
from studio.backends.base import CancelToken, Cancelled
from studio.backends.torch_device import GIB, pages_per_call
from studio.book import ImageSpec, Page
from studio.config import Settings
from studio.services import build_services
from studio.whole_book import batch_key, next_batch
from tiny_sd import pixels, tiny_models  # noqa: F401,F811  (session fixture)

PROMPTS = ["a grandmother in the garden", "a red book under the tree", "a cat in the sky",
           " ".join(["the girl and the cat read a red book"] * 12)]  # over 77 tokens: longer embeddings


@pytest.fixture
def sd(tiny_models, tmp_path):  # noqa: F811
    services = build_services(Settings(data_dir=tmp_path / "data", sd_model=str(tiny_models.sd),
                                       controlnet_openpose=str(tiny_models.controlnet), page_batch=4))
    book = services.store.create("local", "Batch", page_count=5)

    def fill(b):
        b.pages = [Page(text=f"page {i}", illustration_prompt=PROMPTS[i % 4],
                        image=ImageSpec(width=64, height=64, steps=2, seed=20 + i, seed_locked=True))
                   for i in range(5)]
        b.pages[4].image.width = 72  # another size: never in the same call as the others

    book = services.store.update("local", book.id, fill)
    yield services, book
    services.close()


def _record_calls(monkeypatch, ill):
    calls, real = [], ill._illustrate_pages
    monkeypatch.setattr(ill, "_illustrate_pages",
                        lambda requests, seeds, *a, **kw: calls.append(list(seeds)) or real(requests, seeds, *a, **kw))
    ill._gpu_pages = None
    return calls


def _alone(services, book_id, page_id, variant):
    """The page's picture made on its own from the spec the batched one stored."""
    book = services.store.get("local", book_id)
    image, _ = illustrate.render(services, book, book.page(page_id), ImageSpec.from_dict(variant.params["spec"]))
    return np.asarray(image).astype(int)


def test_batched_pages_equal_pages_made_one_by_one(sd, monkeypatch):
    services, book = sd
    ill = services.backends.active("illustrator")
    calls = _record_calls(monkeypatch, ill)
    pipeline_calls, real_call = [], ill._call
    monkeypatch.setattr(ill, "_call", lambda pipe, requests, seeds, *a: pipeline_calls.append(list(seeds))
                        or real_call(pipe, requests, seeds, *a))
    events = list(illustrate.illustrate_book(services, "local", book.id))
    done = [e for e in events if "variant" in e.payload]
    assert [e.message for e in done] == [f"Page {n} done" for n in range(1, 6)] and done[-1].done == 5
    assert calls == [[20, 21, 22, 23]]  # four pages in one call; the 72-wide page alone (render)
    assert pipeline_calls == [[20, 21, 22], [23], [24]]  # the long prompt's embeddings are longer: its own call
    assert any(e.message.startswith("Pages 1, 2, 3, 4: step") for e in events)
    steps = [e.payload["step_fraction"] for e in events if e.payload.get("page_ids") == [p.id for p in book.pages[:4]]]
    assert steps[-1] == 4  # four pages' worth of work when the call ends
    after = services.store.get("local", book.id)
    for page, event in zip(after.pages, done):
        variant = page.chosen_image()
        assert variant.id == event.payload["variant"].id and variant.backend == "diffusers"
        assert variant.params["spec"]["seed"] == page.image.seed
        assert np.abs(_alone(services, book.id, page.id, variant) - pixels(services, variant)).max() <= 2
    assert np.abs(pixels(services, after.pages[0].chosen_image())
                  - pixels(services, after.pages[1].chosen_image())).mean() > 1  # each page its own prompt


def test_pages_with_control_maps_batch_and_match(sd, monkeypatch):
    services, book = sd
    for page in book.pages[:2]:
        page_inputs.choose_pose(services, "local", book.id, page.id, "waving")
    services.store.update("local", book.id, lambda b: [setattr(p, "locked", True) for p in b.pages[2:]])
    ill = services.backends.active("illustrator")
    calls = _record_calls(monkeypatch, ill)
    done = [e for e in illustrate.illustrate_book(services, "local", book.id) if "variant" in e.payload]
    assert calls == [[20, 21]] and len(done) == 2
    for event in done:
        variant = event.payload["variant"]
        assert variant.params["spec"]["control"]["kind"] == "openpose" and variant.params["spec"]["control"]["map_image"]
        assert np.abs(_alone(services, book.id, event.payload["page_id"], variant) - pixels(services, variant)).max() <= 2


def test_cancel_during_a_batch_stores_none_of_its_pages(sd, monkeypatch):
    services, book = sd
    _record_calls(monkeypatch, services.backends.active("illustrator"))
    token, events = CancelToken(), []
    with pytest.raises(Cancelled):
        for event in illustrate.illustrate_book(services, "local", book.id, cancel=token):
            events.append(event)
            token.cancel()  # at the first step of the first call
    assert not any("variant" in e.payload for e in events)
    assert all(p.variants == [] for p in services.store.get("local", book.id).pages)
    done = [e for e in illustrate.illustrate_book(services, "local", book.id) if "variant" in e.payload]
    assert len(done) == 5  # the next run draws them all


def test_one_page_per_call_on_the_cpu_unless_set(tiny_models, tmp_path, monkeypatch):  # noqa: F811
    services = build_services(Settings(data_dir=tmp_path / "data", sd_model=str(tiny_models.sd)))
    try:
        ill = services.backends.active("illustrator")
        assert ill.page_batch_size(ImageSpec(width=64, height=64)) == 1  # the CPU default: a page saved as soon as it is made
        services.settings.page_batch = 3
        assert ill.page_batch_size(ImageSpec(width=64, height=64)) == 3
    finally:
        services.close()


def test_pages_per_call_follows_the_gpu_memory():
    assert pages_per_call("cpu", 0, 512, 512) == 1
    assert pages_per_call("cuda", 24 * GIB, 512, 512) == 8
    assert pages_per_call("cuda", 24 * GIB, 1024, 1024) == 2
    assert pages_per_call("cuda", 8 * GIB, 512, 512) == 1
    assert pages_per_call("cuda", 141 * GIB, 1024, 1024) == 8


def test_next_batch_takes_matching_pages_up_to_the_limit():
    from studio.book import Book

    class Batching:
        name = "diffusers"

        def illustrate_pages(self, requests, seeds, on_step=None, cancel=None):  # pragma: no cover - not called
            raise AssertionError

        def page_batch_size(self, spec):
            return 2

    pages = [Page(text=str(i), illustration_prompt="a cat", image=ImageSpec(width=64, height=64, seed=i,
                                                                                 seed_locked=True, steps=2 + (i == 1)))
             for i in range(4)]
    book = Book(id="b", owner="local", title="t", pages=pages)
    waiting = [p.id for p in pages]
    batch, gone = next_batch(book, waiting, Batching())
    assert [page.text for page, _ in batch] == ["0", "2"] and gone == 0  # page 1 has other steps
    assert waiting == [pages[1].id, pages[3].id]
    assert batch_key(batch[0][1]) == batch_key(batch[1][1]) != batch_key(illustrate.final_spec(book, pages[1], pages[1].image, 1))
    pages[1].locked = True
    batch, gone = next_batch(book, waiting, Batching())
    assert [page.text for page, _ in batch] == ["3"] and gone == 1 and waiting == []


def test_a_call_never_takes_more_pages_than_the_hourly_allowance_left(sd, monkeypatch):
    from studio.jobs import LimitReached, VisitorLimits

    services, book = sd
    services.limits = VisitorLimits(pages_per_hour=2)  # a visitor on a public Space
    calls = _record_calls(monkeypatch, services.backends.active("illustrator"))
    done = []
    with pytest.raises(LimitReached):
        for event in illustrate.illustrate_book(services, "local", book.id):
            done += [event] if "variant" in event.payload else []
    assert calls == [[20, 21]] and [e.message for e in done] == ["Page 1 done", "Page 2 done"]
    assert [bool(p.variants) for p in services.store.get("local", book.id).pages] == [True, True, False, False, False]
