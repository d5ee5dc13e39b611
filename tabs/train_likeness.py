"""Train tab: a person's photos -> prepared grid with reasons -> a LoRA with progress, loss curve and
samples -> attached to the book's character (her pages use it at once). Handlers are thin: every
step is one call into ``studio.likeness``; labels are catalogue keys (locales/*/likeness.json)."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio import likeness, photos
from studio.backends.base import Cancelled
from studio.book import Consent
from studio.jobs import Jobs
from studio.train_lora import LoraTrainingRefused
from tabs import train_likeness_reference
from tabs.common import TabContext, require_book, require_owner, say, user_errors, visitor_language

TITLE = "likeness.tab"
STRINGS: dict[str, dict[str, str]] = {"en": {}, "ko": {}}  # all labels live in locales/*/likeness.json
MAX_PHOTOS = 40


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    jobs = Jobs(services.limits)
    with gr.Row():
        person = gr.Dropdown(label=t("likeness.ui_person"), choices=[], interactive=True, scale=2)
        trigger = gr.Textbox(label=t("likeness.ui_trigger"), value="ohwx", max_length=40, scale=1)
        class_word = gr.Textbox(label=t("likeness.ui_class_word"), value="grandmother", max_length=40, scale=1)
    files = gr.File(label=t("likeness.ui_photos"), file_count="multiple", type="filepath", file_types=["image"])
    prepare_btn = gr.Button(t("likeness.ui_prepare"), variant="primary")
    grid = gr.Gallery(label=t("likeness.ui_grid"), columns=6, height=260)
    table = gr.Dataframe(headers=["", "", ""], label=t("likeness.ui_captions"),
                         interactive=True, wrap=True)
    with gr.Accordion(t("likeness.ui_consent"), open=True):
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
    with gr.Row():
        loss_plot = gr.LinePlot(x="step", y="loss", label=t("likeness.ui_loss"), x_title=t("likeness.ui_plot_step"),
                                y_title=t("likeness.ui_plot_loss"))
        sample = gr.Image(label=t("likeness.ui_sample"), type="pil", interactive=False)
    train_likeness_reference.build(ctx, tab, person, [given_by, relation, date, statement])  # one photo, no training

    def refresh(owner, book_id):
        if not (owner and book_id):
            return gr.update(choices=[], value=None)
        book = services.store.get(owner, book_id)
        return gr.update(choices=[(c.name or "?", c.id) for c in book.characters],
                         value=book.characters[0].id if book.characters else None)

    @user_errors
    def prepare(owner, book_id, person_id, uploads, token, word, size):
        owner, book_id = require_owner(owner), require_book(book_id)
        if not person_id:
            raise LoraTrainingRefused("likeness.no_character")
        uploads = list(uploads or [])[:MAX_PHOTOS]
        options = photos.PrepOptions(token=(token or "").strip(), class_word=(word or "person").strip(),
                                     resolution=int(size or 512))
        named = [(Path(p).name, p) for p in uploads]
        results = likeness.prepare_for_character(services, owner, book_id, person_id, named, options)
        lang = visitor_language()
        gallery = [(r.crop, r.name) for r in results if r.kept]
        rows = [[r.name, photos.reason_text(r, lang), r.caption] for r in results]
        counts = photos.summary(results)
        kept = counts.get(photos.KEPT, 0)
        headers = [say("likeness.ui_col_photo"), say("likeness.ui_col_result"), say("likeness.ui_col_caption")]
        return gallery, gr.update(value=rows, headers=headers), say("likeness.ui_prepared" if kept else "likeness.no_photos")

    @user_errors
    def train(owner, book_id, person_id, rows, token, preset_name, step_count, size, who, rel, when, words):
        owner, book_id, lang = require_owner(owner), require_book(book_id), visitor_language()
        points, picture = [], None
        cancel = jobs.start(owner, "likeness")
        try:
            if not person_id:
                raise LoraTrainingRefused("likeness.no_character")
            captions = [str(r[2]) for r in _rows(rows) if str(r[2]).strip()]
            likeness.set_captions(services, owner, book_id, person_id, captions, (token or "").strip())
            consent = Consent(given_by=who or "", relation=rel or "", date=when or "", statement=words or "")
            options = likeness.preset_options(preset_name or "balanced", len(captions), int(size or 512),
                                              steps=int(step_count) if step_count else None)
            job = likeness.LikenessRequest(character_id=person_id, trigger=(token or "").strip(), options=options,
                                           consent=consent)
            for event in likeness.train_character_lora(services, owner, book_id, job, cancel=cancel):
                data = event.payload
                if data.get("losses"):
                    points.append({"step": data["step"], "loss": data["losses"]["loss"]})
                if data.get("sample") is not None:
                    picture = data["sample"]
                yield _status(event, lang), _plot(points), picture
        except Cancelled:
            yield say("likeness.stopped"), _plot(points), picture
        finally:
            jobs.finish(owner, "likeness", cancel)

    @user_errors
    def estimate(owner, book_id, person_id, preset_name, step_count, size):
        if not (owner and book_id and person_id):
            return ""
        count = len(likeness.saved_captions(services, owner, book_id, person_id))
        if not count:
            return ""
        options = likeness.preset_options(preset_name or "balanced", count, int(size or 512),
                                          steps=int(step_count) if step_count else None)
        return likeness.estimate_text(services, options, visitor_language())

    def stop(owner):
        if owner:
            jobs.cancel(owner, "likeness")

    tab.select(refresh, [ctx.owner, ctx.book_id], [person], api_name="likeness_refresh")
    ctx.book_id.change(refresh, [ctx.owner, ctx.book_id], [person], api_name=False)
    estimate_inputs = [ctx.owner, ctx.book_id, person, preset, steps, resolution]
    prepare_btn.click(prepare, [ctx.owner, ctx.book_id, person, files, trigger, class_word, resolution],
                      [grid, table, status], api_name="likeness_prepare").then(
        estimate, estimate_inputs, [estimate_md], api_name=False)
    for control in (preset, steps, resolution):
        control.change(estimate, estimate_inputs, [estimate_md], api_name=False)
    estimate_btn = gr.Button(visible=False)  # the API's way to ask for the estimate (tests, scripts)
    estimate_btn.click(estimate, estimate_inputs, [estimate_md], api_name="likeness_estimate")
    train_btn.click(train, [ctx.owner, ctx.book_id, person, table, trigger, preset, steps, resolution, given_by,
                            relation, date, statement], [status, loss_plot, sample], api_name="likeness_train",
                    concurrency_id="gpu", concurrency_limit=1)
    stop_btn.click(stop, [ctx.owner], None, api_name="likeness_stop", queue=False)


def _rows(rows) -> list[list]:
    if rows is None:
        return []
    if hasattr(rows, "values"):  # a pandas DataFrame
        return rows.values.tolist()
    if isinstance(rows, dict):  # the API form {"headers": [...], "data": [[...]]}
        return list(rows.get("data") or [])
    return list(rows)


def _status(event, lang: str) -> str:
    """The event's message in the visitor's language, then percent, step and time left."""
    data = event.payload
    line = event.text(lang)
    extra = f" · {data['percent']:.0f}% · {data['step']}/{data['total_steps']}"
    eta = data.get("eta_s")
    if eta is not None:
        extra += f" · ~{int(eta // 60)}:{int(eta % 60):02d}"
    return line + extra


def _plot(points: list[dict]):
    import pandas as pd

    return pd.DataFrame(points, columns=["step", "loss"])
