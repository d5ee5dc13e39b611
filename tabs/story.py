"""Story tab: the family's memories -> a picture-book story, then shaping it page by page.

Handlers are thin: UI values -> one ``studio.story`` call -> UI values. Model-written text is shown
in text boxes (never as HTML) or through ``story.escape_md``. Placeholders follow the *book's*
language; labels and status lines follow the visitor's.
"""
from __future__ import annotations

import re
import time

import gradio as gr

from studio import messages, story
from studio.backends.registry import KINDS
from studio.backends.remote.common import visitor_credentials, with_credentials
from studio.book import MAX_PAGES, MIN_PAGES
from studio.jobs import Jobs
from tabs.common import (TabContext, engine_line, engine_name, let_go_of_uploads, next_button, refuse, require_book,
                         require_owner, reveal_next, say, user_errors)

TITLE = "tab.story"
TONES = [("st.tone_gentle", "gentle fairy tale"), ("st.tone_adventure", "adventure"), ("st.tone_lullaby", "lullaby"),
         ("st.tone_funny", "funny"), ("st.tone_everyday", "everyday")]
AGE_CHOICES = [("3–5", "3-5"), ("5–8", "5-8"), ("8–12", "8-12")]
PLACEHOLDERS = ["st.ph_subject", "st.ph_relation", "st.ph_traits", "st.ph_keywords", "st.ph_anecdotes"]


def page_label(index: int, page, width: int = 40) -> str:
    text = re.sub(r"\s+", " ", page.text).strip() or say("st.empty_page")
    return f"{index + 1}. {text[:width]}{'…' if len(text) > width else ''}"


def story_markdown(book) -> str:
    return "\n\n".join(f"**{i + 1}.** {story.escape_md(p.text) or say('st.empty_page')}"
                       for i, p in enumerate(book.pages))


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    store, jobs = services.store, Jobs(services.limits)

    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            gr.Markdown(f"### {t('st.memories')}")
            with gr.Row():
                subject = gr.Textbox(label=t("st.subject"), max_length=60)
                relation = gr.Textbox(label=t("st.relation"), max_length=30)
            # one line each (they grow as the family types) so "Write the story" is on screen at 1440×900
            traits = gr.Textbox(label=t("st.traits"), lines=1, max_length=700)
            keywords = gr.Textbox(label=t("st.keywords"), lines=1, max_length=1700)
            anecdotes = gr.Textbox(label=t("st.anecdotes"), lines=4, max_length=7300)
            with gr.Accordion(t("st.photos"), open=False):
                photos = gr.Gallery(show_label=False, columns=6, height=120, allow_preview=False, interactive=False)
                with gr.Row():
                    upload = gr.File(label=t("st.add_photos"), file_count="multiple", type="filepath",
                                     file_types=["image", ".heic", ".heif", ".avif"], height=150)
                    remove_photo_btn = gr.Button(t("st.remove_photo"), size="sm")
            with gr.Accordion(t("st.more"), open=False):  # the book's settings: sensible defaults
                with gr.Row():
                    tone = gr.Dropdown([(t(k), v) for k, v in TONES], value="gentle fairy tale", label=t("st.tone"))
                    age = gr.Radio(AGE_CHOICES, value="5-8", label=t("st.age"))
                with gr.Row():
                    pages = gr.Slider(MIN_PAGES, MAX_PAGES, value=6, step=1, label=t("st.pages"))
                    language = gr.Radio([(t("lang.ko"), "ko"), (t("lang.en"), "en")], value="ko",
                                        label=t("st.language"))
                active_writer = services.backends.active_or_none("writer")
                writer = gr.Dropdown([(t(f"engine.writer.{name}"), name) for name in KINDS["writer"]],
                                     value=active_writer.name if active_writer else None, label=t("st.writer"),
                                     interactive=True)
                seed = gr.Number(value=0, precision=0, minimum=0, label=t("st.seed"))
            with gr.Row():
                save_btn = gr.Button(t("st.save"))
                write_btn = gr.Button(t("st.write"), variant="primary")
                cancel_btn = gr.Button(t("st.cancel"), variant="stop")
            writer_info = gr.Markdown(elem_classes=["gieok-notice"])  # who writes: said beside the status
            with gr.Row(visible=False) as confirm_row:
                confirm_btn = gr.Button(t("st.confirm"), variant="stop")
                keep_btn = gr.Button(t("st.keep"))
            status = gr.Markdown(elem_classes=["gieok-notice"])
            to_pages = next_button(ctx, "st.to_pages", "pages")
        with gr.Column(scale=2):
            gr.Markdown(f"### {t('st.editor')}")
            chooser = gr.Dropdown([], label=t("st.page"), interactive=True)
            page_text = gr.Textbox(label=t("st.text"), lines=5, max_length=1500)
            with gr.Accordion(t("st.prompt_details"), open=False):  # words for the picture model
                page_prompt = gr.Textbox(label=t("st.prompt"), lines=2, max_length=600)
                page_info = gr.Markdown()
            with gr.Row():
                save_page_btn = gr.Button(t("st.save_page"), variant="primary")
                regen_btn = gr.Button(t("st.regen_page"))
                add_btn = gr.Button(t("st.add"))
                delete_btn = gr.Button(t("st.delete"), variant="stop")
                up_btn = gr.Button(t("st.up"), size="sm")
                down_btn = gr.Button(t("st.down"), size="sm")
            new_version_btn = gr.Button(t("st.new_version"), size="sm")
            page_status = gr.Markdown(elem_classes=["gieok-notice"])  # said beside the buttons that caused it
            with gr.Accordion(t("st.sheet"), open=False):  # looks are written in English for the picture model
                sheet = gr.Dataframe(headers=["", ""], column_count=(2, "fixed"), datatype=["str", "str"],
                                     interactive=True, wrap=True, type="array")
                save_sheet_btn = gr.Button(t("st.save_sheet"), size="sm")
            with gr.Accordion(t("st.story"), open=False):
                overview = gr.Markdown()
    selected_photo = gr.State(None)

    form = [subject, relation, traits, keywords, anecdotes, tone, age, pages, language]
    editor = [chooser, page_text, page_prompt, page_info, overview, sheet]

    def sheet_value(characters):
        return gr.update(value=[[c.name, c.description] for c in characters] or [["", ""]],
                         headers=[say("st.sheet_name"), say("st.sheet_look")])

    def editor_values(book, page_id=None):
        ids = [p.id for p in book.pages]
        page_id = page_id if page_id in ids else (ids[0] if ids else None)
        page = book.page(page_id) if page_id else None
        choices = [(page_label(i, p), p.id) for i, p in enumerate(book.pages)]
        info = ""
        if page is not None:
            info = " · ".join(f"{say(k)}: {story.escape_md(v)}" for k, v in (
                ("st.info_setting", page.setting), ("st.info_mood", page.mood), ("st.info_pose", page.pose_hint),
                ("st.info_characters", ", ".join(page.characters))) if v)
        return (gr.update(choices=choices, value=page_id), page.text if page else "",
                page.illustration_prompt if page else "", info, story_markdown(book), sheet_value(book.characters))

    def photo_images(book):
        from tabs.common import picture

        return [path for ref in book.memories.photos if (path := picture(services, book.owner, ref, 256))]

    def writer_updates():
        active = services.backends.active_or_none("writer")
        choices = [(engine_name("writer", s.name) + ("" if s.availability.ok else " ✗"), s.name)
                   for s in services.backends.statuses() if s.kind == "writer"]
        return gr.update(choices=choices, value=active.name if active else None), engine_line(services, "writer")

    def placeholders(language_):
        return [gr.update(placeholder=messages.text(key, language_)) for key in PLACEHOLDERS]

    @user_errors
    def load(owner, book_id):
        writer_dd, why = writer_updates()
        if not (owner and book_id):
            blank = [gr.update()] * len(form)
            return (*blank, [], writer_dd, why, gr.update(choices=[], value=None), "", "", "", "",
                    sheet_value([]), say("common.no_book_yet"))
        book = store.get(owner, book_id)
        m = book.memories
        texts = [gr.update(value=v, placeholder=p["placeholder"]) for v, p in zip(
            (m.subject_name, m.relation, ", ".join(m.traits), ", ".join(m.keywords), "\n".join(m.anecdotes)),
            placeholders(book.language))]
        values = (*texts, m.tone, m.reader_age, book.page_count, book.language)
        return (*values, photo_images(book), writer_dd, why, *editor_values(book), "")

    def save_form(owner, book_id, values):
        names = ["subject_name", "relation", "traits", "keywords", "anecdotes", "tone", "reader_age",
                 "page_count", "language"]
        return story.save_memories(store, owner, book_id, **dict(zip(names, values)))

    @user_errors
    def save(owner, book_id, *values):
        book = save_form(require_owner(owner), require_book(book_id), values)
        return say("st.saved", title=story.escape_md(book.title))

    @user_errors
    def add_photos(owner, book_id, paths):
        book = story.add_photos(store, require_owner(owner), require_book(book_id), paths or [])
        let_go_of_uploads(paths)  # kept in her store now; the upload box is emptied below
        return photo_images(book), None, say("st.photos_added", count=len(book.memories.photos))

    @user_errors
    def remove_photo(owner, book_id, index):
        owner, book_id = require_owner(owner), require_book(book_id)
        photos_ = store.get(owner, book_id).memories.photos
        if index is None or not 0 <= index < len(photos_):
            refuse("st.no_photo")
        return photo_images(story.remove_photo(store, owner, book_id, photos_[index])), None

    def progress_line(event, engine, started, pages, page_number, book=None):
        """Progress in plain words, made here from the event's numbers (the flow's own text is
        English, for logs). A one-page rewrite has two steps, a whole story three."""
        rewriting = event.total == 2
        if book is not None:
            if rewriting:
                return say("st.rewritten", page=page_number)
            return say("st.written", count=len(book.pages), title=story.escape_md(event.payload.get("title", book.title)))
        if event.done == 0:
            return (say("st.rewriting", engine=engine, page=page_number) if rewriting
                           else say("st.writing", engine=engine, pages=pages))
        if event.done == 1:
            return say("st.writing_time", engine=engine, seconds=int(time.monotonic() - started))
        return say("st.saving")

    def run_flow(owner, book_id, writer_, flow_factory, page_id=None, extra=()):
        """Stream a flow's progress into the status line, then show the saved book."""
        token = jobs.start(owner, "story")
        engine, started = engine_name("writer", writer_.name), time.monotonic()
        book = store.get(owner, book_id)
        page_number = next((i + 1 for i, p in enumerate(book.pages) if p.id == page_id), "")
        try:
            for event in flow_factory(token):
                line = progress_line(event, engine, started, book.page_count, page_number, event.payload.get("book"))
                if "book" in event.payload:
                    jobs.note(token, pages=1 if page_id else len(event.payload["book"].pages), backend=writer_.name)
                    yield (line, *extra, *editor_values(event.payload["book"], page_id))
                else:
                    yield (line, *extra, *[gr.update()] * len(editor))
        finally:
            jobs.finish(owner, "story", token)

    def write_common(owner, book_id, writer_name, seed_value, values, replace, oauth=None):
        owner, book_id = require_owner(owner), require_book(book_id)
        book = save_form(owner, book_id, values)
        if book.pages and not replace:
            yield (say("st.replace_warning", count=len(book.pages)),
                   gr.update(visible=True), gr.update(), *[gr.update()] * len(editor))
            return
        chosen = with_credentials(story.pick_writer(services.backends, writer_name), visitor_credentials(oauth))
        seed_value = int(seed_value or 0) + (1 if replace else 0)  # a new version reads differently
        yield from run_flow(owner, book_id, chosen, lambda token: story.write_story(
            store, chosen, owner, book_id, token, seed=seed_value, replace=replace),
            extra=(gr.update(visible=False), seed_value))

    @user_errors
    def write(owner, book_id, writer_name, seed_value, oauth: gr.OAuthToken | None, *values):
        yield from write_common(owner, book_id, writer_name, seed_value, values, replace=False, oauth=oauth)

    @user_errors
    def write_new_version(owner, book_id, writer_name, seed_value, oauth: gr.OAuthToken | None, *values):
        yield from write_common(owner, book_id, writer_name, seed_value, values, replace=True, oauth=oauth)

    @user_errors
    def cancel(owner):
        return say("st.stopping") if owner and jobs.cancel(owner, "story") else ""

    @user_errors
    def regenerate(owner, book_id, page_id, writer_name, seed_value, oauth: gr.OAuthToken | None = None):
        owner, book_id = require_owner(owner), require_book(book_id)
        chosen = with_credentials(story.pick_writer(services.backends, writer_name), visitor_credentials(oauth))
        yield from run_flow(owner, book_id, chosen, lambda token: story.regenerate_page(
            store, chosen, owner, book_id, _page_id(page_id), token, seed=int(seed_value or 0)), page_id)

    @user_errors
    def select_page(owner, book_id, page_id):
        book = store.get(require_owner(owner), require_book(book_id))
        return editor_values(book, page_id)[1:4]

    @user_errors
    def save_page(owner, book_id, page_id, text, prompt):
        book = story.edit_page(store, require_owner(owner), require_book(book_id), _page_id(page_id), text, prompt)
        return (say("st.page_saved"), *editor_values(book, page_id))

    @user_errors
    def add_page(owner, book_id, page_id):
        book, new_id = story.add_page(store, require_owner(owner), require_book(book_id), page_id or None)
        return (say("st.page_added"), *editor_values(book, new_id))

    @user_errors
    def delete_page(owner, book_id, page_id):
        owner, book_id = require_owner(owner), require_book(book_id)
        book = store.get(owner, book_id)
        index = next((i for i, p in enumerate(book.pages) if p.id == page_id), 0)
        book = story.delete_page(store, owner, book_id, _page_id(page_id))
        return (say("st.page_deleted"), *editor_values(book, book.pages[min(index, len(book.pages) - 1)].id))

    def mover(delta):
        @user_errors
        def move(owner, book_id, page_id):
            book = story.move_page(store, require_owner(owner), require_book(book_id), _page_id(page_id), delta)
            return (say("st.page_moved"), *editor_values(book, page_id))
        return move

    @user_errors
    def save_sheet(owner, book_id, rows):
        rows = rows.values.tolist() if hasattr(rows, "values") else (rows or [])
        book = story.save_characters(store, require_owner(owner), require_book(book_id), rows)
        return say("st.sheet_saved"), sheet_value(book.characters)

    @user_errors
    def show_next(owner, book_id):
        """After writing: the way to the pictures, once the book has pages."""
        has_pages = bool(owner and book_id and store.get(owner, book_id).pages)
        return gr.update(visible=has_pages)

    @user_errors
    def pick_photo(evt: gr.SelectData):
        return evt.index

    @user_errors
    def book_language(language_):
        return placeholders(language_ or "ko")

    owner, book_id = ctx.owner, ctx.book_id
    loaded = [*form, photos, writer, writer_info, *editor, status]
    # Only on showing the tab: the book changes in the Library tab, and a second, late load would
    # wipe what the visitor has begun typing (seen on a busy server).
    gr.on([tab.select], load, [owner, book_id], loaded, api_name="story_load")
    language.input(book_language, [language], [subject, relation, traits, keywords, anecdotes],
                   api_visibility="private")
    save_btn.click(save, [owner, book_id, *form], status, api_name="save_memories")
    upload.upload(add_photos, [owner, book_id, upload], [photos, upload, status], api_name="add_photos")
    photos.select(pick_photo, None, selected_photo, api_visibility="private")
    remove_photo_btn.click(remove_photo, [owner, book_id, selected_photo], [photos, selected_photo],
                           api_name="remove_photo")
    writing = [owner, book_id, writer, seed, *form]
    write_out = [status, confirm_row, seed, *editor]
    reveal_next(write_btn.click(write, writing, write_out, api_name="write_story").then(
        show_next, [owner, book_id], to_pages, api_visibility="private"))
    new_version_btn.click(lambda: gr.update(visible=True), None, confirm_row, api_visibility="private")
    reveal_next(confirm_btn.click(write_new_version, writing, write_out, api_name="write_new_version").then(
        show_next, [owner, book_id], to_pages, api_visibility="private"))
    keep_btn.click(lambda: gr.update(visible=False), None, confirm_row, api_visibility="private")
    cancel_btn.click(cancel, [owner], status, api_name="cancel_story", concurrency_limit=None)
    chooser.input(select_page, [owner, book_id, chooser], [page_text, page_prompt, page_info], api_name="select_page")
    page_args = [owner, book_id, chooser]
    regen_btn.click(regenerate, [*page_args, writer, seed], [page_status, *editor], api_name="regenerate_page")
    save_page_btn.click(save_page, [*page_args, page_text, page_prompt], [page_status, *editor], api_name="save_page")
    add_btn.click(add_page, page_args, [page_status, *editor], api_name="add_page")
    delete_btn.click(delete_page, page_args, [page_status, *editor], api_name="delete_page")
    up_btn.click(mover(-1), page_args, [page_status, *editor], api_name="move_page_up")
    down_btn.click(mover(+1), page_args, [page_status, *editor], api_name="move_page_down")
    save_sheet_btn.click(save_sheet, [owner, book_id, sheet], [page_status, sheet], api_name="save_characters")


def _page_id(page_id: str | None) -> str:
    if not page_id:
        refuse("common.no_page")
    return page_id
