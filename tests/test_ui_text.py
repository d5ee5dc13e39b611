"""Words written by the family or a model are shown as written: no HTML entities, no markup."""
from __future__ import annotations

import pytest

from studio.book import Page
from studio.story import escape_md
from ui_helpers import client_in

OVERVIEW = 16  # /story_load: 9 memory fields, photos, writer, writer line, then page, text, prompt, info, overview


def test_markdown_escape_keeps_apostrophes_and_quotes_readable():
    shown = escape_md('Grandpa\'s "fishing" boat <b>&</b>')
    assert "&#" not in shown and "Grandpa's" in shown and '"fishing"' in shown
    assert "<b>" not in shown and "&lt;b&gt;" in shown


def test_the_story_so_far_shows_an_apostrophe_as_an_apostrophe(launch_app):
    url, services = launch_app()
    c = client_in(url, "en-US")
    book_id = c.predict("Grandpa's fishing boat", "", "en", 4, api_name="/create_book")[0]["value"]
    services.store.update("local", book_id, lambda b: b.pages.append(Page(text="Grandpa's fishing boat rocked.")))
    loaded = c.predict(api_name="/story_load")
    assert "Grandpa's fishing boat rocked." in loaded[OVERVIEW] and "&#x27;" not in loaded[OVERVIEW]
    open_title = c.predict(api_name="/list_books")[0]["choices"][0][0]
    assert open_title.startswith("Grandpa's fishing boat")


PIPELINE = 10  # /voice_create: voice, summary, 4 consent fields, consent line, speaker, converter, availability, pipeline


def test_the_voice_line_names_the_engine_that_reads_the_books_language(launch_app):
    """"Automatic (natural English voice)" on a Korean book was wrong: eSpeak reads Korean there."""
    from studio import messages, narrate
    from studio.book import Voice

    url, services = launch_app()
    readers = {lang: narrate.speaker_for(services, Voice(name="x"), lang).name for lang in ("ko", "en")}
    if readers["ko"] == readers["en"]:
        pytest.skip("one engine reads both languages here (no English-only engine installed)")
    c = client_in(url, "ko-KR")
    for lang, title in (("ko", "할머니의 감나무"), ("en", "Grandpa's boat")):
        c.predict(title, "", lang, 4, api_name="/create_book")
        line = c.predict("목소리", api_name="/voice_create")[PIPELINE]
        other = "en" if lang == "ko" else "ko"
        assert messages.text(f"engine.speaker.{readers[lang]}", "ko") in line, (lang, line)
        assert messages.text(f"engine.speaker.{readers[other]}", "ko") not in line, (lang, line)


def test_the_new_voice_placeholder_is_the_person_as_the_family_calls_them(launch_app):
    """Not "Grandma" on a grandfather's book: the placeholder follows the book's person."""
    url, services = launch_app()
    c = client_in(url, "en-US")
    for lang, (name, relation), expected in (("en", ("Tom", "grandpa"), "Grandpa Tom"),
                                             ("ko", ("순자", "할머니"), "순자 할머니")):
        c.predict("Book", "", lang, 4, api_name="/create_book")
        c.predict(name, relation, "", "", "", "gentle fairy tale", "5-8", 4, lang, api_name="/save_memories")
        assert c.predict(api_name="/voice_refresh")[-1]["placeholder"] == expected
