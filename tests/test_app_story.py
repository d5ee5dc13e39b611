"""The Story tab through the running app: memories -> story -> edits -> restart, all kept."""
from __future__ import annotations

import pytest
from gradio_client import handle_file
from ui_helpers import refused, server_copies, toasts
from PIL import Image

from studio.store import BookStore

ANECDOTES = "가을마다 감을 따서 곶감을 만들어 주셨다\n눈 오는 밤에 함께 숲길을 걸었다\n된장찌개가 제일 맛있었다"
FORM = ("순자", "할머니", "잘 웃으심, 손이 따뜻함", "감나무, 눈 내리는 숲의 밤, 된장찌개", ANECDOTES,
        "gentle fairy tale", "5-8", 6, "ko")


def test_memories_to_story_to_edits_survive_a_restart(launch_app, client_for, tmp_path):
    url, services = launch_app()
    c = client_for(url)
    drop, *_ = c.predict("할머니의 감나무", "순자 할머니께", "ko", 6, api_name="/create_book")
    book_id = drop["value"]
    Image.new("RGB", (64, 48), "orange").save(tmp_path / "grandma.png")
    (tmp_path / "fake.png").write_text("not an image")
    gallery, _, status = c.predict([handle_file(str(tmp_path / "grandma.png"))], api_name="/add_photos")
    assert len(gallery) == 1 and status == "Photos of the memories: 1."
    assert server_copies("grandma.png") == []  # in her store now, not left in the web server's folder
    assert "not an image" in refused(c, [handle_file(str(tmp_path / "fake.png"))], api_name="/add_photos")
    loaded = c.predict(api_name="/story_load")
    writer_dd, why = loaded[10], loaded[11]
    assert writer_dd["value"] == "storyteller"
    assert why.startswith("Story: the offline storyteller writes it") and "GEMINI" not in why

    # (The confirmation row is a layout, so it is not among the API's outputs.)
    status, seed, chooser, text, prompt, info, overview, sheet = c.predict(
        "storyteller", 0, *FORM, api_name="/write_story")
    sheet = sheet["value"]
    assert status.startswith("6 pages written") and seed == 0
    page_ids = [value for _, value in chooser["choices"]]
    assert len(page_ids) == 6 and chooser["value"] == page_ids[0] and text and prompt.isascii()
    assert sheet["data"][0][0] == "순자 할머니"
    assert services.store.get("local", book_id).characters[0].photos == services.store.get("local", book_id).memories.photos
    book = services.store.get("local", book_id)
    assert book.memories.anecdotes == ANECDOTES.split("\n") and book.memories.keywords[0] == "감나무"

    # Edit page 2 (text and illustration prompt).
    out = c.predict(page_ids[1], "고친 둘째 쪽: 할머니가 뜨개질을 했어요.", "grandmother knitting by the window",
                    api_name="/save_page")
    assert out[0] == "Page saved." and out[2] == "고친 둘째 쪽: 할머니가 뜨개질을 했어요."
    # Regenerate page 3: new words, same place in the book, other pages untouched.
    before = services.store.get("local", book_id)
    status, chooser, text, *_ = c.predict(page_ids[2], "storyteller", 0, api_name="/regenerate_page")
    assert status == "Page 3 was written again." and chooser["value"] == page_ids[2]
    after = services.store.get("local", book_id)
    assert after.pages[2].text == text != before.pages[2].text
    assert [p.text for i, p in enumerate(after.pages) if i != 2] == [p.text for i, p in enumerate(before.pages) if i != 2]
    # Reorder: page 3 moves up, then the last page moves down (stays last).
    out = c.predict(page_ids[2], api_name="/move_page_up")
    assert [v for _, v in out[1]["choices"]][:3] == [page_ids[0], page_ids[2], page_ids[1]]
    c.predict(page_ids[5], api_name="/move_page_down")
    # The character sheet is editable.
    out = c.predict({"headers": ["Name", "Look"],
                     "data": [["순자 할머니", "elderly woman, gray bun, red scarf"], ["아이", "a small child"]]},
                    api_name="/save_characters")
    assert out[1]["value"]["data"][0][1] == "elderly woman, gray bun, red scarf"
    # Pressing "write" again does not silently throw the pages away: it asks.
    status, *_ = c.predict("storyteller", 0, *FORM, api_name="/write_story")
    assert "already has 6 pages" in status
    expected = services.store.get("local", book_id)
    assert [p.id for p in expected.pages] == [page_ids[0], page_ids[2], page_ids[1], *page_ids[3:]]

    # Restart: a new store on the same data dir sees everything.
    services.store.close()
    reopened = BookStore(services.settings.data_dir)
    try:
        book = reopened.get("local", book_id)
        assert [p.id for p in book.pages] == [p.id for p in expected.pages]
        assert book.pages[2].text == "고친 둘째 쪽: 할머니가 뜨개질을 했어요."
        assert book.pages[2].illustration_prompt == "grandmother knitting by the window"
        assert book.pages[1].text == after.pages[2].text
        assert book.characters[0].description == "elderly woman, gray bun, red scarf"
        assert book.memories.subject_name == "순자" and book.page_count == 6 and book.language == "ko"
    finally:
        reopened.close()


def test_new_version_after_confirmation_and_clear_errors(launch_app, client_for):
    url, services = launch_app()
    c = client_for(url)
    assert refused(c, "storyteller", 0, *FORM, api_name="/write_story") == "Open a book in the Library first."
    drop, *_ = c.predict("Grandma's tree", "", "en", 4, api_name="/create_book")
    assert "write at least one memory" in refused(c, "storyteller", 0, "Sunja", "grandma", "", "", "",
                                                  "gentle fairy tale", "5-8", 4, "en", api_name="/write_story")
    form = ("Sunja", "grandma", "kind", "persimmon tree", "She sang to me.", "lullaby", "3-5", 4, "en")
    first = c.predict("storyteller", 0, *form, api_name="/write_story")
    assert first[0].startswith("4 pages written")
    assert "Gemini is not available" in refused(c, "gemini", 0, *form, api_name="/write_new_version")
    status, seed, chooser, text, *_ = c.predict("storyteller", 0, *form, api_name="/write_new_version")
    assert status.startswith("4 pages written") and seed == 1
    assert text != first[3]
    assert c.predict(api_name="/cancel_story") == ""  # nothing running: nothing to stop


@pytest.mark.parametrize("writer, label", [("openai", "A connected writing model"), ("gemini", "Gemini (Google")])
def test_model_writer_writes_regenerates_and_can_be_stopped(launch_app, client_for, monkeypatch, writer, label):
    import json
    import time

    from test_writers_http import FakeLLM, story_json

    fake = FakeLLM()
    try:
        if writer == "gemini":
            monkeypatch.setenv("GEMINI_API_KEY", "test-key")
        url, services = launch_app(openai_base_url=fake.url + "/v1", gemini_base_url=fake.url,
                                   llm_backoff_s=0.01, llm_timeout_s=10.0)
        c = client_for(url)
        c.predict("Grandma's tree", "", "ko", 4, api_name="/create_book")
        loaded = c.predict(api_name="/story_load")
        assert loaded[10]["value"] == writer and label in loaded[11]
        fake.replies = [("http", 503), ("ok", story_json(pages=4, text="<script>alert(1)</script> 할머니"))]
        status, seed, chooser, text, *_, overview, sheet = c.predict(writer, 0, *FORM[:7], 4, "ko",
                                                                     api_name="/write_story")
        assert status.startswith("4 pages written") and text.startswith("<script>")  # a text box shows it as text
        assert "<script>" not in overview and "&lt;script&gt;" in overview
        page_ids = [v for _, v in chooser["choices"]]
        fake.replies = [("ok", json.dumps({"text": "새로 쓴 셋째 쪽", "illustration_prompt": "a hug", "characters": [],
                                           "setting": "home", "mood": "warm", "pose_hint": "hugging"},
                                          ensure_ascii=False))]
        status, chooser, text, *_ = c.predict(page_ids[2], writer, 0, api_name="/regenerate_page")
        assert text == "새로 쓴 셋째 쪽" and services.store.list("local")[0].pages[2].pose_hint == "hugging"

        # A slow model: progress, then the family presses Stop; the book is not changed.
        fake.replies = [("slow", 4.0, story_json(pages=4))]
        job = c.submit(writer, 0, *FORM[:7], 4, "ko", api_name="/write_new_version")
        time.sleep(1.5)
        assert c.predict(api_name="/cancel_story").startswith("Stopping")
        started = time.monotonic()
        job.result(timeout=10)
        assert any("Stopped" in said for said in toasts(job))
        assert time.monotonic() - started < 2.5
        assert any("is writing… 1 s" in str(out[0]) for out in job.outputs())  # progress was shown
        book = services.store.list("local")[0]
        assert [p.id for p in book.pages] == page_ids and book.pages[2].text == "새로 쓴 셋째 쪽"
    finally:
        fake.server.shutdown()
        fake.server.server_close()
