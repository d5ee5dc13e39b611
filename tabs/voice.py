"""Voice tab: recordings of the loved one -> speech -> voice conversion -> narration of each page."""
from __future__ import annotations

import datetime

import gradio as gr

from studio import narrate
from studio.audio import read_wav
from studio.backends.registry import KINDS
from studio.jobs import Jobs
from studio.backends.base import Cancelled
from studio.backends.remote.common import visitor_credentials
from tabs import voice_views as views
from tabs.common import (VOICE_LINE, TabContext, engine_line, let_go_of_uploads, next_button, queue_line, refuse,
                         require_book, require_owner, reveal_next, say, user_errors)
from tabs.voice_views import KNOB_ORDER
from tabs.voice_train import build_train_section

TITLE = "tab.voice"


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    store, jobs = services.store, Jobs(services.limits)

    with gr.Row():
        voice_dd = gr.Dropdown(label=t("v.voice"), choices=[], interactive=True, scale=2)
        new_name = gr.Textbox(label=t("v.new_name"), placeholder=t("v.name_placeholder"), max_length=100, scale=2)
        create_btn = gr.Button(t("v.create"), scale=1)
        delete_btn = gr.Button(t("v.delete_voice"), variant="stop", scale=1)
    with gr.Row(visible=False) as confirm_row:
        gr.Markdown(t("v.delete_warning"))
        confirm_btn = gr.Button(t("v.delete_confirm"), variant="stop")
        keep_btn = gr.Button(t("v.keep"))
    pipeline_md = gr.Markdown(elem_classes=["gieok-notice"])
    with gr.Row():
        with gr.Column():
            step1 = gr.Markdown(f"### {t('v.step1_their')}")
            files = gr.File(label=t("v.files"), file_count="multiple", type="filepath",
                            file_types=[".wav", ".mp3", ".m4a", ".flac", ".ogg", ".webm"], elem_id="gieok-voice-files")
            mic = gr.Audio(label=t("v.mic"), sources=["upload", "microphone"], type="filepath")
            add_btn = gr.Button(t("v.add"), variant="primary")
            summary = gr.Markdown()
            with gr.Row():
                recordings_dd = gr.Dropdown(label=t("v.recordings"), choices=[], interactive=True, scale=2)
                remove_btn = gr.Button(t("v.remove_rec"), scale=1)
        with gr.Column():
            gr.Markdown(f"### {t('v.step2')}")
            given_by = gr.Textbox(label=t("v.given_by"), max_length=200)
            relation = gr.Textbox(label=t("v.relation_their"), max_length=100)
            date = gr.Textbox(label=t("v.date"), value=datetime.date.today().isoformat(), max_length=40)
            statement = gr.Textbox(label=t("v.statement"), lines=3, max_length=2000)
            consent_btn = gr.Button(t("v.save_consent"))
            consent_md = gr.Markdown()
    with gr.Accordion(t("v.step3"), open=False):  # the defaults work; choices for those who want them
        with gr.Row():
            speaker = gr.Radio(label=t("v.speaker"), choices=[(t("v.auto"), "auto")] + [
                (t(f"engine.speaker.{name}"), name) for name in KINDS["speaker"]], value="auto")
            converter = gr.Radio(label=t("v.converter_their"), value="voice_match",
                                 choices=[(t(f"v.conv_{name}"), name) for name in views.CONVERTERS])
        availability = gr.Markdown()
        with gr.Accordion(t("v.advanced"), open=False):
            limit = gr.Markdown(elem_classes=["gieok-hint"])
            with gr.Row():
                pth = gr.File(label=t("v.pth"), file_types=[".pth"], type="filepath")
                index = gr.File(label=t("v.index"), file_types=[".index"], type="filepath")
                model_btn = gr.Button(t("v.use_model"))
            gr.Markdown(f"#### {t('v.knobs')}")
            with gr.Row():
                knobs = [gr.Slider(lo, hi, value=d, step=1 if isinstance(d, int) or k == "transpose" else 0.01,
                                   label=t(f"v.knob_{k}")) for k in KNOB_ORDER for d, lo, hi in [narrate.KNOBS[k]]]
                default_f0 = narrate.default_f0_method(services.settings.rmvpe_model)
                knobs.append(gr.Radio([(t(f"v.f0_{m}"), m) for m in narrate.F0_METHODS], value=default_f0,
                                      label=t("v.f0"), info=t("models.pitch_default_pm") if default_f0 == "pm" else None))
        pipeline_btn = gr.Button(t("v.save_pipeline"), variant="primary")
    with gr.Row():
        ab_text = gr.Textbox(label=t("v.ab_text"), lines=2, scale=3)
        ab_btn = gr.Button(t("v.listen"), scale=1)
    with gr.Row():
        ab_standard = gr.Audio(label=t("v.standard"), interactive=False)
        ab_converted = gr.Audio(label=t("v.converted"), interactive=False)
    gr.Markdown(f"### {t('v.step4')}")
    with gr.Row():
        page_dd = gr.Dropdown(label=t("v.page"), choices=[], interactive=True, scale=2)
        page_btn = gr.Button(t("v.narrate_page"), scale=1)
    with gr.Row():
        takes_dd = gr.Dropdown(label=t("v.takes"), choices=[], interactive=True, scale=2)
        choose_btn = gr.Button(t("v.choose"), scale=1)
    take_audio = gr.Audio(label=t("v.take"), interactive=False)
    with gr.Row():
        book_btn = gr.Button(t("v.narrate_book"), variant="primary")
        missing_only = gr.Checkbox(label=t("v.missing_only"), value=False)
        cancel_btn = gr.Button(t("v.cancel"), variant="stop")
    progress_md = gr.Markdown(elem_classes=["gieok-notice"])
    to_preview = next_button(ctx, "v.to_preview", "preview")  # under the status it follows, not after step 5

    voice_outputs = [voice_dd, summary, given_by, relation, date, statement, consent_md, speaker, converter,
                     availability, pipeline_md, *knobs, recordings_dd]
    # step 5: train her voice (its own module); it reads the recordings and the consent again when they change
    build_train_section(ctx, voice_dd, tab, changed=[summary, consent_md])

    def voice_view(owner, book_id, voice_id=None):
        book = store.get(owner, book_id)
        ids = [v.id for v in book.voices]
        voice_id = voice_id if voice_id in ids else (book.narration_voice if book.narration_voice in ids
                                                     else (ids[0] if ids else None))
        voice = book.voice(voice_id) if voice_id else None
        drop = gr.update(choices=[(v.name, v.id) for v in book.voices], value=voice_id)
        speakers = gr.update(choices=views.speaker_choices(services))
        if voice is None:
            return (drop, say("v.create_first"), "", "", gr.update(), views.consent_statement(book), "", speakers,
                    gr.update(choices=views.converter_choices()), engine_line(services, "speaker"), "",
                    *[gr.update() for _ in knobs], gr.update(choices=[], value=None))
        c = voice.consent
        return (drop, views.summary(voice), c.given_by if c else "", c.relation if c else "",
                c.date if c else datetime.date.today().isoformat(), c.statement if c else views.consent_statement(book),
                views.consent_line(voice), gr.update(choices=views.speaker_choices(services), value=voice.speaker or "auto"),
                gr.update(choices=views.converter_choices(), value=voice.converter or "none"),
                engine_line(services, "speaker"), views.pipeline(services, voice, book.language), *views.knob_values(voice, narrate.default_f0_method(services.settings.rmvpe_model)),
                views.recording_choices(voice))

    def page_view(owner, book_id, page_id=None):
        book = store.get(owner, book_id)
        ids = [p.id for p in book.pages]
        page_id = page_id if page_id in ids else (ids[0] if ids else None)
        pages = gr.update(choices=[(f"{i + 1}. {p.text[:40] or say('v.no_page_text')}", p.id)
                                   for i, p in enumerate(book.pages)], value=page_id)
        if page_id is None:
            return pages, gr.update(choices=[], value=None), None
        page = book.page(page_id)
        return (pages, gr.update(choices=views.take_choices(page), value=page.chosen_take),
                _take_audio(services, page.chosen_narration(), owner))

    @user_errors
    def refresh(owner, book_id):
        if not (owner and book_id):
            updates = [gr.update() for _ in voice_outputs]
            updates[voice_outputs.index(pipeline_md)] = say("common.no_book_yet")
            return (*updates, gr.update(choices=[], value=None), gr.update(choices=[], value=None), None,
                    *[gr.update()] * 6)
        book = store.get(owner, book_id)
        return (*voice_view(owner, book_id), *page_view(owner, book_id), *views.person_labels(book),
                views.sample_sentence(book), say("v.upload_limit", mb=services.settings.max_file_size_mb),
                gr.update(placeholder=views.voice_name_example(book)))

    @user_errors
    def create(owner, book_id, name):
        owner, book_id = require_owner(owner), require_book(book_id)
        voice = narrate.create_voice(services, owner, book_id, name)
        return (*voice_view(owner, book_id, voice.id), "")

    @user_errors
    def choose_voice(owner, book_id, voice_id):
        return voice_view(require_owner(owner), require_book(book_id), voice_id)

    @user_errors
    def add(owner, book_id, voice_id, uploads, recorded):
        owner, book_id = require_owner(owner), require_book(book_id)
        paths = list(uploads or []) + ([recorded] if recorded else [])
        narrate.add_recordings(services, owner, book_id, _chosen(voice_id), paths)
        let_go_of_uploads(paths)  # kept with the voice now; both upload boxes are emptied below
        return (*voice_view(owner, book_id, voice_id), None, None)

    @user_errors
    def remove_recording(owner, book_id, voice_id, recording_id):
        owner, book_id = require_owner(owner), require_book(book_id)
        voice_id = _chosen(voice_id)
        if not recording_id:
            refuse("v.choose_recording")
        narrate.remove_recording(services, owner, book_id, voice_id, recording_id)
        return voice_view(owner, book_id, voice_id)

    @user_errors
    def delete_voice(owner, book_id, voice_id):
        owner, book_id = require_owner(owner), require_book(book_id)
        gone = narrate.delete_voice(services, owner, book_id, _chosen(voice_id))
        view = list(voice_view(owner, book_id))
        at = voice_outputs.index(pipeline_md)
        view[at] = f"{say('v.deleted', name=gone.name)}\n\n{view[at]}"
        return (*view, gr.update(visible=False))

    @user_errors
    def consent(owner, book_id, voice_id, who, rel, when, text):
        owner, book_id = require_owner(owner), require_book(book_id)
        narrate.give_consent(services, owner, book_id, _chosen(voice_id), who, rel, when, text)
        return voice_view(owner, book_id, voice_id)

    @user_errors
    def save_pipeline(owner, book_id, voice_id, speaker_, converter_, *knob_values):
        owner, book_id = require_owner(owner), require_book(book_id)
        narrate.set_pipeline(services, owner, book_id, _chosen(voice_id), speaker_, converter_,
                             dict(zip([*KNOB_ORDER, "f0_method"], knob_values)))
        return voice_view(owner, book_id, voice_id)

    @user_errors
    def use_model(owner, book_id, voice_id, pth_path, index_path):
        owner, book_id = require_owner(owner), require_book(book_id)
        narrate.attach_rvc_model(services, owner, book_id, _chosen(voice_id), pth_path, index_path)
        return voice_view(owner, book_id, voice_id)

    @user_errors
    def listen(owner, book_id, voice_id, text, oauth: gr.OAuthToken | None = None):
        r = narrate.preview(services, require_owner(owner), require_book(book_id), _chosen(voice_id), text,
                            credentials=visitor_credentials(oauth))
        return _ui_audio(r.standard), _ui_audio(r.result)

    @user_errors
    def choose_page(owner, book_id, page_id):
        return page_view(require_owner(owner), require_book(book_id), page_id)

    @user_errors
    def narrate_one(owner, book_id, voice_id, page_id, oauth: gr.OAuthToken | None = None):
        owner, book_id = require_owner(owner), require_book(book_id)
        if not page_id:
            refuse("v.choose_page")
        narrate.narrate_page(services, owner, book_id, page_id, voice_id or None, credentials=visitor_credentials(oauth))
        return page_view(owner, book_id, page_id)

    @user_errors
    def choose(owner, book_id, page_id, take_id):
        owner, book_id = require_owner(owner), require_book(book_id)
        if not (page_id and take_id):
            refuse("v.choose_take")
        narrate.choose_take(services, owner, book_id, page_id, take_id)
        return page_view(owner, book_id, page_id)

    @user_errors
    def narrate_all(owner, book_id, only_missing, oauth: gr.OAuthToken | None = None):
        owner, book_id = require_owner(owner), require_book(book_id)
        narrate.pages_to_narrate(store.get(owner, book_id), bool(only_missing))  # a refusal is not a failed job
        token = jobs.start(owner, "narrate")
        done, total = 0, 0
        numbers = {p.id: i + 1 for i, p in enumerate(store.get(owner, book_id).pages)}
        try:
            for event in narrate.narrate_book(services, owner, book_id, token, bool(only_missing),
                                              credentials=visitor_credentials(oauth)):
                done, total = event.done, event.total
                jobs.note(token, pages=done)
                page_id = event.payload.get("page_id")
                if not page_id:
                    yield say("v.narrating")
                    continue
                take = store.get(owner, book_id).page(page_id).chosen_narration()
                yield say("v.page_narrated", page=numbers.get(page_id, "?"),
                                  seconds=f"{take.duration_s:.1f}" if take else "?", done=done, total=total)
            yield say("v.book_narrated", done=done, total=total)
        except Cancelled:
            yield say("v.stopped_after", done=done)
        finally:
            jobs.finish(owner, "narrate", token)

    @user_errors
    def after_book(owner, book_id, page_id):
        """After whole-book narration the takes list and player show the page's new take."""
        if not (owner and book_id):
            return gr.update(), gr.update(), gr.update(), gr.update()
        book = store.get(owner, book_id)
        ready = bool(book.pages) and all(p.chosen_narration() for p in book.pages if p.text.strip())
        return (*page_view(owner, book_id, page_id), gr.update(visible=ready))

    @user_errors
    def cancel(owner):
        stopped = jobs.cancel(require_owner(owner), "narrate")
        return say("v.stopping") if stopped else say("v.nothing_running")

    refresh_io = dict(inputs=[ctx.owner, ctx.book_id], outputs=[*voice_outputs, page_dd, takes_dd, take_audio,
                                                                 step1, relation, converter, ab_text, limit,
                                                                 new_name])
    tab.select(refresh, **refresh_io, api_name="voice_refresh")  # not on book change: see story.py
    create_btn.click(create, [ctx.owner, ctx.book_id, new_name], [*voice_outputs, new_name], api_name="voice_create")
    voice_dd.input(choose_voice, [ctx.owner, ctx.book_id, voice_dd], voice_outputs, api_name="voice_choose")
    add_btn.click(add, [ctx.owner, ctx.book_id, voice_dd, files, mic], [*voice_outputs, files, mic],
                  api_name="voice_add_recordings")
    remove_btn.click(remove_recording, [ctx.owner, ctx.book_id, voice_dd, recordings_dd], voice_outputs,
                     api_name="voice_remove_recording")
    delete_btn.click(lambda: gr.update(visible=True), None, confirm_row, api_visibility="private")
    keep_btn.click(lambda: gr.update(visible=False), None, confirm_row, api_visibility="private")
    voice_dd.change(lambda: gr.update(visible=False), None, confirm_row, api_visibility="private")
    confirm_btn.click(delete_voice, [ctx.owner, ctx.book_id, voice_dd], [*voice_outputs, confirm_row],
                      api_name="voice_delete")
    consent_btn.click(consent, [ctx.owner, ctx.book_id, voice_dd, given_by, relation, date, statement],
                      voice_outputs, api_name="voice_consent")
    pipeline_btn.click(save_pipeline, [ctx.owner, ctx.book_id, voice_dd, speaker, converter, *knobs],
                       voice_outputs, api_name="voice_pipeline")
    model_btn.click(use_model, [ctx.owner, ctx.book_id, voice_dd, pth, index], voice_outputs,
                    api_name="voice_rvc_model", **VOICE_LINE)
    # remote speech (every speaker a voice may pick runs elsewhere or is light): as many as the service takes
    speaking = queue_line(services, "voices", {"speaker": "any", "converter": "any"}, local=VOICE_LINE)
    ab_btn.click(listen, [ctx.owner, ctx.book_id, voice_dd, ab_text], [ab_standard, ab_converted],
                 api_name="voice_preview", **speaking)
    page_dd.input(choose_page, [ctx.owner, ctx.book_id, page_dd], [page_dd, takes_dd, take_audio],
                  api_name="narration_page")
    page_btn.click(narrate_one, [ctx.owner, ctx.book_id, voice_dd, page_dd], [page_dd, takes_dd, take_audio],
                   api_name="narrate_page", **speaking)
    choose_btn.click(choose, [ctx.owner, ctx.book_id, page_dd, takes_dd], [page_dd, takes_dd, take_audio],
                     api_name="narration_choose")
    reveal_next(book_btn.click(narrate_all, [ctx.owner, ctx.book_id, missing_only], progress_md,
                               api_name="narrate_book", **speaking).then(
        after_book, [ctx.owner, ctx.book_id, page_dd], [page_dd, takes_dd, take_audio, to_preview],
        api_visibility="private"))
    cancel_btn.click(cancel, [ctx.owner], progress_md, api_name="narrate_cancel")


def _chosen(voice_id: str | None) -> str:
    if not voice_id:
        refuse("v.choose_first")
    return voice_id


def _ui_audio(audio):
    import numpy as np
    return audio.sample_rate, (np.clip(audio.samples, -1, 1) * 32767).astype("int16")


def _take_audio(services, take, owner):
    if take is None:
        return None
    samples, sr = read_wav(services.store.media_for(owner).existing_path(take.audio))
    import numpy as np
    return sr, (np.clip(samples, -1, 1) * 32767).astype("int16")
