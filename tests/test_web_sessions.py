"""A public Space's web sessions stay bounded: Gradio keeps ~0.7 MB per page load for the studio
(states and a copy of every component) until 10,000 newer pages; here a closed page's session goes
an hour after it closed, and no more than a thousand are held at once."""
from __future__ import annotations

import datetime
import time

import httpx

from tabs.common import sessions


def _close_page(url: str, client) -> None:
    """What a browser tab does when it closes: its heartbeat stream ends (the real route marks
    the session closed)."""
    with httpx.stream("GET", f"{url}gradio_api/heartbeat/{client.session_hash}", cookies=client.cookies,
                      timeout=30) as stream:
        next(stream.iter_lines())  # the page is alive; leaving the block closes the connection


def test_closed_pages_sessions_go_after_the_hour_and_open_ones_stay(launch_app, client_for):
    url, services = launch_app(mode="public")
    demo = services.session_sweeper.demo
    holder = demo.state_holder
    assert holder.capacity == sessions.capacity_for("public") == 1000

    closed, open_page = client_for(url), client_for(url)
    for client in (closed, open_page):
        client.predict(api_name="/list_books")
    assert {closed.session_hash, open_page.session_hash} <= set(holder.session_data)
    _close_page(url, closed)
    deadline = time.monotonic() + 20
    while not getattr(holder.session_data[closed.session_hash], "is_closed", False):
        assert time.monotonic() < deadline, "the heartbeat route never marked the page closed"
        time.sleep(0.2)

    soon = datetime.datetime.now() + datetime.timedelta(minutes=10)
    assert sessions.drop_closed(demo, soon) == 0  # a page reopened within the hour keeps its states
    later = datetime.datetime.now() + datetime.timedelta(hours=2)
    assert sessions.drop_closed(demo, later) == 1
    assert closed.session_hash not in holder.session_data
    assert open_page.session_hash in holder.session_data  # an open page is never dropped for age
    assert open_page.predict(api_name="/list_books")  # and still works


def test_a_family_studio_keeps_gradios_own_bound():
    assert sessions.capacity_for("local") is None
