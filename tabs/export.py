"""Export tab: the book as a printable PDF, a read-aloud EPUB, a video, an audiobook and a web
book. Says first what is missing (and what will stand in for it), then each button makes one
file with a progress bar and offers it for download."""
from __future__ import annotations

import gradio as gr

from studio import lifecycle
from studio.export.exports import export_book, whats_missing
from studio.jobs import Jobs
from tabs.common import TabContext, require_book, require_owner, say, user_errors

TITLE = "tab.export"
SIZES = [("ex.size_a4", "a4"), ("ex.size_8in", "square-8in"), ("ex.size_20cm", "square-20cm")]
FONTS = [("ex.font_myeongjo", "myeongjo"), ("ex.font_gothic", "gothic")]
AUDIO_FORMATS = [("ex.format_m4b", "m4b"), ("ex.format_mp3", "mp3")]


def book_checklist(services, owner: str, book_id: str) -> str:
    """What the exports will fill in, in the visitor's words; the "ready" line when nothing is."""
    notes = [say(key, **values) for key, values in whats_missing(services, owner, book_id)]
    if not notes:
        return say("ex.ready")
    if len(notes) == 1 and not services.store.get(owner, book_id).pages:
        return notes[0]
    return "\n".join(f"- {note}" for note in notes) + "\n\n" + say("ex.can_still")


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    jobs = Jobs(services.limits)  # per visitor (keyed by owner): the Stop button ends that visitor's encoding

    with gr.Row():
        status = gr.Markdown(elem_classes=["gieok-notice"])
    with gr.Row():
        check_btn = gr.Button(t("ex.check"), scale=1)
        font = gr.Radio([(t(k), v) for k, v in FONTS], value="myeongjo", label=t("ex.font"), scale=3)
    with gr.Row(equal_height=False):
        with gr.Column(min_width=260):
            gr.Markdown(f"### {t('ex.pdf')}")
            size = gr.Radio([(t(k), v) for k, v in SIZES], value="a4", label=t("ex.size"))
            bleed = gr.Checkbox(False, label=t("ex.bleed"))
            pdf_btn = gr.Button(t("ex.make"), variant="primary")
            pdf_file = gr.File(label=t("ex.file"), interactive=False, height=80, visible=False)
        with gr.Column(min_width=260):
            gr.Markdown(f"### {t('ex.epub')}")
            epub_btn = gr.Button(t("ex.make"), variant="primary")
            epub_file = gr.File(label=t("ex.file"), interactive=False, height=80, visible=False)
            gr.Markdown(f"### {t('ex.web')}")
            web_btn = gr.Button(t("ex.make"), variant="primary")
            web_file = gr.File(label=t("ex.file"), interactive=False, height=80, visible=False)
        with gr.Column(min_width=260):
            gr.Markdown(f"### {t('ex.mp4')}")
            burn = gr.Checkbox(True, label=t("ex.burn"))
            with gr.Row():
                mp4_btn = gr.Button(t("ex.make"), variant="primary", scale=3)
                mp4_stop = gr.Button(t("ex.stop"), variant="stop", scale=1)
            mp4_file = gr.File(label=t("ex.file"), interactive=False, height=80, visible=False)
            gr.Markdown(f"### {t('ex.audio')}")
            audio_format = gr.Radio([(t(k), v) for k, v in AUDIO_FORMATS], value="m4b", label=t("ex.audio_format"))
            with gr.Row():
                audio_btn = gr.Button(t("ex.make"), variant="primary", scale=3)
                audio_stop = gr.Button(t("ex.stop"), variant="stop", scale=1)
            audio_file = gr.File(label=t("ex.file"), interactive=False, height=80, visible=False)

    def make(owner, book_id, kind, progress, **options):
        owner, book_id = require_owner(owner), require_book(book_id)

        doing = say("ex.making", kind=say(f"ex.kind_{kind}"))

        def report(p):
            progress(p.fraction, desc=doing)

        if kind in ("mp4", "audiobook"):
            options["cancel"] = token = jobs.start(owner, "encode")
        try:
            path = export_book(services, owner, book_id, kind, lifecycle.new_export_dir(), on_progress=report,
                               **options)
        finally:
            if "cancel" in options:
                jobs.finish(owner, "encode", token)
        return gr.update(value=str(path), visible=True)  # the download box appears once there is a file

    @user_errors
    def stop(owner):
        if owner:
            jobs.cancel(owner, "encode")

    @user_errors
    def check(owner, book_id):
        if not (owner and book_id):
            return say("common.no_book_yet")
        return book_checklist(services, owner, book_id)

    @user_errors
    def make_pdf(owner, book_id, size_, bleed_, font_, progress=gr.Progress()):
        return make(owner, book_id, "pdf", progress, size=size_, bleed=bool(bleed_), font=font_)

    @user_errors
    def make_epub(owner, book_id, font_, progress=gr.Progress()):
        return make(owner, book_id, "epub", progress, font=font_)

    @user_errors
    def make_video(owner, book_id, burn_, progress=gr.Progress()):
        return make(owner, book_id, "mp4", progress, burn_text=bool(burn_))

    @user_errors
    def make_audiobook(owner, book_id, fmt_, progress=gr.Progress()):
        return make(owner, book_id, "audiobook", progress, fmt=fmt_)

    @user_errors
    def make_webbook(owner, book_id, font_, progress=gr.Progress()):
        return make(owner, book_id, "webbook", progress, font=font_)

    who = [ctx.owner, ctx.book_id]
    gr.on([tab.select, check_btn.click], check, who, status, api_name="export_status")
    pdf_btn.click(make_pdf, [*who, size, bleed, font], pdf_file, api_name="export_pdf")
    epub_btn.click(make_epub, [*who, font], epub_file, api_name="export_epub")
    web_btn.click(make_webbook, [*who, font], web_file, api_name="export_webbook")
    # Video and audio encoding fill the CPU: one at a time across visitors, the rest wait in the queue.
    mp4_btn.click(make_video, [*who, burn], mp4_file, api_name="export_mp4",
                  concurrency_id="encode", concurrency_limit=1)
    audio_btn.click(make_audiobook, [*who, audio_format], audio_file, api_name="export_audiobook",
                    concurrency_id="encode", concurrency_limit=1)
    gr.on([mp4_stop.click, audio_stop.click], stop, [ctx.owner], None, api_name="stop_export",
          concurrency_limit=None)
