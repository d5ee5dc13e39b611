"""Driving the studio through gradio_client as a visitor in a given language, and reading what
a refused action said (a refused action is a warning toast, not an error on the outputs)."""
from __future__ import annotations

import os
import re
from pathlib import Path

from gradio_client import Client


def client_in(url: str, language: str = "en-US") -> Client:
    """A session with an owner whose browser speaks ``language`` (Accept-Language)."""
    client = Client(url, verbose=False, download_files=False, headers={"Accept-Language": language})
    client.predict("", api_name="/start_session")
    return client


def run(client: Client, *args, api_name: str):
    """(result, [messages shown as toasts]) of one call."""
    job = client.submit(*args, api_name=api_name)
    result = job.result(timeout=120)
    return result, toasts(job)


def toasts(job) -> list[str]:
    """The toasts' texts, with code names written back in the catalogue's backticks."""
    said = []
    updates = job.communicator.updates
    while not updates.empty():
        log = getattr(updates.get_nowait(), "log", None)
        if log:
            said.append(re.sub(r"<code>(.*?)</code>", r"`\1`", log[0]))
    return said


def refused(client: Client, *args, api_name: str) -> str:
    """The one message a refused action showed; fails when the action was not refused."""
    result, said = run(client, *args, api_name=api_name)
    assert len(said) == 1, f"{api_name}: expected one message, got {said} (result {result!r})"
    return said[0]


def server_copies(name: str) -> list[Path]:
    """The web server's own copies of an uploaded file called ``name`` (this test process's
    Gradio cache folder, set in conftest)."""
    return list(Path(os.environ["GRADIO_TEMP_DIR"]).rglob(name))
