"""Refused actions on every tab, through the running app: one message in the visitor's language
(Korean and English browsers), and nothing in any output changed or put into an error state."""
from __future__ import annotations

import pytest

from studio import messages
from studio.book import Page
from ui_helpers import client_in, run, toasts

# (api name, inputs, message key) with no book open.
NO_BOOK = [
    ("/save_memories", ("순자", "할머니", "", "", "", "gentle fairy tale", "5-8", 4, "ko"), "common.no_book"),
    ("/write_story", ("storyteller", 0, "순자", "할머니", "", "", "", "gentle fairy tale", "5-8", 4, "ko"),
     "common.no_book"),
    ("/illustrate_book", (), "common.no_book"),
    ("/voice_create", ("할머니",), "common.no_book"),
    ("/narrate_book", (False,), "common.no_book"),
    ("/export_pdf", ("a4", False, "myeongjo"), "common.no_book"),
    ("/duplicate_book", (None,), "lib.no_choice"),
]
# The other tabs' actions with no book open, called with the form's own defaults (Pages, Likeness,
# the voice's training, the other exports).
NO_BOOK_DEFAULTS = ["/generate_variants", "/lock_page", "/add_page", "/likeness_prepare", "/likeness_train",
                    "/likeness_reference", "/voice_preview", "/voice_train_start", "/voice_train_export",
                    "/export_epub", "/export_webbook", "/export_mp4", "/export_audiobook"]


def _defaults(client, api):
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api]["parameters"]
    return [p.get("parameter_default") if p.get("parameter_has_default") else None for p in params]


def _unchanged(result) -> bool:
    """A skipped event hands back no new value for any output."""
    values = result if isinstance(result, (list, tuple)) else [result]
    return all(v is None or v == {"__type__": "update"} or v == {} for v in values)


@pytest.mark.parametrize("language, lang", [("ko-KR", "ko"), ("en-US,en;q=0.9", "en")])
def test_refused_actions_speak_the_visitors_language_and_change_nothing(launch_app, language, lang):
    url, services = launch_app()
    visitor = client_in(url, language)
    for api, args, key in NO_BOOK:
        result, said = run(visitor, *args, api_name=api)
        assert said == [messages.text(key, lang)], api
        assert _unchanged(result), (api, result)
    for api in NO_BOOK_DEFAULTS:
        result, said = run(visitor, *_defaults(visitor, api), api_name=api)
        assert said == [messages.text("common.no_book", lang)], api
        assert _unchanged(result), (api, result)

    book_id = visitor.predict("할머니의 감나무", "", "ko", 4, api_name="/create_book")[0]["value"]
    result, said = run(visitor, api_name="/illustrate_book")  # a book with no pages yet
    assert said == [messages.text("pictures.missing.no_pages", lang)] and _unchanged(result)
    services.store.update("local", book_id, lambda b: b.pages.extend(Page(text=f"{i}쪽") for i in range(4)))
    page_id = services.store.get("local", book_id).pages[0].id
    cases = [
        ("/voice_add_recordings", (None, [], None), "v.choose_first"),  # no voice yet
        ("/voice_consent", (None, "민수", "손자", "2026-11-30", "동의합니다"), "v.choose_first"),
        ("/narrate_page", (None, None), "v.choose_page"),  # no page chosen
        ("/preview_map", (None, "canny"), "common.no_page"),
        ("/choose_variant", (None, None), "pg.pick_first"),
    ]
    visitor.predict(api_name="/voice_refresh")
    for api, args, key in cases:
        result, said = run(visitor, *args, api_name=api)
        assert said == [messages.text(key, lang)], api
        assert _unchanged(result), (api, result)

    voice_id = visitor.predict("할머니", api_name="/voice_create")[0]["value"]
    result, said = run(visitor, voice_id, None, api_name="/voice_remove_recording")  # no recording chosen
    assert said == [messages.text("v.choose_recording", lang)] and _unchanged(result)
    result, said = run(visitor, voice_id, [], None, api_name="/voice_add_recordings")  # "add" with no file
    assert said == [messages.text("voice.no_recordings_chosen", lang)] and _unchanged(result)
    # Consent missing: the studio's own refusal (its words come from the voice catalogue).
    job = visitor.submit(False, api_name="/narrate_book")
    job.result(timeout=120)
    assert toasts(job) == [messages.text("voice.consent_needed", lang, name="할머니")]
    assert all(_unchanged(step) for step in job.outputs())  # no "reading the pages aloud…" left behind
    result, said = run(visitor, voice_id, page_id, api_name="/narrate_page")
    assert said == [messages.text("voice.consent_needed", lang, name="할머니")] and _unchanged(result)


def test_a_toast_escapes_the_visitors_words_and_shows_code_names_as_code():
    from tabs.common import toast_html

    said = toast_html("`GEMINI_API_KEY`가 없어요: <img src=x onerror=alert(1)>.wav")
    assert said == "<code>GEMINI_API_KEY</code>가 없어요: &lt;img src=x onerror=alert(1)&gt;.wav"
