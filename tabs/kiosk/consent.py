"""Consent: what is recorded, that it stays on this machine, that it is erased when they leave."""
from __future__ import annotations

import gradio as gr

from tabs.kiosk.ui import KioskUI


def build(k: KioskUI) -> None:
    with gr.Column(visible=False, elem_classes=["kiosk-screen"]) as k.steps["consent"]:
        k.say(gr.Markdown(**k.words(value="kiosk.consent_title"), elem_classes=["kiosk-title"]),
              value="kiosk.consent_title")
        k.say(gr.Markdown(**k.words(value="kiosk.consent_text"), elem_classes=["kiosk-lead"]),
              value="kiosk.consent_text")
        with gr.Row(elem_classes=["kiosk-actions"]):
            k.parts["consent_no"] = k.say(gr.Button(**k.words(value="kiosk.consent_no"), elem_classes=["kiosk-big"]),
                                          value="kiosk.consent_no")
            k.parts["consent_yes"] = k.say(gr.Button(**k.words(value="kiosk.consent_yes"), variant="primary",
                                                     elem_classes=["kiosk-big"], elem_id="kiosk-consent-yes"),
                                           value="kiosk.consent_yes")


def wire(k: KioskUI) -> None:
    def agree(owner):
        if owner:
            k.kiosk.touch(owner)
        return k.show("memories")

    k.parts["consent_yes"].click(agree, [k.owner], k.screens, api_name="kiosk_consent_yes")
    # "No thanks": nothing was recorded yet; back to welcome as a new visitor (the page reloads)
    k.parts["consent_no"].click(lambda: k.show("welcome"), None, k.screens, api_name="kiosk_consent_no")
