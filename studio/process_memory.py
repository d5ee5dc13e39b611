"""The server process's own memory: glibc arenas capped so a long day stays flat."""
from __future__ import annotations

import os

M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def few_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas, as ``MALLOC_ARENA_MAX=2`` would, for the arenas made from now on.

    Each of the web server's worker threads otherwise gets an arena of its own, and a day of
    kiosk visitors (a book each: pictures, sound, a PDF) left ~25 MB more resident memory per
    visitor in them that was never handed back (``bench/bench_kiosk_app.py``); with two arenas it
    stays flat. A Space's strangers run the same handlers. Only on glibc (elsewhere nothing
    changes); returns whether the cap was set."""
    import ctypes
    import ctypes.util

    if os.environ.get("MALLOC_ARENA_MAX"):  # the operator chose already
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
