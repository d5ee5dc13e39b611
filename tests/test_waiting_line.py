"""A visitor whose picture waits behind others is told how many jobs are ahead (issue 9)."""
from __future__ import annotations

from types import SimpleNamespace

from tabs.common import line_notice, place_in_line


def _queue(waiting, running):
    line = SimpleNamespace(queue=[SimpleNamespace(session_hash=h) for h in waiting], current_concurrency=running)
    return SimpleNamespace(event_queue_per_concurrency_id={"gpu": line})


def test_place_in_line_counts_the_jobs_ahead_including_the_running_one():
    queue = _queue(["alice", "bob", "carol", "bob"], running=1)
    assert place_in_line(queue, "alice") == 1  # one job is running before hers
    assert place_in_line(queue, "bob") == 2  # his first waiting job counts
    assert place_in_line(queue, "carol") == 3
    assert place_in_line(queue, "dave") is None  # nothing of his waits: no notice
    assert place_in_line(SimpleNamespace(event_queue_per_concurrency_id={}), "alice") is None


def test_the_notice_says_it_in_words_and_hides_when_nothing_waits():
    queue = _queue(["alice"], running=2)
    shown = line_notice(queue, "alice")
    assert shown["visible"] is True and "2" in shown["value"] and "ahead" in shown["value"]
    assert line_notice(queue, "bob")["visible"] is False
