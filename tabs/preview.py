"""Preview tab: read the open book as the family will — pictures, words in the chosen font, the
chosen narration, page turns by hand or by themselves when the voice ends. It is the web book
itself, shown in a sandboxed frame, so what you see here is exactly what the web book export is."""
from __future__ import annotations

import html

import gradio as gr

from studio.export.common import ExportError
from studio.export.exports import reader_for
from tabs.common import TabContext, message_of, next_button, say, user_errors

TITLE = "tab.preview"
FONTS = [("ex.font_myeongjo", "myeongjo"), ("ex.font_gothic", "gothic")]


def notice(text: str) -> str:
    return f"<div class='gieok-notice'>{html.escape(text)}</div>"


def reader_frame(document: str, title: str = "") -> str:
    """The reader in an iframe: its script runs isolated from the studio page (sandbox without
    same-origin), and the document is attribute-escaped into ``srcdoc``."""
    return (f'<iframe class="gieok-reader" title="{html.escape(title, quote=True)}" sandbox="allow-scripts" '
            f'style="width:100%;height:min(92vh,1100px);min-height:560px;border:0;border-radius:12px" '
            f'srcdoc="{html.escape(document, quote=True)}"></iframe>')


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    with gr.Row():
        font = gr.Radio([(t(k), v) for k, v in FONTS], value="myeongjo", label=t("pv.font"), scale=3)
        with gr.Column(scale=1, min_width=200):
            refresh_btn = gr.Button(t("pv.refresh"))
            next_button(ctx, "pv.to_export", "export", visible=True)
    gr.Markdown(t("pv.hint"))
    reader = gr.HTML("", elem_id="gieok-preview")

    @user_errors
    def show(owner, book_id, font_):
        if not (owner and book_id):
            return notice(say("common.no_book_yet"))
        try:
            return reader_frame(reader_for(services, owner, book_id, font_ or "myeongjo"), say("pv.frame_title"))
        except ExportError as exc:  # e.g. no pages yet: say so in place, not as a pop-up on every visit
            return notice(message_of(exc))

    inputs = [ctx.owner, ctx.book_id, font]
    # Built when the visitor looks (not on every edit elsewhere): it may draw sketches and encode audio.
    gr.on([tab.select, refresh_btn.click, font.change], show, inputs, reader, api_name="preview_book")
