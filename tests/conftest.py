"""Shared fixtures: isolated settings/services per test, and the real app launched in-process."""
from __future__ import annotations

import os
import shutil
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")
for key in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
    os.environ.pop(key, None)

import pytest  # noqa: E402

# Each test process gets its own web-server cache. Gradio deletes every file an app put there when
# that app closes, and the two test workers share /tmp/gradio by default: one worker's closing app
# removed the shared paper card (and uploads of the same content) another worker's page was showing.
_GRADIO_CACHE = tempfile.mkdtemp(prefix="gieok-tests-gradio-")
os.environ["GRADIO_TEMP_DIR"] = _GRADIO_CACHE


def pytest_unconfigure(config):
    shutil.rmtree(_GRADIO_CACHE, ignore_errors=True)

from studio.config import Settings  # noqa: E402
from studio.services import build_services  # noqa: E402


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data", mode="local")


@pytest.fixture
def services(settings):
    svc = build_services(settings)
    yield svc
    svc.close()


@pytest.fixture
def store(services):
    return services.store


def _patient_readiness_check() -> None:
    """Gradio gives a server it has just started one HEAD request with a 3 s timeout and fails the
    launch if that times out; on a loaded 2-core CI machine it sometimes did. Keep asking for 30 s."""
    from gradio import networking

    first = getattr(networking.url_ok, "__wrapped__", networking.url_ok)

    def patient(url: str) -> bool:
        deadline = time.monotonic() + 30
        while not first(url):
            if time.monotonic() > deadline:
                return False
            time.sleep(1)
        return True

    patient.__wrapped__ = first
    networking.url_ok = patient


@pytest.fixture
def launch_app(tmp_path_factory):
    """Start the real app (queue, limits, blocked paths) on a free port; returns (url, services).

    Call it with Settings overrides, e.g. ``launch_app(mode="public")``."""
    import app as app_module

    started = []

    def start(**overrides):
        overrides.setdefault("data_dir", tmp_path_factory.mktemp("appdata") / "data")
        overrides.setdefault("mode", "local")
        overrides.setdefault("max_file_size_mb", 5)
        svc = build_services(Settings(**overrides))
        demo = app_module.build_app(svc)
        _patient_readiness_check()
        _, url, _ = app_module.launch(demo, svc, prevent_thread_lock=True, server_port=None, quiet=True)
        started.append((demo, svc))
        return url, svc

    yield start
    for demo, svc in started:
        demo.close()
        svc.close()


@pytest.fixture
def client_for():
    """A gradio_client session that has run the page's load event (so it has an owner)."""
    from gradio_client import Client

    def make(url):
        client = Client(url, verbose=False, download_files=False)
        client.predict(api_name="/start_session")
        return client

    return make
