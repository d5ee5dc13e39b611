"""A family walks through a whole book in a real browser, once in Korean and once in English:
create the book, write the story, illustrate it, make a voice with consent, narrate, preview,
export. On every step the page must speak only the visitor's language (outside the family's own
words), show no error badge (also after a refused action) and no broken picture. Screenshots at
1440×900 and at a 390×844 phone go to tests/artifacts/ for people to look at."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import soundfile as sf

from browser import (CONFIG_NAME, broken_images, browser_page, chromium_missing_reason, clipped_choices,
                     error_badges, foreign_words, in_view, open_studio, phone_tabs, visible_text)
from studio import messages
from tiny_voice import speech_like

pytestmark = pytest.mark.skipif(chromium_missing_reason() is not None, reason=str(chromium_missing_reason()))
ARTIFACTS = Path(__file__).parent / "artifacts"
WAIT = 60000  # generous: the suite runs on two busy cores

FAMILY = {
    "ko": dict(locale="ko-KR", title="할머니의 감나무", dedication="사랑하는 순자 할머니께", subject="순자",
               relation="할머니", memory="가을마다 감을 따서 곶감을 만들어 주셨다", voice="순자 할머니",
               given_by="민수", given_rel="손자", file="할머니"),
    "en": dict(locale="en-US", title="Grandpa's fishing boat", dedication="For Grandpa Tom", subject="Tom",
               relation="grandpa", memory="Every summer he took us fishing at dawn", voice="Grandpa Tom",
               given_by="Mina", given_rel="granddaughter", file="grandpa"),
}


def say(lang, key, **values):
    return messages.text(key, lang, **values)


class Visit:
    """One visitor's browser, with the checks every step ends with."""

    def __init__(self, page, lang, family):
        self.page, self.lang, self.family = page, lang, family
        self.own = [v for k, v in family.items() if k not in ("locale", "file")]
        ARTIFACTS.mkdir(exist_ok=True)

    def button(self, key, **values):
        return self.page.get_by_role("button", name=say(self.lang, key, **values), exact=True)

    def tab(self, key):
        self.page.get_by_role("tab", name=say(self.lang, key), exact=True).click()

    def text(self, key, **values):
        return self.page.get_by_text(say(self.lang, key, **values)).first

    def label(self, key):
        return self.page.get_by_label(say(self.lang, key), exact=True).first

    def toast(self, key, **values):
        toast = self.page.locator(".toast-body").filter(has_text=say(self.lang, key, **values)).first
        toast.wait_for(timeout=WAIT)
        return toast

    def next_step_in_view(self, key, name):
        """The step just done points to the next one, and that button is on screen, not below the fold."""
        assert in_view(self.button(key), self.page), f"{name}: “{say(self.lang, key)}” is off screen"

    def check(self, name):
        """The page speaks one language, has no error badge and no broken picture; screenshots."""
        page = self.page
        page.wait_for_timeout(400)  # let the last update paint
        shown = visible_text(page)
        foreign = foreign_words(shown, self.lang, self.own)
        assert foreign == [], f"{name}: {foreign}"
        assert re.findall(CONFIG_NAME, shown) == [], name
        assert error_badges(page) == [], name
        assert broken_images(page) == [], name
        page.screenshot(path=str(ARTIFACTS / f"{self.lang}-{name}-1440.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        assert broken_images(page) == [], name
        assert clipped_choices(page) == [], name
        tabs = phone_tabs(page)  # every tab named and reachable, under a compact header
        assert tabs["count"] >= 7 and tabs["hidden"] == [] and tabs["bottom"] < 200, (name, tabs)
        page.screenshot(path=str(ARTIFACTS / f"{self.lang}-{name}-390.png"), full_page=True)
        page.set_viewport_size({"width": 1440, "height": 900})


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_a_whole_book_in_one_language(launch_app, tmp_path, lang):
    family = FAMILY[lang]
    url, services = launch_app(max_file_size_mb=20)
    recording = tmp_path / f"{family['file']}.wav"
    sf.write(recording, speech_like(12.0, 22050, 210.0), 22050)
    with browser_page(width=1440, height=900, locale=family["locale"]) as page:
        visit = Visit(page, lang, family)
        try:
            walk(page, visit, lang, family, url, recording)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"{lang}-failed.png"), full_page=True)
            raise


def walk(page, visit, lang, family, url, recording):
    open_studio(page, url, lambda: page.locator(".block.gieok-welcome"))
    visit.check("library-empty")

    # A refused action before any book is open: one message in the visitor's language.
    visit.tab("tab.story")
    visit.button("st.write").click()
    visit.toast("common.no_book")
    visit.check("refused-no-book")

    # 1. The book.
    visit.tab("tab.library")
    visit.label("lib.title").fill(family["title"])
    visit.label("lib.dedicated").fill(family["dedication"])
    page.get_by_role("radio", name=say(lang, f"lang.{lang}"), exact=True).first.check()
    page.get_by_label(say(lang, "lib.pages")).first.fill("4")
    visit.button("lib.create").click()
    visit.text("lib.created", title=family["title"]).wait_for(timeout=WAIT)
    visit.next_step_in_view("lib.to_story", "library-created")
    visit.check("library-created")

    # 2. The story, reached by the "next step" button.
    visit.button("lib.to_story").click()
    visit.text("line.writer.storyteller").wait_for(timeout=WAIT)  # the tab has loaded the book
    page.wait_for_timeout(500)
    page.evaluate("window.scrollTo(0, 0)")
    visit.next_step_in_view("st.write", "story-open")  # the tab's main button is above the fold
    visit.label("st.subject").fill(family["subject"])
    visit.label("st.relation").fill(family["relation"])
    visit.label("st.anecdotes").fill(family["memory"])
    visit.button("st.write").click()
    visit.button("st.to_pages").wait_for(timeout=WAIT)
    visit.next_step_in_view("st.to_pages", "story-written")
    visit.check("story-written")
    # Editing a page: "saved" is said beside the button, not off screen in the other column.
    visit.label("st.text").fill(family["memory"])
    visit.button("st.save_page").click()
    saved = page.get_by_text(say(lang, "st.page_saved"), exact=True)
    saved.wait_for(timeout=WAIT)
    assert in_view(saved, page), "story: the page's “saved” is off screen"

    # 3. Pictures for the whole book; thumbnails and this page's variants load.
    visit.button("st.to_pages").click()
    visit.button("pg.all").click()
    visit.button("pg.to_voice").wait_for(timeout=WAIT * 2)
    page.wait_for_timeout(1500)  # pictures load
    visit.next_step_in_view("pg.to_voice", "pages-illustrated")
    assert page.locator("#gieok-variants img").count() >= 1, "this page's variants stayed empty"
    visit.check("pages-illustrated")

    # 4. A voice: a refused action first (no voice yet), then recordings and consent.
    visit.button("pg.to_voice").click()
    page.locator("#gieok-voice-files input[type=file]").set_input_files(str(recording))
    page.locator("#gieok-voice-files").get_by_text(recording.stem).first.wait_for(timeout=WAIT)
    visit.button("v.add").click()
    visit.toast("v.choose_first")
    visit.check("refused-no-voice")
    visit.label("v.new_name").fill(family["voice"])
    visit.button("v.create").click()
    visit.text("v.no_recordings").wait_for(timeout=WAIT)
    # Nothing was lost by the refusal: the chosen file is still there, "add" now works.
    page.locator("#gieok-voice-files").get_by_text(recording.stem).first.wait_for(timeout=WAIT)
    visit.button("v.add").click()
    page.get_by_text(say(lang, "v.summary", count=1, minutes="@").split("@")[0]).first.wait_for(timeout=WAIT)
    sample = page.get_by_label(say(lang, "v.ab_text"), exact=True)
    assert sample.input_value() == say(lang, "v.sample", who=family["relation"])  # the book's language
    pronoun = "his" if lang == "en" else "her"
    assert page.get_by_text(say(lang, f"v.step1_{pronoun}"), exact=True).count() == 1
    # Narrating before the family's consent is refused, in the visitor's words, and breaks nothing.
    visit.button("v.narrate_book").click()
    visit.toast("voice.consent_needed", name=family["voice"])
    visit.check("refused-no-consent")
    visit.label("v.given_by").fill(family["given_by"])
    page.get_by_label(say(lang, f"v.relation_{pronoun}"), exact=True).fill(family["given_rel"])
    visit.button("v.save_consent").click()
    page.get_by_text(family["given_by"], exact=False).last.wait_for(timeout=WAIT)
    # Step 5 (training) reads the new recording and the consent without choosing the voice again.
    for stale in [say(lang, "voice_train_ui.consent_missing", voice=family["voice"]),
                  say(lang, "train_voice.no_recordings")]:
        page.get_by_text(stale).first.wait_for(state="hidden", timeout=WAIT)
    visit.button("v.narrate_book").click()
    visit.button("v.to_preview").wait_for(timeout=WAIT * 3)
    visit.next_step_in_view("v.to_preview", "voice-narrated")
    take = say(lang, "v.take_label", number=1, seconds="@").split("@")[0]  # the takes list is filled
    assert page.get_by_label(say(lang, "v.takes"), exact=True).input_value().startswith(take)
    visit.check("voice-narrated")

    # 5. Preview, then 6. the PDF.
    visit.button("v.to_preview").click()
    page.locator("iframe.gieok-reader").wait_for(timeout=WAIT)
    visit.check("preview")
    visit.button("pv.to_export").click()
    visit.text("ex.ready").wait_for(timeout=WAIT)
    visit.button("ex.make").first.click()
    page.locator("a[data-testid='download-link'][download$='.pdf']").wait_for(timeout=WAIT)
    visit.check("exported")

    # The other tabs a family may open on the way speak the same language and show no error either.
    for key, name in (("likeness.tab", "likeness"), ("tab.settings", "settings"), ("kiosk.dash_title", "dashboard")):
        visit.tab(key)
        page.wait_for_timeout(3000)  # the tab fills itself in on select
        visit.check(name)
