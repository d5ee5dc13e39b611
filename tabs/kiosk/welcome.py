"""Welcome: what this is, in a few warm words; the language switch; a quiet door for the operator."""
from __future__ import annotations

import gradio as gr

from tabs.kiosk.ui import KioskUI


def build(k: KioskUI) -> None:
    # the language switch sits at the top of every visitor screen
    with gr.Row(elem_classes=["kiosk-langs"]) as k.parts["langs"]:
        k.parts["to_ko"] = gr.Button("한국어", elem_classes=["kiosk-lang"], size="sm", elem_id="kiosk-to-ko")
        k.parts["to_en"] = gr.Button("English", elem_classes=["kiosk-lang"], size="sm", elem_id="kiosk-to-en")
    with gr.Column(visible=True, elem_classes=["kiosk-screen", "kiosk-welcome"]) as k.steps["welcome"]:
        k.say(gr.Markdown(**k.words(value="kiosk.welcome_title"), elem_classes=["kiosk-title"]),
              value="kiosk.welcome_title")
        k.say(gr.Markdown(**k.words(value="kiosk.welcome_text"), elem_classes=["kiosk-lead"]),
              value="kiosk.welcome_text")
        k.parts["start"] = k.say(gr.Button(**k.words(value="kiosk.start"), variant="primary",
                                           elem_classes=["kiosk-big"], elem_id="kiosk-start"), value="kiosk.start")
        # The operator's door: small and out of the way (a long press is not possible in Gradio)
        k.parts["operator_door"] = gr.Button("⚙", elem_id="kiosk-operator-door", size="sm")


def wire(k: KioskUI) -> None:
    outputs = [k.lang, *k.lang_buttons, *k.worded]

    def switch(lang, owner):
        if owner:
            k.kiosk.touch(owner)
        return [lang, *k.lang_marks(lang), *k.relabel(lang)]

    k.parts["to_ko"].click(lambda owner: switch("ko", owner), [k.owner], outputs, api_name="kiosk_korean")
    k.parts["to_en"].click(lambda owner: switch("en", owner), [k.owner], outputs, api_name="kiosk_english")
    def begin(owner):
        if owner:  # a tap: the idle time starts again, so the consent screen can be read in peace
            k.kiosk.touch(owner)
        return k.show("consent")

    k.parts["start"].click(begin, [k.owner], k.screens, api_name="kiosk_begin")
    k.parts["operator_door"].click(lambda: k.show("operator"), None, k.screens, api_name="kiosk_operator_door")
