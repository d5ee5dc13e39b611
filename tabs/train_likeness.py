"""Train tab: "a person" or "a style". A person's photos -> prepared grid with reasons -> a LoRA with
progress, loss curve and samples -> attached to the book's character (her pages use it at once). A
style's pictures -> the same preparation (no face needed) and trainer -> one of the family's own
styles, offered on the Pages tab at once. Photos come from uploads or the book's memory photos.
Training runs in windows on ZeroGPU (``studio.lora_windows``). Handlers are thin: every step is one
call into ``studio``; the subject's choices live in ``train_likeness_views``."""
from __future__ import annotations

import time

import gradio as gr

from studio import likeness, lora_windows
from studio.backends.base import Cancelled
from studio.book import Consent
from studio.jobs import Jobs
from tabs import train_likeness_reference, train_likeness_styles
from tabs import train_likeness_views as views
from tabs.common import GPU_LINE, TabContext, require_book, require_owner, say, user_errors, visitor_language

TITLE = "likeness.tab"
YIELD_EVERY_S = 0.5  # progress reaches the page at most this often (steps can be milliseconds)


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    jobs = Jobs(services.limits)
    gpu_window = lora_windows.gpu_window_for(services)  # ZeroGPU: one window of steps per GPU turn
    gr.Markdown(t("likeness.intro"), elem_classes=["gieok-notice"])
    subject = gr.Radio([(t("likeness.train_subject_person"), views.PERSON), (t("likeness.train_subject_style"),
                                                                           views.STYLE)],
                       value=views.PERSON, label=t("likeness.train_subject"))
    with gr.Row():
        person = gr.Dropdown(label=t("likeness.ui_person"), choices=[], interactive=True, scale=2)
        style_name = gr.Textbox(label=t("likeness.style_name"), max_length=60, visible=False, scale=2)
        trigger = gr.Textbox(label=t("likeness.ui_trigger"), value="ohwx", max_length=40, scale=1)
        class_word = gr.Textbox(label=t("likeness.ui_class_word"), value="grandmother", max_length=40, scale=1)
    files = gr.File(label=t("likeness.ui_photos"), file_count="multiple", type="filepath", file_types=["image"])
    with gr.Row():
        prepare_btn = gr.Button(t("likeness.ui_prepare"), variant="primary")
        memories_btn = gr.Button(t("likeness.train_use_memories"))
    grid = gr.Gallery(label=t("likeness.ui_grid"), columns=6, height=260)
    table = gr.Dataframe(headers=["", "", ""], label=t("likeness.ui_captions"), interactive=True, wrap=True)
    with gr.Accordion(t("likeness.ui_consent"), open=True) as consent_box:
        with gr.Row():
            given_by = gr.Textbox(label=t("likeness.ui_given_by"), max_length=100)
            relation = gr.Textbox(label=t("likeness.ui_relation"), max_length=100)
            date = gr.Textbox(label=t("likeness.ui_date"), placeholder="2026-11-30", max_length=40)
        statement = gr.Textbox(label=t("likeness.ui_statement"), lines=2, max_length=500)
    with gr.Row():
        preset = gr.Radio(label=t("likeness.ui_preset"), value="balanced",
                          choices=[(t("likeness.ui_fast"), "fast"), (t("likeness.ui_balanced"), "balanced"),
                                   (t("likeness.ui_best"), "best")])
        with gr.Accordion(t("likeness.ui_advanced"), open=False):
            steps = gr.Number(label=t("likeness.ui_steps"), value=0, precision=0, minimum=0, maximum=5000)
            resolution = gr.Number(label=t("likeness.ui_resolution"), value=512, precision=0, minimum=64,
                                   maximum=1024)
    estimate_md = gr.Markdown()
    with gr.Row():
        train_btn = gr.Button(t("likeness.ui_train"), variant="primary")
        stop_btn = gr.Button(t("likeness.ui_stop"), variant="stop")
    status = gr.Markdown()
    warning = gr.Markdown(elem_classes=["gieok-notice"])
    with gr.Row():
        loss_plot = gr.LinePlot(x="step", y="loss", label=t("likeness.ui_loss"), x_title=t("likeness.ui_plot_step"),
                                y_title=t("likeness.ui_plot_loss"))
        sample = gr.Image(label=t("likeness.ui_sample"), type="pil", interactive=False)
    train_likeness_reference.build(ctx, tab, person, [given_by, relation, date, statement])  # one photo, no training
    train_likeness_styles.build(ctx, tab)  # the family's own styles: rename, delete

    def refresh(owner, book_id):
        if not (owner and book_id):
            return gr.update(choices=[], value=None)
        book = services.store.get(owner, book_id)
        return gr.update(choices=[(c.name or "?", c.id) for c in book.characters],
                         value=book.characters[0].id if book.characters else None)

    @user_errors
    def prepare(owner, book_id, kind, person_id, uploads, token, word, size):
        owner, book_id = require_owner(owner), require_book(book_id)
        return views.prepare(services, owner, book_id, kind, person_id, views.uploaded(uploads), token, word, size)

    @user_errors
    def prepare_memories(owner, book_id, kind, person_id, token, word, size):
        owner, book_id = require_owner(owner), require_book(book_id)
        named = likeness.memory_photo_files(services, owner, book_id)
        return views.prepare(services, owner, book_id, kind, person_id, named, token, word, size)

    @user_errors
    def train(owner, book_id, kind, person_id, name, rows, token, preset_name, step_count, size, who, rel, when,
              words):
        owner, book_id, lang = require_owner(owner), require_book(book_id), visitor_language()
        points, picture, warned = [], None, ""
        last_yield, held = 0.0, None  # held: a step not shown yet (the last one is shown after the loop)
        cancel = jobs.start(owner, "likeness")
        try:
            consent = Consent(given_by=who or "", relation=rel or "", date=when or "", statement=words or "")
            job = views.training_job(services, owner, book_id, kind, person_id, name, rows, token, preset_name,
                                     step_count, size, consent)
            for event in lora_windows.train(services, job, cancel, gpu_window):
                data = event.payload
                if data.get("losses"):
                    points.append({"step": data["step"], "loss": data["losses"]["loss"]})
                if data.get("sample") is not None:
                    picture = data["sample"]
                if data.get("event") == "overtraining":
                    warned = "※ " + event.text(lang)  # a plain glyph, as the voice tab
                if data.get("event") == "step" and time.monotonic() - last_yield < YIELD_EVERY_S:
                    held = event  # every loss is kept for the curve; the page is redrawn at most twice a second
                    continue
                last_yield, held = time.monotonic(), None
                yield views.status_line(event, lang), warned, views.loss_frame(points), picture
            if held is not None:
                yield views.status_line(held, lang), warned, views.loss_frame(points), picture
        except Cancelled:
            yield say("likeness.stopped"), warned, views.loss_frame(points), picture
        finally:
            jobs.finish(owner, "likeness", cancel)

    @user_errors
    def estimate(owner, book_id, kind, person_id, token, preset_name, step_count, size):
        if not (owner and book_id):
            return ""
        count = views.saved_count(services, owner, book_id, kind, person_id, (token or "").strip())
        if not count:
            return ""
        options = views.options_for(count, preset_name, step_count, size)
        return likeness.estimate_text(services, options, visitor_language(), count, views.subject_of(kind))

    def stop(owner):
        if owner:
            jobs.cancel(owner, "likeness")

    tab.select(refresh, [ctx.owner, ctx.book_id], [person], api_name="likeness_refresh")
    person.change(lambda owner, book_id, who: views.class_word_of(services, owner, book_id, who),
                  [ctx.owner, ctx.book_id, person], class_word, api_name="likeness_person")
    subject.change(views.subject_view, [subject], [person, class_word, style_name, consent_box], api_name=False)
    estimate_inputs = [ctx.owner, ctx.book_id, subject, person, trigger, preset, steps, resolution]
    prep_outputs = [grid, table, status]
    prepare_btn.click(prepare, [ctx.owner, ctx.book_id, subject, person, files, trigger, class_word, resolution],
                      prep_outputs, api_name="likeness_prepare").then(estimate, estimate_inputs, [estimate_md],
                                                                      api_name=False)
    memories_btn.click(prepare_memories, [ctx.owner, ctx.book_id, subject, person, trigger, class_word, resolution],
                       prep_outputs, api_name="likeness_prepare_memories").then(
        estimate, estimate_inputs, [estimate_md], api_name=False)
    for control in (preset, steps, resolution):
        control.change(estimate, estimate_inputs, [estimate_md], api_name=False)
    estimate_btn = gr.Button(visible=False)  # the API's way to ask for the estimate (tests, scripts)
    estimate_btn.click(estimate, estimate_inputs, [estimate_md], api_name="likeness_estimate")
    train_btn.click(train, [ctx.owner, ctx.book_id, subject, person, style_name, table, trigger, preset, steps,
                            resolution, given_by, relation, date, statement], [status, warning, loss_plot, sample],
                    api_name="likeness_train", **GPU_LINE)
    stop_btn.click(stop, [ctx.owner], None, api_name="likeness_stop", queue=False)
