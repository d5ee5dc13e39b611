"""Preview tab: read the open book as the family will — pictures, words in the chosen font, the
chosen narration, page turns by hand or by themselves when the voice ends. It is the web book
itself, shown in a sandboxed frame, so what you see here is exactly what the web book export is."""
from __future__ import annotations

import html

import gradio as gr

from studio.export.common import ExportError
from studio.export.exports import reader_for
from tabs.common import TabContext, user_errors

TITLE = "tab.preview"
STRINGS = {
    "en": {
        "tab.preview": "Preview",
        "pv.font": "Font",
        "pv.refresh": "Refresh",
        "pv.hint": "Press “Read to me” to hear the whole book; the pages turn when each narration ends.",
    },
    "ko": {
        "tab.preview": "미리 보기",
        "pv.font": "글꼴",
        "pv.refresh": "새로 고침",
        "pv.hint": "‘읽어 주기’를 누르면 책 전체를 읽어 주고, 낭독이 끝나면 다음 쪽으로 넘어갑니다.",
    },
}
FONT_CHOICES = [("나눔명조 · Nanum Myeongjo", "myeongjo"), ("나눔고딕 · Nanum Gothic", "gothic")]
NO_BOOK = ("<div class='gieok-notice'>Open a book in the Library first. / "
           "먼저 서재에서 책을 열어 주세요.</div>")


def reader_frame(document: str) -> str:
    """The reader in an iframe: its script runs isolated from the studio page (sandbox without
    same-origin), and the document is attribute-escaped into ``srcdoc``."""
    return (f'<iframe class="gieok-reader" title="Book preview" sandbox="allow-scripts" '
            f'style="width:100%;height:min(92vh,1100px);min-height:560px;border:0;border-radius:12px" '
            f'srcdoc="{html.escape(document, quote=True)}"></iframe>')


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    with gr.Row():
        font = gr.Radio(FONT_CHOICES, value="myeongjo", label=t("pv.font"), scale=3)
        refresh_btn = gr.Button(t("pv.refresh"), scale=1)
    gr.Markdown(t("pv.hint"))
    reader = gr.HTML(NO_BOOK, elem_id="gieok-preview")

    @user_errors
    def show(owner, book_id, font_):
        if not (owner and book_id):
            return NO_BOOK
        try:
            return reader_frame(reader_for(services, owner, book_id, font_ or "myeongjo"))
        except ExportError as exc:  # e.g. no pages yet: say so in place, not as a pop-up on every visit
            return f"<div class='gieok-notice'>{html.escape(str(exc))}</div>"

    inputs = [ctx.owner, ctx.book_id, font]
    # Built when the visitor looks (not on every edit elsewhere): it may draw sketches and encode audio.
    gr.on([tab.select, refresh_btn.click, font.change], show, inputs, reader, api_name="preview_book")
