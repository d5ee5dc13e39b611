"""The whole-book illustration job: every page not locked and not done yet, pages that can share
a pipeline call denoised together.

Pages share a call when their final specs agree on everything one call shares (``batch_key``:
size, steps, guidance, scheduler, img2img strength, ControlNet kind and settings, LoRAs) and the
illustrator can batch pages (``illustrate_pages``), up to its ``page_batch_size`` (a setting, or
what the GPU's memory allows; one page per call on the CPU, see ``torch_device.pages_per_call``). Each
page keeps its own prompt, control map, photo and seed, so it comes out as it would alone.

Saving: the pictures of a call are stored as soon as that call ends, before anything is
reported, so a job stopped between calls keeps every finished page and resumes at the next one
not done; a call that is cancelled stores nothing of its pages.

    for event in illustrate_book(services, owner, book_id, cancel=token):
        print(f"{event.fraction:.0%} {event.message}")
"""
from __future__ import annotations

import contextlib
import queue
import secrets
import threading
from typing import Any, Callable, Iterator

from studio.backends.base import CancelToken
from studio.book import Book, ImageSpec, ImageVariant, Page
from studio.illustrate import (
    _add_variant, _allowance, _request, _store_variant, final_spec, model_family, own_styles, pages_to_illustrate,
    render,
)
from studio.image_params import tone_grade
from studio.jobs import Progress

MAX_PAGE_BATCH = 8


def batch_key(spec: ImageSpec) -> tuple:
    """What pages must agree on to be denoised in one call (their prompts and seeds may differ)."""
    control = spec.control
    return (int(spec.width), int(spec.height), int(spec.steps), float(spec.guidance), spec.scheduler,
            bool(spec.init_image), float(spec.strength) if spec.init_image else None, control.kind,
            (float(control.scale), float(control.start), float(control.end)) if control.kind != "none" else (),
            tuple((choice.ref, float(choice.weight)) for choice in spec.loras))


def batch_size(backend, spec: ImageSpec) -> int:
    """How many pages like ``spec`` one call of ``backend`` may take (1: one page per call)."""
    if not hasattr(backend, "illustrate_pages"):
        return 1
    size = getattr(backend, "page_batch_size", None)
    return max(1, min(MAX_PAGE_BATCH, int(size(spec)))) if size else 1


def _page_spec(book: Book, page: Page, backend, own: dict | None = None) -> ImageSpec:
    seed = page.image.seed if page.image.seed_locked and page.image.seed >= 0 else secrets.randbelow(2**31)
    return final_spec(book, page, page.image, seed, model_family(backend, page.image.style), own)


def next_batch(book: Book, waiting: list[str], backend,
               own: dict | None = None) -> tuple[list[tuple[Page, ImageSpec]], int]:
    """The next call's pages (taken out of ``waiting``) and how many waiting pages no longer need
    a picture (locked, deleted or drawn meanwhile: the family may edit while the job runs)."""
    still = {p.id for p in pages_to_illustrate(book, backend.name)}
    gone = [page_id for page_id in waiting if page_id not in still]
    for page_id in gone:
        waiting.remove(page_id)
    if not waiting:
        return [], len(gone)
    first = book.page(waiting.pop(0))
    spec = _page_spec(book, first, backend, own)
    batch, key, limit = [(first, spec)], batch_key(spec), batch_size(backend, spec)
    for page_id in list(waiting):
        if len(batch) >= limit:
            break
        page = book.page(page_id)
        candidate = _page_spec(book, page, backend, own)
        if batch_key(candidate) == key:
            waiting.remove(page_id)
            batch.append((page, candidate))
    return batch, len(gone)


def illustrate_book(services, owner: str, book_id: str, backend=None,
                    cancel: CancelToken | None = None) -> Iterator[Progress]:
    """Illustrate every page that is not locked and has no chosen picture yet.

    Yields progress per denoising step (``payload["page_ids"]``: the pages of the call;
    ``step_fraction``: pages' worth of work done in it) and one event per page done
    (``payload["variant"]``). Raises ``Cancelled`` after the current step when ``cancel`` is
    set (pages finished before stay)."""
    cancel = cancel or CancelToken()
    backend = backend or services.backends.active("illustrator")
    waiting = [p.id for p in pages_to_illustrate(services.store.get(owner, book_id), backend.name)]
    total, done = len(waiting), 0
    while waiting:
        cancel.raise_if_cancelled()
        book = services.store.get(owner, book_id)  # fresh: the family may edit other pages meanwhile
        batch, skipped = next_batch(book, waiting, backend, own_styles(services, owner))  # the family's own styles
        done += skipped
        if not batch:
            continue
        try:
            with contextlib.ExitStack() as allowances:  # pictures per hour, per visitor (public Spaces)
                granted = _allow(allowances, services, owner, len(batch))
                waiting[:0] = [page.id for page, _ in batch[granted:]]  # over the hour's limit: next time
                batch = batch[:granted]
                numbers = [book.pages.index(page) + 1 for page, _ in batch]

                def work(emit, book=book, batch=batch, numbers=numbers, done=done):
                    return _render_batch(services, owner, book, batch, backend, cancel,
                                         _progress(emit, batch, numbers, done, total))

                variants = yield from _streamed(work)
        except GeneratorExit:  # the visitor left: stop the running call after its current step
            cancel.cancel()
            raise
        for (page, _spec), variant in zip(batch, variants):  # all saved before anything is reported
            _add_variant(services, owner, book_id, page.id, variant, choose=True)
        for (page, _spec), number, variant in zip(batch, numbers, variants):
            done += 1
            yield Progress(done, total, f"Page {number} done", {"page_id": page.id, "variant": variant})


def _allow(allowances: contextlib.ExitStack, services, owner: str, wanted: int) -> int:
    """Take up to ``wanted`` of the visitor's pictures-per-hour allowance; how many were given.
    None left refuses (the limit's own message); some left makes a smaller call."""
    from studio.jobs import LimitReached

    for given in range(wanted):
        try:
            allowances.enter_context(_allowance(services, owner))
        except LimitReached:
            if given == 0:
                raise
            return given
    return wanted


def _progress(emit, batch, numbers: list[int], done: int, total: int):
    label = f"Page {numbers[0]}" if len(numbers) == 1 else "Pages " + ", ".join(map(str, numbers))
    ids = [page.id for page, _ in batch]

    def on_step(step: int, steps: int, _preview) -> None:
        emit(Progress(done, total, f"{label}: step {step}/{steps}",
                      {"page_id": ids[0], "page_ids": ids, "step_fraction": len(ids) * step / max(1, steps)}))

    return on_step


def _render_batch(services, owner: str, book: Book, batch: list[tuple[Page, ImageSpec]], backend,
                  cancel: CancelToken, on_step) -> list[ImageVariant]:
    """The pictures of one call, stored (media files) and returned as variants, in batch order."""
    if len(batch) == 1:
        page, spec = batch[0]
        pictures = [render(services, book, page, spec, backend, cancel, on_step)]
    else:
        prepared = [_request(services, book, page, spec, backend) for page, spec in batch]
        images = backend.illustrate_pages([request for request, _ in prepared], [used.seed for _, used in prepared],
                                          on_step=on_step, cancel=cancel)
        pictures = [(tone_grade(image, used.tone), used) for image, (_, used) in zip(images, prepared)]
    return [_store_variant(services, backend, image, used, owner) for image, used in pictures]


_FINISHED = object()


def _streamed(work: Callable[[Callable[[Progress], None]], Any]):
    """Run ``work(emit)`` in a thread and yield what it emits as it happens; return its result."""
    events: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work(events.put)
        except BaseException as exc:  # re-raised in the caller's thread below
            outcome["error"] = exc
        finally:
            events.put(_FINISHED)

    thread = threading.Thread(target=run, name="gieok-illustrate", daemon=True)
    thread.start()
    while (item := events.get()) is not _FINISHED:
        yield item
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
