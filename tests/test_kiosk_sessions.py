"""A day of visitors stays flat in the web server too: a kiosk page that is done ("I'm done", or
the idle timeout) leaves no session behind in Gradio's state holder, and the sessions a kiosk keeps
at all are bounded (Gradio's own default keeps 10,000, each with a copy of every component)."""
from __future__ import annotations

import platform

import pytest

import tabs.kiosk as kiosk_tab
from studio.process_memory import few_malloc_arenas
from tabs.common import sessions as web_sessions

PIN = "2468"


@pytest.fixture
def kiosk_app(launch_app, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    built = []
    real_build = kiosk_tab.build_kiosk_app

    def build(services):
        built.append(real_build(services))
        return built[-1]

    monkeypatch.setattr(kiosk_tab, "build_kiosk_app", build)
    url, services = launch_app(mode="kiosk", kiosk_pin=PIN)
    clock = [1_800_000_000.0]
    services.kiosk.set_clock(lambda: clock[0])
    return url, services, built[0], clock


def test_a_page_that_is_done_leaves_no_session_and_sessions_are_bounded(kiosk_app, client_for):
    url, services, demo, clock = kiosk_app
    holder = demo.state_holder
    assert holder.capacity == web_sessions.capacity_for("kiosk") < 10_000

    leaving, idle, staying = client_for(url), client_for(url), client_for(url)
    sessions = {c.session_hash for c in (leaving, idle, staying)}
    assert sessions <= set(holder.session_data)

    assert leaving.predict(api_name="/kiosk_new_visitor")[0] == "welcome"  # "I'm done"
    assert leaving.session_hash not in holder.session_data
    assert {idle.session_hash, staying.session_hash} <= set(holder.session_data)

    clock[0] += services.kiosk.settings.idle_timeout_s + 1
    staying.predict(api_name="/kiosk_consent_yes")  # this visitor touched the screen just now
    assert idle.predict(0, api_name="/kiosk_tick") == ("welcome", 1)  # forgotten: the page reloads
    assert idle.session_hash not in holder.session_data
    assert staying.predict(0, api_name="/kiosk_tick") == ({"__type__": "update"}, {"__type__": "update"})
    assert staying.session_hash in holder.session_data  # a visitor still here keeps theirs
    assert services.kiosk.active_visitors() == 1
    for client in (leaving, idle, staying):
        client.close()


def test_tapping_start_on_a_page_left_open_restarts_the_idle_time(kiosk_app, client_for):
    url, services, _, clock = kiosk_app
    client = client_for(url)  # the welcome page has waited on the screen for a while...
    clock[0] += services.kiosk.settings.idle_timeout_s - 1
    assert client.predict(api_name="/kiosk_begin") == "consent"  # ...then someone taps Start
    clock[0] += 2  # reading the consent screen
    assert client.predict(0, api_name="/kiosk_tick") == ({"__type__": "update"}, {"__type__": "update"})
    assert services.kiosk.active_visitors() == 1
    client.close()


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_malloc_arenas_are_capped_unless_the_operator_chose(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert few_malloc_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert few_malloc_arenas() is False
