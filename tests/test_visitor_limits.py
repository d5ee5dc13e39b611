"""Per-visitor limits on a shared server: one long job at a time, N pictures an hour."""
from __future__ import annotations

import pytest

from studio.book import ImageSpec
from studio.config import Settings
from studio.illustrate import generate_variants
from studio.jobs import Jobs, LimitReached, VisitorLimits
from studio.services import build_services
from studio.store import new_page


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def test_limits_are_on_for_public_and_kiosk_only():
    local = VisitorLimits.from_settings(Settings(mode="local", pages_per_hour=5))
    assert not local.one_job_at_a_time and local.pages_per_hour == 0
    public = VisitorLimits.from_settings(Settings(mode="public", pages_per_hour=5))
    assert public.one_job_at_a_time and public.pages_per_hour == 5
    assert VisitorLimits.from_settings(Settings.from_env({"GIEOK_MODE": "kiosk", "GIEOK_PAGES_PER_HOUR": "7"})
                                       ).pages_per_hour == 7


def test_one_long_job_at_a_time_across_tabs():
    limits = VisitorLimits(one_job_at_a_time=True)
    story_tab, pages_tab = Jobs(limits), Jobs(limits)  # every tab's registry shares the app's limits
    story = story_tab.start("anon:a", "story")
    with pytest.raises(LimitReached) as busy:
        pages_tab.start("anon:a", "illustrate")
    assert busy.value.key == "spaces.busy" and "stop it first" in str(busy.value)
    assert "멈춰" in busy.value.render("ko")
    with pytest.raises(LimitReached):
        story_tab.start("anon:a", "story")  # the same job twice is a second job too
    pages_tab.start("anon:b", "illustrate")  # another visitor is not held up
    story_tab.finish("anon:a", "story", story)
    pictures = pages_tab.start("anon:a", "illustrate")
    assert pages_tab.cancel("anon:a", "illustrate") and pictures.cancelled
    story_tab.start("anon:a", "story")  # a stopped job that is still winding down does not block


def test_local_family_keeps_restarting_a_job():
    jobs = Jobs()
    first = jobs.start("local", "illustrate")
    second = jobs.start("local", "illustrate")
    assert first.cancelled and not second.cancelled
    jobs.start("local", "story")


def test_pages_per_hour_in_a_sliding_hour_and_failures_given_back():
    clock = Clock()
    limits = VisitorLimits(pages_per_hour=3, clock=clock)
    for _ in range(2):
        with limits.page("anon:a"):
            clock.now += 60
    with pytest.raises(RuntimeError), limits.page("anon:a"):
        raise RuntimeError("the GPU turn failed")  # not counted
    with limits.page("anon:a"):
        pass
    with pytest.raises(LimitReached) as full:
        with limits.page("anon:a"):
            pytest.fail("a fourth picture within the hour")
    assert full.value.values == {"used": 3, "limit": 3, "minutes": 58}
    assert "3" in str(full.value) and "58" in str(full.value) and "58분" in full.value.render("ko")
    with limits.page("anon:b"):  # per visitor
        pass
    clock.now += 58 * 60 + 1  # the first picture left the window
    with limits.page("anon:a"):
        pass


def test_pages_per_hour_through_the_illustration_flow(tmp_path):
    services = build_services(Settings(data_dir=tmp_path / "data", mode="public", pages_per_hour=2,
                                       illustrator="sketch"))
    try:
        owner = "anon:" + "0" * 32
        book = services.store.create(owner, "Limits", "", "en", 4)
        services.store.update(owner, book.id, lambda b: setattr(b, "pages", [new_page(text="Grandma's tree")]))
        page_id = services.store.get(owner, book.id).pages[0].id
        spec = ImageSpec(width=256, height=256, steps=2)
        assert len(generate_variants(services, owner, book.id, page_id, spec, count=2)) == 2
        with pytest.raises(LimitReached):
            generate_variants(services, owner, book.id, page_id, spec, count=1)
        assert len(services.store.get(owner, book.id).pages[0].variants) == 2  # nothing lost, nothing extra
    finally:
        services.close()
