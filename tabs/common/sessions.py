"""Gradio's per-page sessions, kept bounded.

Gradio 6 keeps one session object per page load (its ``gr.State`` values and a copy of every
component's settings: ~0.7 MB for the studio's 440 components) until 10,000 newer pages have
arrived. When a page closes, it empties the states after an hour but keeps the object itself, so a
public Space's memory grew with every visitor, and a script loading the page in a loop could fill
it. Here the object goes too: at once when the page is done for good (the kiosk's "I'm done"),
after the same hour when its page closed, and never more than ``capacity_for(mode)`` at a time.
"""
from __future__ import annotations

import datetime
import logging

from studio import lifecycle

log = logging.getLogger(__name__)

# Pages held at most (the oldest unused one goes first): a visitor whose page is dropped while
# still open is asked to reload it. A kiosk shows one page at a time; a Space many strangers'.
CAPACITY = {"kiosk": 100, "public": 1000}
SWEEP_EVERY_S = 300.0


def capacity_for(mode: str) -> int | None:
    """Sessions held at most in this mode (None: Gradio's own bound, one family's own machine)."""
    return CAPACITY.get(mode)


def release(demo, session_hash: str | None) -> None:
    """Drop one page's session now: the page reloads as a new visitor and never uses it again
    (what the running event still writes goes to the dropped object)."""
    holder = getattr(demo, "state_holder", None)
    if holder is None or not session_hash:
        return
    with holder.lock:
        holder.session_data.pop(session_hash, None)
        holder.time_last_used.pop(session_hash, None)


def drop_closed(demo, now: datetime.datetime | None = None) -> int:
    """Drop the sessions whose page closed and that nothing used for the hour Gradio keeps a
    closed page's states (after which it would have emptied them anyway). Returns how many."""
    holder = getattr(demo, "state_holder", None)
    if holder is None:
        return 0
    now = now or datetime.datetime.now()
    dropped = 0
    with holder.lock:
        for session_hash, session in list(holder.session_data.items()):
            last_used = holder.time_last_used.get(session_hash)
            kept_s = getattr(session, "STATE_TTL_WHEN_CLOSED", 3600)
            if getattr(session, "is_closed", False) and (last_used is None or
                                                         (now - last_used).total_seconds() > kept_s):
                holder.session_data.pop(session_hash, None)
                holder.time_last_used.pop(session_hash, None)
                dropped += 1
    if dropped:
        log.info("Dropped %d closed pages' sessions", dropped)
    return dropped


class ClosedSessionSweeper(lifecycle.Periodic):
    """``drop_closed`` every few minutes, server-side (the app starts it at launch)."""

    def __init__(self, demo, interval_s: float = SWEEP_EVERY_S) -> None:
        self.demo = demo
        super().__init__("gieok-sessions", lambda: drop_closed(demo), interval_s, first_now=False)
