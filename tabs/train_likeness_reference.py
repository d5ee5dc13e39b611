"""A section of the Train tab: likeness from one reference photo, without training (IP-Adapter).

The FaceID switch is offered only when it can be used here (insightface and its models, a FaceID
adapter file); when it cannot, it stays off and says why in the visitor's language. insightface's
models are licensed for non-commercial use only, and that licence is shown next to the switch
whenever the section is visible. The consent is the one filled in above for training: the same
family, the same person. One handler, one studio call (``likeness.set_reference_photo``).
"""
from __future__ import annotations

import gradio as gr

from studio import likeness
from studio.backends import faceid
from studio.book import Consent
from studio.train_lora import LoraTrainingRefused
from tabs.common import TabContext, require_book, require_owner, say, user_errors, visitor_language


def build(ctx: TabContext, tab: gr.Tab, person: gr.Dropdown, consent_inputs: list) -> None:
    """``person``: the tab's character choice; ``consent_inputs``: given by, relation, date, statement."""
    services, t = ctx.services, ctx.t
    with gr.Accordion(t("likeness.faceid_ui_section"), open=False):
        with gr.Row():
            photo = gr.Image(label=t("likeness.faceid_ui_photo"), type="filepath", sources=["upload"], height=220)
            with gr.Column():
                scale = gr.Slider(0.0, 1.5, value=0.6, step=0.05, label=t("likeness.faceid_ui_scale"))
                use_faceid = gr.Checkbox(label=t("likeness.faceid_ui_switch"), value=False, interactive=False)
                note = gr.Markdown()
                use_btn = gr.Button(t("likeness.faceid_ui_use"))
        status = gr.Markdown()

    @user_errors
    def switch_state():
        usable, words = faceid.faceid_switch(services.settings, visitor_language())
        return gr.update(interactive=usable, value=False) if not usable else gr.update(interactive=True), words

    @user_errors
    def use_photo(owner, book_id, person_id, path, strength, face_only, who, rel, when, words):
        owner, book_id = require_owner(owner), require_book(book_id)
        if not person_id:
            raise LoraTrainingRefused("likeness.no_character")
        if not path:
            raise LoraTrainingRefused("likeness.faceid_ui_no_photo")
        consent = Consent(given_by=who or "", relation=rel or "", date=when or "", statement=words or "")
        likeness.set_reference_photo(services, owner, book_id, person_id, path, consent, float(strength),
                                     faceid=bool(face_only))
        return say("likeness.faceid_ui_saved")

    tab.select(switch_state, None, [use_faceid, note], api_name="likeness_faceid_state")
    use_btn.click(use_photo, [ctx.owner, ctx.book_id, person, photo, scale, use_faceid, *consent_inputs], [status],
                  api_name="likeness_reference")
