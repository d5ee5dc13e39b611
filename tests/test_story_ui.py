"""A person in a Korean browser writes a story about their grandmother and edits a page."""
from __future__ import annotations

import pytest

from browser import browser_page, chromium_missing_reason, open_studio

pytestmark = pytest.mark.skipif(chromium_missing_reason() is not None, reason=str(chromium_missing_reason()))


def test_write_and_edit_a_story_in_the_browser(launch_app, tmp_path):
    url, services = launch_app()
    with browser_page(locale="ko-KR", height=1400) as page:
        open_studio(page, url, lambda: page.locator(".block.gieok-welcome"))  # the page has started
        page.get_by_label("제목").first.fill("할머니의 감나무")
        page.get_by_role("button", name="책 만들기").click()
        page.get_by_text("“할머니의 감나무” 책이 만들어져 열렸어요").wait_for(timeout=60000)
        page.get_by_role("button", name="열기").click()
        name = page.get_by_label("누구에 대한 책인가요? (이름)")
        name.wait_for(timeout=60000)
        page.get_by_text("오프라인 이야기꾼").first.wait_for(timeout=60000)  # honest about the writer
        name.fill("순자")
        page.get_by_label("나와의 관계 (예: 할머니)").fill("할머니")
        page.get_by_label("기억의 낱말 (쉼표로 구분)").fill("감나무, 눈 내리는 숲의 밤")
        page.get_by_label("짧은 추억 — 한 줄에 하나씩").fill("가을마다 곶감을 만들어 주셨다\n눈 오는 밤에 숲길을 걸었다")
        page.get_by_role("button", name="이야기 쓰기").click()
        page.get_by_text("6쪽을 썼어요").wait_for(timeout=60000)  # the writer loads its Korean analyser first
        book = services.store.list("local")[0]
        assert len(book.pages) == 6 and "순자 할머니" in book.pages[-1].text

        text_box = page.get_by_label("글", exact=True)
        text_box.fill("할머니와 함께 곶감을 말렸어요.")
        page.get_by_role("button", name="쪽 저장").click()
        page.get_by_text("쪽을 저장했어요.", exact=True).wait_for(timeout=60000)
        assert services.store.list("local")[0].pages[0].text == "할머니와 함께 곶감을 말렸어요."
        page.get_by_role("button", name="이 쪽 다시 쓰기").click()
        page.get_by_text("1쪽을 다시 썼어요.").wait_for(timeout=60000)
        assert services.store.list("local")[0].pages[0].text != "할머니와 함께 곶감을 말렸어요."
        page.screenshot(path=str(tmp_path / "story.png"), full_page=True)
