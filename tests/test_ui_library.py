"""A person in a Korean browser creates, opens and deletes a book (headless Chromium)."""
from __future__ import annotations

import pytest

from browser import browser_page, chromium_missing_reason, error_badges, open_studio

pytestmark = pytest.mark.skipif(chromium_missing_reason() is not None, reason=str(chromium_missing_reason()))


def test_create_open_delete_in_the_browser(launch_app, tmp_path):
    url, services = launch_app()
    with browser_page(locale="ko-KR") as page:
        open_studio(page, url, lambda: page.locator(".block.gieok-welcome"))  # the empty library greets
        page.get_by_label("제목").first.fill("할머니의 감나무")
        page.get_by_label("이 책을 바치는 분").first.fill("사랑하는 순자 할머니께")
        page.get_by_role("button", name="책 만들기").click()
        page.get_by_text("“할머니의 감나무” 책이 만들어져 열렸어요").wait_for(timeout=45000)  # generous: CI runs 2 workers
        assert [b.title for b in services.store.list("local")] == ["할머니의 감나무"]

        page.get_by_role("button", name="열기").click()
        page.locator("#gieok-open-book").get_by_text("할머니의 감나무").wait_for(timeout=45000)
        page.screenshot(path=str(tmp_path / "opened.png"))

        page.get_by_role("tab", name="서재").click()
        page.get_by_role("button", name="삭제…").click()
        page.get_by_role("button", name="네, 이 책을 영구히 삭제합니다").click()
        page.get_by_text("“할머니의 감나무” 책을 삭제했어요.").wait_for(timeout=45000)
        page.locator(".block.gieok-welcome").wait_for(timeout=45000)  # an empty shelf greets again
        assert services.store.list("local") == []
        assert error_badges(page) == []
