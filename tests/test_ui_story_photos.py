"""A grandchild adds a photo of her grandmother in the browser (Korean)."""
from __future__ import annotations

import pytest
from PIL import Image

from browser import browser_page, chromium_missing_reason, open_studio
from ui_helpers import server_copies

pytestmark = pytest.mark.skipif(chromium_missing_reason() is not None, reason=str(chromium_missing_reason()))


def test_a_photo_of_her_is_kept_in_the_book_and_not_left_on_the_server(launch_app, tmp_path):
    url, services = launch_app()
    book = services.store.create("local", "할머니의 감나무", page_count=4)
    photo = tmp_path / "할머니.png"
    Image.new("RGB", (320, 240), (200, 120, 60)).save(photo)
    with browser_page(locale="ko-KR", height=1400) as page:
        open_studio(page, url, lambda: page.get_by_text("할머니의 감나무").first)
        page.get_by_role("button", name="열기").click()
        page.get_by_label("누구에 대한 책인가요? (이름)").wait_for(timeout=60000)
        page.get_by_text("오프라인 이야기꾼").first.wait_for(timeout=60000)  # the tab has loaded the book
        page.get_by_text("그분의 사진 (선택)").click()
        page.locator("input[type=file]").first.set_input_files(str(photo))
        page.get_by_text("기억 속 사진: 1장").wait_for(timeout=60000)
        page.screenshot(path=str(tmp_path / "story-photo.png"), full_page=True)
    assert len(services.store.get("local", book.id).memories.photos) == 1
    assert server_copies("할머니.png") == []
