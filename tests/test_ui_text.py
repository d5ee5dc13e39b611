"""Words written by the family or a model are shown as written: no HTML entities, no markup."""
from __future__ import annotations

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
