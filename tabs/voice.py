"""Voice tab: recordings of the loved one -> speech -> voice conversion -> narration of each page."""
from __future__ import annotations

import datetime

import gradio as gr

from studio import narrate
from studio.audio import read_wav
from studio.jobs import Jobs
from studio.backends.base import Cancelled
from studio.backends.remote.common import visitor_credentials
from tabs.common import USER_ERRORS, TabContext, require_book, require_owner, user_errors
from tabs.voice_train import build_train_section

TITLE = "tab.voice"
_EN = {
    "tab.voice": "Voice", "v.voice": "Voice", "v.new_name": "New voice name", "v.create": "Create voice",
    "v.step1": "1 · Recordings of her voice", "v.files": "Upload recordings (several files)",
    "v.mic": "…or record here", "v.add": "Add recordings", "v.step2": "2 · Consent",
    "v.given_by": "Who gives consent", "v.relation": "Relation to her", "v.date": "Date",
    "v.statement": "Statement", "v.save_consent": "Save consent", "v.step3": "3 · Speech and conversion",
    "v.speaker": "Speech (reads the text)", "v.converter": "Voice conversion (makes it sound like her)",
    "v.knobs": "Conversion settings", "v.pth": "RVC voice model (.pth)", "v.index": "RVC index (.index, optional)",
    "v.use_model": "Use this model", "v.save_pipeline": "Save choices", "v.ab_text": "Text to try",
    "v.listen": "Listen: standard vs converted", "v.standard": "A · standard voice", "v.converted": "B · converted",
    "v.step4": "4 · Narration", "v.page": "Page", "v.narrate_page": "Narrate this page (new take)",
    "v.takes": "Takes", "v.choose": "Use this take", "v.take": "Chosen take", "v.narrate_book": "Narrate the whole book",
    "v.missing_only": "Only pages without narration", "v.cancel": "Stop",
    "v.recordings": "Recordings of this voice", "v.remove_rec": "Remove this recording",
    "v.delete_voice": "Delete this voice…", "v.delete_confirm": "Yes, delete this voice and its recordings",
    "v.keep": "Keep it", "v.delete_warning": "This deletes the voice, all its recordings and its RVC model files "
    "from the studio for good. Pages already narrated with it keep their narration: those takes are the book's audio.",
}
_KO = {
    "tab.voice": "목소리", "v.voice": "목소리", "v.new_name": "새 목소리 이름", "v.create": "목소리 만들기",
    "v.step1": "1 · 그분의 목소리 녹음", "v.files": "녹음 파일 올리기 (여러 개)", "v.mic": "…또는 여기서 녹음",
    "v.add": "녹음 추가", "v.step2": "2 · 동의", "v.given_by": "동의하는 분", "v.relation": "그분과의 관계",
    "v.date": "날짜", "v.statement": "동의 내용", "v.save_consent": "동의 저장", "v.step3": "3 · 읽기와 목소리 변환",
    "v.speaker": "읽어 주는 음성", "v.converter": "목소리 변환 (그분처럼 들리게)", "v.knobs": "변환 설정",
    "v.pth": "RVC 목소리 모델 (.pth)", "v.index": "RVC 인덱스 (.index, 선택)", "v.use_model": "이 모델 사용",
    "v.save_pipeline": "선택 저장", "v.ab_text": "들어 볼 문장", "v.listen": "듣기: 기본 음성 vs 변환",
    "v.standard": "A · 기본 음성", "v.converted": "B · 변환된 목소리", "v.step4": "4 · 낭독", "v.page": "쪽",
    "v.narrate_page": "이 쪽 낭독 (새 녹음)", "v.takes": "녹음들", "v.choose": "이 녹음 사용", "v.take": "선택된 녹음",
    "v.narrate_book": "책 전체 낭독", "v.missing_only": "낭독 없는 쪽만", "v.cancel": "멈추기",
    "v.recordings": "이 목소리의 녹음 파일", "v.remove_rec": "이 녹음 파일 빼기", "v.delete_voice": "목소리 삭제하기…",
    "v.delete_confirm": "네, 이 목소리와 녹음 파일을 삭제합니다", "v.keep": "남겨 두기",
    "v.delete_warning": "이 목소리와 모든 녹음 파일, RVC 모델 파일을 스튜디오에서 영구히 지웁니다. "
    "이 목소리로 이미 낭독한 쪽의 낭독은 그대로 남습니다 (책의 소리이니까요).",
}
STRINGS = {"en": _EN, "ko": _KO}
CONVERTER_CHOICES = [("Basic voice match (offline)", "voice_match"), ("RVC model", "rvc"),
                     ("None: standard voice", "none")]
CONSENT_TEXT = ("I agree that recordings of this voice are used to narrate this family book, "
                "and only for it.")
KNOB_ORDER = ["transpose", "index_rate", "protect", "filter_radius", "rms_mix_rate", "strength", "rate", "pitch"]
KNOB_LABELS = {"transpose": "Transpose (semitones)", "index_rate": "Index rate (RVC)", "protect": "Protect consonants (RVC)",
               "filter_radius": "Pitch filter radius (RVC)", "rms_mix_rate": "Loudness envelope mix (RVC)",
               "strength": "Match strength (basic)", "rate": "Speaking rate (words per minute)", "pitch": "Base pitch (50 = the voice's own)"}


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    store, jobs = services.store, Jobs(services.limits)

    with gr.Row():
        voice_dd = gr.Dropdown(label=t("v.voice"), choices=[], interactive=True, scale=2)
        new_name = gr.Textbox(label=t("v.new_name"), placeholder="할머니", max_length=100, scale=2)
        create_btn = gr.Button(t("v.create"), scale=1)
        delete_btn = gr.Button(t("v.delete_voice"), variant="stop", scale=1)
    with gr.Row(visible=False) as confirm_row:
        gr.Markdown(t("v.delete_warning"))
        confirm_btn = gr.Button(t("v.delete_confirm"), variant="stop")
        keep_btn = gr.Button(t("v.keep"))
    pipeline_md = gr.Markdown(elem_classes=["gieok-notice"])
    with gr.Row():
        with gr.Column():
            gr.Markdown(f"### {t('v.step1')}")
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
            relation = gr.Textbox(label=t("v.relation"), max_length=100)
            date = gr.Textbox(label=t("v.date"), value=datetime.date.today().isoformat(), max_length=40)
            statement = gr.Textbox(label=t("v.statement"), value=CONSENT_TEXT, lines=3, max_length=2000)
            consent_btn = gr.Button(t("v.save_consent"))
            consent_md = gr.Markdown()
    gr.Markdown(f"### {t('v.step3')}")
    with gr.Row():
        speaker = gr.Radio(label=t("v.speaker"), choices=[("Auto", "auto")], value="auto")
        converter = gr.Radio(label=t("v.converter"), choices=CONVERTER_CHOICES, value="voice_match")
    availability = gr.Markdown()
    gr.Markdown(f"Uploads up to {services.settings.max_file_size_mb} MB each (an RVC v2 model is about 55 MB; "
                "the studio's owner can raise GIEOK_MAX_FILE_SIZE_MB).", elem_classes=["gieok-hint"])
    with gr.Row():
        pth = gr.File(label=t("v.pth"), file_types=[".pth"], type="filepath")
        index = gr.File(label=t("v.index"), file_types=[".index"], type="filepath")
        model_btn = gr.Button(t("v.use_model"))
    with gr.Accordion(t("v.knobs"), open=False):
        with gr.Row():
            knobs = [gr.Slider(lo, hi, value=d, step=1 if isinstance(d, int) or k == "transpose" else 0.01,
                               label=KNOB_LABELS[k]) for k in KNOB_ORDER for d, lo, hi in [narrate.KNOBS[k]]]
            knobs.append(gr.Radio([("pm · Praat (fast)", "pm"), ("harvest · WORLD (steadier)", "harvest"),
                                      ("crepe · torchcrepe (optional)", "crepe"),
                                      ("rmvpe · RMVPE (needs GIEOK_RMVPE_MODEL)", "rmvpe")], value="pm",
                                     label="Pitch method (RVC)"))
    pipeline_btn = gr.Button(t("v.save_pipeline"), variant="primary")
    with gr.Row():
        ab_text = gr.Textbox(label=t("v.ab_text"), value="옛날 옛적에, 감나무 아래에서 할머니가 노래를 불렀어요.", scale=3)
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
    progress_md = gr.Markdown()
    build_train_section(ctx, voice_dd, tab)  # step 5: train her voice (its own module)

    voice_outputs = [voice_dd, summary, given_by, relation, date, statement, consent_md, speaker, converter,
                     availability, pipeline_md, *knobs, recordings_dd]

    def voice_view(owner, book_id, voice_id=None):
        book = store.get(owner, book_id)
        ids = [v.id for v in book.voices]
        voice_id = voice_id if voice_id in ids else (book.narration_voice if book.narration_voice in ids
                                                     else (ids[0] if ids else None))
        voice = book.voice(voice_id) if voice_id else None
        drop = gr.update(choices=[(v.name, v.id) for v in book.voices], value=voice_id)
        speakers = [("Auto", "auto")] + [(s.label, s.name) for s in _statuses(services, "speaker")]
        if voice is None:
            return (drop, "Create a voice first.", "", "", gr.update(), gr.update(), "", gr.update(choices=speakers),
                    gr.update(), _availability_md(services), "", *[gr.update() for _ in knobs],
                    gr.update(choices=[], value=None))
        c = voice.consent
        consent_state = "✓ consent given" if c and c.complete else "Consent is needed before this voice is used."
        values = [voice.conversion.get(k, narrate.KNOBS[k][0]) for k in KNOB_ORDER]
        values.append(voice.conversion.get("f0_method", narrate.F0_METHODS[0]))
        return (drop, narrate.voice_summary(voice), c.given_by if c else "", c.relation if c else "",
                c.date if c else datetime.date.today().isoformat(), c.statement if c else CONSENT_TEXT,
                consent_state, gr.update(choices=speakers, value=voice.speaker or "auto"),
                voice.converter or "none", _availability_md(services), _pipeline_md(services, voice), *values,
                _recording_choices(voice))

    def page_view(owner, book_id, page_id=None):
        book = store.get(owner, book_id)
        ids = [p.id for p in book.pages]
        page_id = page_id if page_id in ids else (ids[0] if ids else None)
        pages = gr.update(choices=[(f"{i + 1}. {p.text[:40]}", p.id) for i, p in enumerate(book.pages)], value=page_id)
        if page_id is None:
            return pages, gr.update(choices=[], value=None), None
        page = book.page(page_id)
        takes = [(f"{i + 1}: {tk.duration_s:.1f} s · {tk.speaker}→{tk.converter}", tk.id) for i, tk in enumerate(page.takes)]
        chosen = page.chosen_narration()
        return pages, gr.update(choices=takes, value=page.chosen_take), _take_audio(services, chosen, owner)

    @user_errors
    def refresh(owner, book_id):
        if not (owner and book_id):
            updates = [gr.update() for _ in voice_outputs]
            updates[voice_outputs.index(pipeline_md)] = "Open a book in the Library first. / 먼저 서재에서 책을 열어 주세요."
            return (*updates, gr.update(choices=[], value=None), gr.update(choices=[], value=None), None)
        return (*voice_view(owner, book_id), *page_view(owner, book_id))

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
        return (*voice_view(owner, book_id, voice_id), None, None)

    @user_errors
    def remove_recording(owner, book_id, voice_id, recording_id):
        owner, book_id = require_owner(owner), require_book(book_id)
        if not recording_id:
            raise gr.Error("Choose the recording to remove.")
        narrate.remove_recording(services, owner, book_id, _chosen(voice_id), recording_id)
        return voice_view(owner, book_id, voice_id)

    @user_errors
    def delete_voice(owner, book_id, voice_id):
        owner, book_id = require_owner(owner), require_book(book_id)
        gone = narrate.delete_voice(services, owner, book_id, _chosen(voice_id))
        view = list(voice_view(owner, book_id))
        at = voice_outputs.index(pipeline_md)
        view[at] = f"🗑 “{gone.name}” deleted; narration already made with it stays.\n\n{view[at]}"
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
            raise gr.Error("Choose a page.")
        narrate.narrate_page(services, owner, book_id, page_id, voice_id or None, credentials=visitor_credentials(oauth))
        return page_view(owner, book_id, page_id)

    @user_errors
    def choose(owner, book_id, page_id, take_id):
        owner, book_id = require_owner(owner), require_book(book_id)
        if not (page_id and take_id):
            raise gr.Error("Choose a page and one of its takes.")
        narrate.choose_take(services, owner, book_id, page_id, take_id)
        return page_view(owner, book_id, page_id)

    def narrate_all(owner, book_id, only_missing, oauth: gr.OAuthToken | None = None):  # a generator: user_errors cannot wrap it
        owner, book_id = require_owner(owner), require_book(book_id)
        token = jobs.start(owner, "narrate")
        done = "0"
        try:
            for event in narrate.narrate_book(services, owner, book_id, token, bool(only_missing),
                                              credentials=visitor_credentials(oauth)):
                done = f"{event.done}/{event.total}"
                yield f"{done} · {event.message}"
            yield f"✓ {done} pages narrated."
        except Cancelled:
            yield f"Stopped after {done} pages; the narrated pages are kept."
        except USER_ERRORS as exc:
            raise gr.Error(str(exc)) from None
        finally:
            jobs.finish(owner, "narrate", token)

    @user_errors
    def cancel(owner):
        stopped = jobs.cancel(require_owner(owner), "narrate")
        return "Stopping after the current page…" if stopped else "Nothing is running."

    refresh_io = dict(inputs=[ctx.owner, ctx.book_id], outputs=[*voice_outputs, page_dd, takes_dd, take_audio])
    tab.select(refresh, **refresh_io, api_name="voice_refresh")
    ctx.book_id.change(refresh, **refresh_io, api_visibility="private")
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
                    api_name="voice_rvc_model", concurrency_id="gpu", concurrency_limit=1)
    ab_btn.click(listen, [ctx.owner, ctx.book_id, voice_dd, ab_text], [ab_standard, ab_converted],
                 api_name="voice_preview", concurrency_id="gpu", concurrency_limit=1)
    page_dd.input(choose_page, [ctx.owner, ctx.book_id, page_dd], [page_dd, takes_dd, take_audio],
                  api_name="narration_page")
    page_btn.click(narrate_one, [ctx.owner, ctx.book_id, voice_dd, page_dd], [page_dd, takes_dd, take_audio],
                   api_name="narrate_page", concurrency_id="gpu", concurrency_limit=1)
    choose_btn.click(choose, [ctx.owner, ctx.book_id, page_dd, takes_dd], [page_dd, takes_dd, take_audio],
                     api_name="narration_choose")
    book_btn.click(narrate_all, [ctx.owner, ctx.book_id, missing_only], progress_md, api_name="narrate_book",
                   concurrency_id="gpu", concurrency_limit=1)
    cancel_btn.click(cancel, [ctx.owner], progress_md, api_name="narrate_cancel")


def _chosen(voice_id: str | None) -> str:
    if not voice_id:
        raise gr.Error("Create or choose a voice first.")
    return voice_id


def _recording_choices(voice):
    choices = [(f"{r.original_name} · {r.duration_s:.1f} s · {len(r.clips)} clips", r.id) for r in voice.recordings]
    return gr.update(choices=choices, value=choices[0][1] if choices else None)


def _statuses(services, kind: str):
    return [s for s in services.backends.statuses() if s.kind == kind]


def _availability_md(services) -> str:
    rows = [f"- {'✓' if s.availability.ok else '✗ not available:'} **{s.label}** — {s.availability.reason}"
            for kind in ("speaker", "converter") for s in _statuses(services, kind)]
    return "\n".join(rows)


def _pipeline_md(services, voice) -> str:
    minutes = voice.profile.get("usable_minutes", 0)
    active = services.backends.active_or_none("speaker")
    speaker = voice.speaker or f"auto ({active.label if active else 'none available'})"
    converter = dict((v, k) for k, v in CONVERTER_CHOICES).get(voice.converter or "none", voice.converter)
    model = f" ({voice.profile.get('rvc', {}).get('version', '?')} model)" if voice.converter == "rvc" else ""
    consent = "consent ✓" if voice.consent and voice.consent.complete else "consent needed"
    return (f"**Recordings** {minutes:.1f} min → **Speech** {speaker} → **Conversion** {converter}{model} "
            f"→ **Result** (−18 LUFS) · {consent}")


def _ui_audio(audio):
    import numpy as np
    return audio.sample_rate, (np.clip(audio.samples, -1, 1) * 32767).astype("int16")


def _take_audio(services, take, owner):
    if take is None:
        return None
    samples, sr = read_wav(services.store.media_for(owner).existing_path(take.audio))
    import numpy as np
    return sr, (np.clip(samples, -1, 1) * 32767).astype("int16")
