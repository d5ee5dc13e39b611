"""Shared by the likeness tests: a consent record and one torch thread for tiny models.

Import ``one_thread`` into a test module (it is autouse there): tiny models run fastest on one
thread, and two threads on a busy 2-core machine wait on each other (measured: a 2-step 64 px
picture took 1.9 s on 2 threads, 0.24 s on 1)."""
from __future__ import annotations

import pytest

from studio.book import Consent

CONSENT = Consent(given_by="Minji", relation="granddaughter", date="2026-11-30",
                  statement="We agree to draw Grandma from her photos for our family book.")


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
