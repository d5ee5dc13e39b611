"""Full-screen read-aloud: the page's picture and words, its narration playing, next/previous."""
from __future__ import annotations

import base64

import gradio as gr

from studio.kiosk_book import page_for_playback
from tabs.kiosk.ui import KioskUI, kind_words, t, visitor


def build(k: KioskUI) -> None:
    with gr.Column(visible=False, elem_classes=["kiosk-screen", "kiosk-playback"]) as k.steps["playback"]:
        with gr.Row(equal_height=True, elem_classes=["kiosk-book"]):
            k.parts["page_image"] = gr.HTML(elem_id="kiosk-page-image")
            with gr.Column():
                k.parts["page_text"] = gr.Markdown(elem_classes=["kiosk-page-text"], elem_id="kiosk-page-text")
                k.parts["page_audio"] = gr.HTML(elem_id="kiosk-page-audio")
                k.parts["page_count"] = gr.Markdown(elem_classes=["kiosk-center"])
        with gr.Row(elem_classes=["kiosk-actions"]):
            k.parts["prev"] = k.say(gr.Button(**k.words(value="kiosk.previous"), elem_classes=["kiosk-big"]),
                                    value="kiosk.previous")
            k.parts["next"] = k.say(gr.Button(**k.words(value="kiosk.next"), variant="primary",
                                              elem_classes=["kiosk-big"], elem_id="kiosk-next"), value="kiosk.next")
            k.parts["to_take_home"] = k.say(gr.Button(**k.words(value="kiosk.take_home"), variant="secondary",
                                                      elem_classes=["kiosk-big"], elem_id="kiosk-take-home"),
                                            value="kiosk.take_home")


def outputs(k: KioskUI) -> list:
    return [*k.screens, k.page, k.parts["page_image"], k.parts["page_text"], k.parts["page_audio"],
            k.parts["page_count"]]


def shown(k: KioskUI, lang: str, owner: str, book_id: str, index: int) -> list:
    owner = visitor(owner, lang)
    if not book_id:
        return [*k.show("memories"), 0, None, "", None, ""]
    k.kiosk.touch(owner)
    page = page_for_playback(k.services, owner, book_id, index)
    image = (f"<img class='kiosk-picture' alt='' src='data:image/jpeg;base64,{_b64(page.image_jpeg)}'>"
             if page.image_jpeg else "")
    # the page reads itself aloud when it opens (the visitor's tap allows the browser to play)
    audio = (f"<audio controls autoplay src='data:audio/wav;base64,{_b64(page.audio_wav)}'></audio>"
             if page.audio_wav else "")
    return [*k.show("playback"), page.number - 1, image, page.text, audio,
            t("kiosk.page_of", lang, page=page.number, pages=page.total)]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def first_page_for(k: KioskUI):
    @kind_words()
    def first_page(lang, owner, book_id):
        return shown(k, lang, owner, book_id, 0)

    return first_page


def wire(k: KioskUI) -> None:
    @kind_words()
    def turn(lang, owner, book_id, index, delta):
        return shown(k, lang, owner, book_id, int(index or 0) + delta)

    k.parts["next"].click(lambda lang, o, b, i: turn(lang, o, b, i, 1), [k.lang, k.owner, k.book_id, k.page],
                          outputs(k), api_name="kiosk_next")
    k.parts["prev"].click(lambda lang, o, b, i: turn(lang, o, b, i, -1), [k.lang, k.owner, k.book_id, k.page],
                          outputs(k), api_name="kiosk_previous")
