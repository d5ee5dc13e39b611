"""Remote jobs run side by side, up to what the servers take; local GPU jobs stay one at a time.
Two visitors illustrating at once over two slow WebUI servers are both drawn at the same time
(seen in the servers' own timestamps), and the waiting notice reads the remote line too."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from studio.backends.remote.lines import GPU, job_line
from studio.book import ImageSpec, Page
from studio.config import Settings
from studio.services import build_services
from tabs.common import line_notice
from tests.remote_fakes import FakeA1111


def _engines(**kinds):
    """A stand-in for ``Backends``: kind -> [(name, capacity or 0, available)], the first active."""
    made = {kind: {name: SimpleNamespace(name=name, available=lambda ok=ok: SimpleNamespace(ok=ok),
                                         **({"capacity": lambda c=cap: c} if cap else {}))
                   for name, cap, ok in rows} for kind, rows in kinds.items()}
    return SimpleNamespace(kinds=made, get=lambda kind, name: made[kind][name],
                           active_or_none=lambda kind: next(iter(made[kind].values()), None))


def test_a_job_goes_to_the_remote_line_only_when_no_local_model_can_be_used():
    remote = _engines(illustrator=[("a1111", 3, True), ("sketch", 0, True)])
    assert job_line(remote, "pictures", {"illustrator": "active"}).limit == 3
    assert job_line(remote, "pictures", {"illustrator": "any"}).id == "remote-pictures"  # the sketch is light
    local = _engines(illustrator=[("diffusers", 0, True), ("a1111", 2, True)])
    assert job_line(local, "pictures", {"illustrator": "active"}) == GPU
    reproduce = _engines(illustrator=[("a1111", 2, True), ("diffusers", 0, True)])
    assert job_line(reproduce, "pictures", {"illustrator": "any"}) == GPU  # an old local picture may be redone
    assert job_line(_engines(illustrator=[("a1111", 2, True), ("diffusers", 0, False)]), "pictures",
                    {"illustrator": "any"}).limit == 2  # a model that is not set up is never used
    voices = _engines(speaker=[("hf", 4, True), ("espeak", 0, True)], converter=[("voice_match", 0, True)])
    assert job_line(voices, "voices", {"speaker": "any", "converter": "any"}).limit == 4
    cloned = _engines(speaker=[("xtts", 0, True), ("hf", 4, True)], converter=[])
    assert job_line(cloned, "voices", {"speaker": "any"}) == GPU
    kiosk = _engines(writer=[("storyteller", 0, True)], illustrator=[("comfyui", 2, True)], speaker=[("hf", 4, True)])
    assert job_line(kiosk, "pictures", {"writer": "active", "illustrator": "active", "speaker": "any"}).limit == 2
    assert job_line(_engines(illustrator=[("sketch", 0, True)]), "pictures", {"illustrator": "active"}) == GPU


def test_the_pool_takes_as_many_jobs_as_it_has_servers_unless_set(tmp_path):
    services = build_services(Settings(data_dir=tmp_path / "d", illustrator="a1111", a1111_urls="http://a:1,http://b:2",
                                       hf_image_model="x"))
    assert services.backends.get("illustrator", "a1111").capacity() == 2
    assert services.backends.get("illustrator", "hf").capacity() == 4
    services.settings.remote_concurrency = 6
    assert services.backends.get("illustrator", "a1111").capacity() == 6
    services.close()


def test_the_waiting_notice_reads_the_remote_line():
    line = SimpleNamespace(queue=[SimpleNamespace(session_hash=h) for h in ("amy", "bo")], current_concurrency=2)
    queue = SimpleNamespace(event_queue_per_concurrency_id={"remote-pictures": line, "encode": line})
    shown = line_notice(queue, "bo")
    assert shown["visible"] is True and "3" in shown["value"]  # two being made, amy's waits before his
    assert line_notice(queue, "cy")["visible"] is False


@pytest.fixture
def workers():
    made = [FakeA1111(step_s=0.1), FakeA1111(step_s=0.1)]  # one second per picture each
    yield made
    for fake in made:
        fake.close()


def test_two_visitors_illustrating_at_once_are_drawn_side_by_side(launch_app, client_for, workers):
    url, services = launch_app(mode="public", illustrator="a1111", a1111_urls=",".join(w.url for w in workers),
                               remote_timeout_s=20)  # public: each visitor is their own owner
    visitors = []
    for name in ("Amy", "Bo"):
        client = client_for(url)
        drop, *_ = client.predict(name, "", "en", 4, api_name="/create_book")
        owner = next(o.owner for o in services.store.owners() if any(b.id == drop["value"]
                                                                       for b in services.store.list(o.owner)))
        services.store.update(owner, drop["value"], lambda b: setattr(b, "pages", [
            Page(text="p", illustration_prompt="grandmother", image=ImageSpec(width=192, height=128, steps=10))]))
        pages, _, _ = client.predict(None, api_name="/list_pages")
        page_id = pages["choices"][0][1]
        form = [v["value"] if isinstance(v, dict) and v.get("__type__") == "update" else v
                for v in client.predict(page_id, api_name="/show_page")[2:24]]
        visitors.append((client, page_id, form))
    results, start = [], threading.Barrier(2)

    def illustrate(client, page_id, form):
        start.wait()
        results.append(client.predict(page_id, 1, *form, api_name="/generate_variants"))

    threads = [threading.Thread(target=illustrate, args=visitor) for visitor in visitors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2 and all(status.startswith("1 picture") for *_, status, _ in results)
    (a_start, a_end), (b_start, b_end) = [fake.made[0] for fake in workers]  # one picture on each server
    assert max(a_start, b_start) < min(a_end, b_end)  # drawn at the same time, not one after the other
