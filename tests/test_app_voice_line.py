"""Narration has its own GPU line (issue 16): a page is read aloud while a whole-book illustration
holds the picture line, and the waiting notice counts the line the visitor's job waits in."""
from __future__ import annotations

import threading
from types import SimpleNamespace

from studio.book import Page
from tabs.common import line_notice, place_in_line, soonest_place

KNOBS = [0, 0.5, 0.33, 3, 0.25, 1.0, 150, 50, "harvest"]  # the Voice tab's KNOB_ORDER, then the pitch method


def _hold_the_illustrator(services):
    """Make the running app's illustrator wait until released: a whole book that takes as long as
    the test wants. Returns (started, release) events."""
    backend = services.backends.active("illustrator")
    started, release = threading.Event(), threading.Event()

    def slow(method):
        def held(*args, **kwargs):
            started.set()
            release.wait(timeout=120)
            return method(*args, **kwargs)
        return held

    for name in ("illustrate", "illustrate_variants"):
        if hasattr(backend, name):
            setattr(backend, name, slow(getattr(backend, name)))
    return started, release


def test_a_page_is_narrated_while_a_whole_book_illustration_holds_the_gpu_line(launch_app, client_for):
    url, services = launch_app()
    painter, reader = client_for(url), client_for(url)  # two visitors (the same works for one)
    painted = painter.predict("그림책", "", "ko", 4, api_name="/create_book")[0]["value"]
    services.store.update("local", painted, lambda b: setattr(b, "pages", [
        Page(text=f"{i + 1}쪽", illustration_prompt=f"grandmother, scene {i + 1}") for i in range(3)]))
    read = reader.predict("낭독책", "", "ko", 4, api_name="/create_book")[0]["value"]
    services.store.update("local", read, lambda b: b.pages.append(Page(text="할머니는 감나무 아래에서 노래를 불렀어요.")))
    reader.predict(api_name="/voice_refresh")
    voice_id = reader.predict("기본 목소리", api_name="/voice_create")[0]["value"]
    reader.predict(voice_id, "espeak", "none", *KNOBS, api_name="/voice_pipeline")  # no likeness: no consent
    page_id = services.store.get("local", read).pages[0].id

    started, release = _hold_the_illustrator(services)
    try:
        painter.predict(None, api_name="/list_pages")
        book_job = painter.submit(api_name="/illustrate_book")
        assert started.wait(timeout=60), "the illustration never started"
        narration = reader.submit(voice_id, page_id, api_name="/narrate_page")
        page, takes, audio = narration.result(timeout=60)  # would wait for the whole book on one line
        assert not release.is_set() and not book_job.done()  # the pictures were still being made
        assert len(takes["choices"]) == 1 and audio is not None
        assert services.store.get("local", read).pages[0].chosen_take
    finally:
        release.set()
    overview, message = book_job.result(timeout=120)
    assert message.startswith("3 pages illustrated"), message


def _queue(**lines):
    return SimpleNamespace(event_queue_per_concurrency_id={
        name: SimpleNamespace(queue=[SimpleNamespace(session_hash=h) for h in waiting], current_concurrency=running)
        for name, (waiting, running) in lines.items()})


def test_the_notice_counts_the_line_the_visitors_job_waits_in():
    queue = _queue(gpu=(["amy", "bo", "cy"], 1), voice=(["cy", "dan"], 1))
    assert place_in_line(queue, "dan", "voice") == 2 and place_in_line(queue, "dan") is None
    assert soonest_place(queue, "dan") == 2  # a reading waits behind one running and one waiting reading
    assert soonest_place(queue, "cy") == 1  # waits in both lines: the reading comes first
    assert soonest_place(queue, "bo") == 2 and soonest_place(queue, "eve") is None
    shown = line_notice(queue, "dan")
    assert shown["visible"] is True and "2" in shown["value"]
    assert line_notice(queue, "eve")["visible"] is False
