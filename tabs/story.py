"""Story tab: the family's memories -> a picture-book story, then shaping it page by page.

Handlers are thin: UI values -> one ``studio.story`` call -> UI values. Model-written text is shown
in text boxes (never as HTML) or through ``story.escape_md``.
"""
from __future__ import annotations

import functools

import gradio as gr

from studio import story
from studio.backends.remote.common import visitor_credentials, with_credentials
from studio.book import MAX_PAGES, MIN_PAGES
from studio.jobs import Jobs
from tabs.common import TabContext, require_book, require_owner, user_errors

TITLE = "tab.story"
STRINGS = {
    "en": {
        "tab.story": "Story", "st.memories": "Memories", "st.subject": "Who is this book about? (name)",
        "st.relation": "Who were they to you? (e.g. grandma)", "st.traits": "What were they like? (comma separated)",
        "st.keywords": "Memory keywords (comma separated)", "st.anecdotes": "Short memories — one per line",
        "st.photos": "Photos of them (optional)", "st.add_photos": "Add photos", "st.remove_photo": "Remove selected photo",
        "st.tone": "Tone", "st.age": "Reader age", "st.pages": "Pages", "st.language": "Language of the story",
        "st.save": "Save memories", "st.writer": "Story writer", "st.seed": "Variation number",
        "st.write": "Write the story", "st.cancel": "Stop", "st.more": "Writer options",
        "st.confirm": "Yes, replace all pages with a new version", "st.keep": "Keep my pages",
        "st.editor": "Pages", "st.page": "Page", "st.text": "Text", "st.prompt": "Illustration prompt (English)",
        "st.save_page": "Save page", "st.regen_page": "Write this page again", "st.add": "Add page after",
        "st.delete": "Delete page", "st.up": "Move up", "st.down": "Move down",
        "st.new_version": "Write a new version…", "st.sheet": "Character sheet (same look on every page)",
        "st.save_sheet": "Save characters", "st.story": "The story so far",
    },
    "ko": {
        "tab.story": "이야기", "st.memories": "기억", "st.subject": "누구에 대한 책인가요? (이름)",
        "st.relation": "나와의 관계 (예: 할머니)", "st.traits": "어떤 분이었나요? (쉼표로 구분)",
        "st.keywords": "기억의 낱말 (쉼표로 구분)", "st.anecdotes": "짧은 추억 — 한 줄에 하나씩",
        "st.photos": "그분의 사진 (선택)", "st.add_photos": "사진 올리기", "st.remove_photo": "선택한 사진 빼기",
        "st.tone": "분위기", "st.age": "읽을 아이의 나이", "st.pages": "쪽 수", "st.language": "이야기의 언어",
        "st.save": "기억 저장", "st.writer": "이야기 작가", "st.seed": "변주 번호",
        "st.write": "이야기 쓰기", "st.cancel": "멈추기", "st.more": "작가 설정",
        "st.confirm": "네, 모든 쪽을 새 이야기로 바꿉니다", "st.keep": "지금 쪽들을 지킬게요",
        "st.editor": "쪽 다듬기", "st.page": "쪽", "st.text": "글", "st.prompt": "그림 설명 (영어)",
        "st.save_page": "쪽 저장", "st.regen_page": "이 쪽 다시 쓰기", "st.add": "뒤에 쪽 추가",
        "st.delete": "쪽 삭제", "st.up": "위로", "st.down": "아래로",
        "st.new_version": "새 버전 쓰기…", "st.sheet": "등장인물 (모든 쪽에서 같은 모습)",
        "st.save_sheet": "등장인물 저장", "st.story": "지금까지의 이야기",
    },
}
TONE_CHOICES = [("포근한 동화 · gentle fairy tale", "gentle fairy tale"), ("모험 · adventure", "adventure"),
                ("자장가 · lullaby", "lullaby"), ("유쾌한 · funny", "funny"), ("일상 · everyday", "everyday")]
AGE_CHOICES = [("3–5", "3-5"), ("5–8", "5-8"), ("8–12", "8-12")]
LANG_CHOICES = [("한국어", "ko"), ("English", "en")]
SHEET_HEADERS = ["Name / 이름", "Look (English) / 모습"]


def streaming(fn):
    """``user_errors`` for generator handlers: failures while streaming become ``gr.Error`` too."""
    done = object()

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        events = iter(user_errors(fn)(*args, **kwargs))
        step = user_errors(lambda: next(events, done))
        while (item := step()) is not done:
            yield item

    return wrapper


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    store, jobs = services.store, Jobs(services.limits)

    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            gr.Markdown(f"### {t('st.memories')}")
            with gr.Row():
                subject = gr.Textbox(label=t("st.subject"), placeholder="순자", max_length=60)
                relation = gr.Textbox(label=t("st.relation"), placeholder="할머니", max_length=30)
            traits = gr.Textbox(label=t("st.traits"), placeholder="잘 웃으심, 손이 따뜻함", max_length=700)
            keywords = gr.Textbox(label=t("st.keywords"), placeholder="감나무, 눈 내리는 숲의 밤", max_length=1700)
            anecdotes = gr.Textbox(label=t("st.anecdotes"), lines=4, max_length=7300,
                                   placeholder="가을마다 감을 따서 곶감을 만들어 주셨다\n눈 오는 밤에 함께 숲길을 걸었다")
            photos = gr.Gallery(label=t("st.photos"), columns=6, height=120, allow_preview=False, interactive=False)
            with gr.Row():
                upload = gr.File(label=t("st.add_photos"), file_count="multiple", type="filepath",
                                 file_types=["image", ".heic", ".heif", ".avif"], height=80)
                remove_photo_btn = gr.Button(t("st.remove_photo"), size="sm")
            with gr.Row():
                tone = gr.Dropdown(TONE_CHOICES, value="gentle fairy tale", label=t("st.tone"))
                age = gr.Radio(AGE_CHOICES, value="5-8", label=t("st.age"))
            with gr.Row():
                pages = gr.Slider(MIN_PAGES, MAX_PAGES, value=6, step=1, label=t("st.pages"))
                language = gr.Radio(LANG_CHOICES, value="ko", label=t("st.language"))
            with gr.Accordion(t("st.more"), open=False):
                writer_choices, active_writer, _ = story.writer_overview(services.backends)
                writer = gr.Dropdown(writer_choices, value=active_writer or None, label=t("st.writer"),
                                     interactive=True)
                seed = gr.Number(value=0, precision=0, minimum=0, label=t("st.seed"))
            writer_info = gr.Markdown(elem_classes=["gieok-notice"])
            with gr.Row():
                save_btn = gr.Button(t("st.save"))
                write_btn = gr.Button(t("st.write"), variant="primary")
                cancel_btn = gr.Button(t("st.cancel"), variant="stop")
            with gr.Row(visible=False) as confirm_row:
                confirm_btn = gr.Button(t("st.confirm"), variant="stop")
                keep_btn = gr.Button(t("st.keep"))
            status = gr.Markdown(elem_classes=["gieok-notice"])
        with gr.Column(scale=2):
            gr.Markdown(f"### {t('st.editor')}")
            chooser = gr.Dropdown([], label=t("st.page"), interactive=True)
            page_text = gr.Textbox(label=t("st.text"), lines=5, max_length=1500)
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
            gr.Markdown(f"#### {t('st.sheet')}")
            sheet = gr.Dataframe(headers=SHEET_HEADERS, column_count=(2, "fixed"), datatype=["str", "str"],
                                 interactive=True, wrap=True, type="array")
            save_sheet_btn = gr.Button(t("st.save_sheet"), size="sm")
            with gr.Accordion(t("st.story"), open=False):
                overview = gr.Markdown()
    selected_photo = gr.State(None)

    form = [subject, relation, traits, keywords, anecdotes, tone, age, pages, language]
    editor = [chooser, page_text, page_prompt, page_info, overview, sheet]

    def editor_values(book, page_id=None):
        ids = [p.id for p in book.pages]
        page_id = page_id if page_id in ids else (ids[0] if ids else None)
        page = book.page(page_id) if page_id else None
        choices = [(story.page_label(i, p), p.id) for i, p in enumerate(book.pages)]
        info = ""
        if page is not None:
            info = " · ".join(f"{k}: {story.escape_md(v)}" for k, v in (
                ("Setting", page.setting), ("Mood", page.mood), ("Pose", page.pose_hint),
                ("Characters", ", ".join(page.characters))) if v)
        return (gr.update(choices=choices, value=page_id), page.text if page else "",
                page.illustration_prompt if page else "", info, story.story_markdown(book),
                [[c.name, c.description] for c in book.characters] or [["", ""]])

    def photo_images(book):
        from PIL import Image

        images = []
        for ref in book.memories.photos:
            media = services.store.media_for(book.owner)
            if media.exists(ref):
                with Image.open(media.path(ref)) as img:
                    img.thumbnail((256, 256))
                    images.append(img.convert("RGB"))
        return images

    def writer_updates():
        choices, active, why = story.writer_overview(services.backends)
        return gr.update(choices=choices, value=active or None), why

    @user_errors
    def load(owner, book_id):
        writer_dd, why = writer_updates()
        if not (owner and book_id):
            blank = [gr.update()] * len(form)
            return (*blank, [], writer_dd, why, gr.update(choices=[], value=None), "", "", "", "", [["", ""]],
                    "Open a book in the Library first. / 먼저 서재에서 책을 열어 주세요.")
        book = store.get(owner, book_id)
        m = book.memories
        values = (m.subject_name, m.relation, ", ".join(m.traits), ", ".join(m.keywords), "\n".join(m.anecdotes),
                  m.tone, m.reader_age, book.page_count, book.language)
        return (*values, photo_images(book), writer_dd, why, *editor_values(book), "")

    def save_form(owner, book_id, values):
        names = ["subject_name", "relation", "traits", "keywords", "anecdotes", "tone", "reader_age",
                 "page_count", "language"]
        return story.save_memories(store, owner, book_id, **dict(zip(names, values)))

    @user_errors
    def save(owner, book_id, *values):
        book = save_form(require_owner(owner), require_book(book_id), values)
        return f"✓ Memories saved for “{story.escape_md(book.title)}”."

    @user_errors
    def add_photos(owner, book_id, paths):
        book = story.add_photos(store, require_owner(owner), require_book(book_id), paths or [])
        return photo_images(book), None, f"✓ {len(book.memories.photos)} photo(s)"

    @user_errors
    def remove_photo(owner, book_id, index):
        owner, book_id = require_owner(owner), require_book(book_id)
        photos_ = store.get(owner, book_id).memories.photos
        if index is None or not 0 <= index < len(photos_):
            raise gr.Error("Choose a photo first. / 먼저 사진을 골라 주세요.")
        return photo_images(story.remove_photo(store, owner, book_id, photos_[index])), None

    def run_flow(owner, flow_factory, page_id=None, extra=()):
        """Stream a flow's progress into the status line, then show the saved book."""
        token = jobs.start(owner, "story")
        try:
            for event in flow_factory(token):
                if "book" in event.payload:
                    yield (f"{story.escape_md(event.text())}", *extra, *editor_values(event.payload["book"], page_id))
                else:
                    yield (f"⏳ {story.escape_md(event.text())}", *extra, *[gr.update()] * len(editor))
        finally:
            jobs.finish(owner, "story", token)

    def write_common(owner, book_id, writer_name, seed_value, values, replace, oauth=None):
        owner, book_id = require_owner(owner), require_book(book_id)
        book = save_form(owner, book_id, values)
        if book.pages and not replace:
            yield (f"This book already has {len(book.pages)} pages. Writing again replaces them (and their "
                   "pictures and narration). / 이미 쪽이 있어요. 새로 쓰면 모두 바뀝니다.",
                   gr.update(visible=True), gr.update(), *[gr.update()] * len(editor))
            return
        chosen = with_credentials(story.pick_writer(services.backends, writer_name), visitor_credentials(oauth))
        seed_value = int(seed_value or 0) + (1 if replace else 0)  # a new version reads differently
        yield from run_flow(owner, lambda token: story.write_story(
            store, chosen, owner, book_id, token, seed=seed_value, replace=replace),
            extra=(gr.update(visible=False), seed_value))

    @streaming
    def write(owner, book_id, writer_name, seed_value, oauth: gr.OAuthToken | None, *values):
        yield from write_common(owner, book_id, writer_name, seed_value, values, replace=False, oauth=oauth)

    @streaming
    def write_new_version(owner, book_id, writer_name, seed_value, oauth: gr.OAuthToken | None, *values):
        yield from write_common(owner, book_id, writer_name, seed_value, values, replace=True, oauth=oauth)

    def cancel(owner):
        return "Stopping… / 멈추는 중…" if owner and jobs.cancel(owner, "story") else ""

    @streaming
    def regenerate(owner, book_id, page_id, writer_name, seed_value, oauth: gr.OAuthToken | None = None):
        owner, book_id = require_owner(owner), require_book(book_id)
        chosen = with_credentials(story.pick_writer(services.backends, writer_name), visitor_credentials(oauth))
        yield from run_flow(owner, lambda token: story.regenerate_page(
            store, chosen, owner, book_id, _page_id(page_id), token, seed=int(seed_value or 0)), page_id)

    @user_errors
    def select_page(owner, book_id, page_id):
        book = store.get(require_owner(owner), require_book(book_id))
        return editor_values(book, page_id)[1:4]

    @user_errors
    def save_page(owner, book_id, page_id, text, prompt):
        book = story.edit_page(store, require_owner(owner), require_book(book_id), _page_id(page_id), text, prompt)
        return ("✓", *editor_values(book, page_id))

    @user_errors
    def add_page(owner, book_id, page_id):
        book, new_id = story.add_page(store, require_owner(owner), require_book(book_id), page_id or None)
        return ("✓", *editor_values(book, new_id))

    @user_errors
    def delete_page(owner, book_id, page_id):
        owner, book_id = require_owner(owner), require_book(book_id)
        book = store.get(owner, book_id)
        index = next((i for i, p in enumerate(book.pages) if p.id == page_id), 0)
        book = story.delete_page(store, owner, book_id, _page_id(page_id))
        return ("✓", *editor_values(book, book.pages[min(index, len(book.pages) - 1)].id))

    def mover(delta):
        @user_errors
        def move(owner, book_id, page_id):
            book = story.move_page(store, require_owner(owner), require_book(book_id), _page_id(page_id), delta)
            return ("✓", *editor_values(book, page_id))
        return move

    @user_errors
    def save_sheet(owner, book_id, rows):
        rows = rows.values.tolist() if hasattr(rows, "values") else (rows or [])
        book = story.save_characters(store, require_owner(owner), require_book(book_id), rows)
        return "✓", [[c.name, c.description] for c in book.characters] or [["", ""]]

    owner, book_id = ctx.owner, ctx.book_id
    loaded = [*form, photos, writer, writer_info, *editor, status]
    gr.on([tab.select], load, [owner, book_id], loaded, api_name="story_load")
    book_id.change(load, [owner, book_id], loaded, api_visibility="private")
    save_btn.click(save, [owner, book_id, *form], status, api_name="save_memories")
    upload.upload(add_photos, [owner, book_id, upload], [photos, upload, status], api_name="add_photos")
    def pick_photo(evt: gr.SelectData):
        return evt.index

    photos.select(pick_photo, None, selected_photo, api_visibility="private")
    remove_photo_btn.click(remove_photo, [owner, book_id, selected_photo], [photos, selected_photo],
                           api_name="remove_photo")
    writing = [owner, book_id, writer, seed, *form]
    write_out = [status, confirm_row, seed, *editor]
    write_btn.click(write, writing, write_out, api_name="write_story")
    new_version_btn.click(lambda: gr.update(visible=True), None, confirm_row, api_visibility="private")
    confirm_btn.click(write_new_version, writing, write_out, api_name="write_new_version")
    keep_btn.click(lambda: gr.update(visible=False), None, confirm_row, api_visibility="private")
    cancel_btn.click(cancel, [owner], status, api_name="cancel_story", concurrency_limit=None)
    chooser.input(select_page, [owner, book_id, chooser], [page_text, page_prompt, page_info], api_name="select_page")
    page_args = [owner, book_id, chooser]
    regen_btn.click(regenerate, [*page_args, writer, seed], [status, *editor], api_name="regenerate_page")
    save_page_btn.click(save_page, [*page_args, page_text, page_prompt], [status, *editor], api_name="save_page")
    add_btn.click(add_page, page_args, [status, *editor], api_name="add_page")
    delete_btn.click(delete_page, page_args, [status, *editor], api_name="delete_page")
    up_btn.click(mover(-1), page_args, [status, *editor], api_name="move_page_up")
    down_btn.click(mover(+1), page_args, [status, *editor], api_name="move_page_down")
    save_sheet_btn.click(save_sheet, [owner, book_id, sheet], [status, sheet], api_name="save_characters")


def _page_id(page_id: str | None) -> str:
    if not page_id:
        raise gr.Error("Choose a page first. / 먼저 쪽을 골라 주세요.")
    return page_id
