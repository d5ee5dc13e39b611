"""The book is made: plain words for each stage, a gentle animation, then the book opens."""
from __future__ import annotations

import gradio as gr

from studio.kiosk_book import VisitorMemories, make_book
from tabs.common import queue_line
from tabs.kiosk import memories, playback
from tabs.kiosk.ui import KioskUI, kind_words, t, visitor

ANIMATION = """<div class="kiosk-making" aria-hidden="true">
<div class="kiosk-page kiosk-page-1"></div><div class="kiosk-page kiosk-page-2"></div>
<div class="kiosk-page kiosk-page-3"></div><div class="kiosk-pen"></div></div>"""


def build(k: KioskUI) -> None:
    with gr.Column(visible=False, elem_classes=["kiosk-screen", "kiosk-making-screen"]) as k.steps["making"]:
        gr.HTML(ANIMATION)
        k.parts["making_words"] = gr.Markdown(elem_classes=["kiosk-lead", "kiosk-center"], elem_id="kiosk-making-words")


def wire(k: KioskUI) -> None:
    @kind_words()
    def make(lang, owner, name, relation, m1, m2, m3, photo, voice, voice_ok):
        owner = visitor(owner, lang)
        for path in (photo, voice):
            k.kiosk.remember_upload(owner, path)
        visit = VisitorMemories(name, relation, [m1, m2, m3], photo or None, voice or None, bool(voice_ok), lang)
        visit.checked()  # refused here: the visitor stays on their words, nothing is lost
        book_id = None
        yield [*k.show("making"), t("kiosk.making_start", lang), None]
        try:
            for event in make_book(k.kiosk, owner, visit):
                if event.payload.get("book_id"):
                    book_id = event.payload["book_id"]
                yield [*k.show("making"), event.text(lang), book_id]
        except Exception:
            yield [*k.show("memories"), "", None]  # back to their words, which are all still there
            raise

    def waiting(owner):
        if owner:
            k.kiosk.expect_job(owner)  # queued behind another visitor's book: not "idle"

    k.parts["make"].click(waiting, [k.owner], None, queue=False, api_visibility="private", show_progress="hidden")
    step = k.parts["make"].click(make, [k.lang, k.owner, *memories.inputs(k)],
                                 [*k.screens, k.parts["making_words"], k.book_id],
                                 api_name="kiosk_make", **queue_line(k.services, "pictures", {
                                     "writer": "active", "illustrator": "active", "speaker": "any"}))
    step.success(playback.first_page_for(k), [k.lang, k.owner, k.book_id], playback.outputs(k), api_visibility="private")
