"""Library tab: my books — create, open, rename, duplicate, delete, export and import."""
from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from studio import lifecycle
from studio.book import MAX_PAGES, MIN_PAGES
from studio.export.archive import export_archive, import_archive
from studio.messages import text
from tabs.common import TabContext, require_owner, user_errors

TITLE = "tab.library"
STRINGS = {
    "en": {
        "tab.library": "Library",
        "lib.new": "New book",
        "lib.title": "Title",
        "lib.dedicated": "Dedicated to",
        "lib.language": "Language of the book",
        "lib.pages": "Number of pages",
        "lib.create": "Create book",
        "lib.mine": "My books",
        "lib.choose": "Book",
        "lib.open": "Open",
        "lib.rename_to": "New title",
        "lib.rename": "Rename",
        "lib.duplicate": "Duplicate",
        "lib.delete": "Delete…",
        "lib.confirm": "Yes, delete this book forever",
        "lib.cancel": "Keep it",
        "lib.export": "Download as archive (.zip)",
        "lib.import": "Import a book archive (.zip)",
        "lib.archive": "Archive",
    },
    "ko": {
        "tab.library": "서재",
        "lib.new": "새 책",
        "lib.title": "제목",
        "lib.dedicated": "이 책을 바치는 분",
        "lib.language": "책의 언어",
        "lib.pages": "쪽 수",
        "lib.create": "책 만들기",
        "lib.mine": "나의 책",
        "lib.choose": "책",
        "lib.open": "열기",
        "lib.rename_to": "새 제목",
        "lib.rename": "이름 바꾸기",
        "lib.duplicate": "복제",
        "lib.delete": "삭제…",
        "lib.confirm": "네, 이 책을 영구히 삭제합니다",
        "lib.cancel": "취소",
        "lib.export": "보관 파일(.zip)로 내려받기",
        "lib.import": "보관 파일(.zip) 가져오기",
        "lib.archive": "보관 파일",
    },
}
LANG_CHOICES = [("한국어", "ko"), ("English", "en")]


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    store = services.store

    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            gr.Markdown(f"### {t('lib.new')}")
            title = gr.Textbox(label=t("lib.title"), placeholder="할머니의 감나무", max_length=200)
            dedicated = gr.Textbox(label=t("lib.dedicated"), placeholder="사랑하는 순자 할머니께", max_length=300)
            language = gr.Radio(LANG_CHOICES, value="ko", label=t("lib.language"))
            page_count = gr.Slider(MIN_PAGES, MAX_PAGES, value=6, step=1, label=t("lib.pages"))
            create_btn = gr.Button(t("lib.create"), variant="primary")
            gr.Markdown(f"### {t('lib.import')}")
            upload = gr.File(label=t("lib.archive"), file_types=[".zip"], type="filepath")
        with gr.Column(scale=2):
            gr.Markdown(f"### {t('lib.mine')}")
            covers = gr.Gallery(show_label=False, columns=6, rows=1, height=180, object_fit="contain",
                                allow_preview=False, preview=False, fit_columns=False,
                                elem_classes=["gieok-book-card"])
            chooser = gr.Dropdown(label=t("lib.choose"), choices=[], interactive=True)
            with gr.Row():
                open_btn = gr.Button(t("lib.open"), variant="primary")
                dup_btn = gr.Button(t("lib.duplicate"))
                export_btn = gr.Button(t("lib.export"))
                delete_btn = gr.Button(t("lib.delete"), variant="stop")
            with gr.Row(visible=False) as confirm_row:
                confirm_btn = gr.Button(t("lib.confirm"), variant="stop")
                keep_btn = gr.Button(t("lib.cancel"))
            with gr.Row():
                new_title = gr.Textbox(label=t("lib.rename_to"), max_length=200, scale=3)
                rename_btn = gr.Button(t("lib.rename"), scale=1)
            archive = gr.File(label=t("lib.archive"), interactive=False, visible=False, height=80)
            status = gr.Markdown(elem_classes=["gieok-notice"])

    def listing(owner: str, selected: str | None = None):
        books = store.list(owner)
        choices = [(f"{_label(b)} · {time.strftime('%Y-%m-%d %H:%M', time.localtime(b.updated))}", b.id) for b in books]
        ids = [b.id for b in books]
        value = selected if selected in ids else (ids[0] if ids else None)
        thumbs = [(_thumbnail(services, b), _label(b)) for b in books]
        return gr.update(choices=choices, value=value), thumbs

    @user_errors
    def refresh(owner):
        if not owner:  # the page is still starting; the owner's arrival triggers a refresh
            return gr.update(choices=[], value=None), []
        return listing(owner)

    @user_errors
    def create(owner, title_, dedicated_, language_, pages_):
        owner = require_owner(owner)
        book = store.create(owner, title_, dedicated_, language_, int(pages_))
        drop, thumbs = listing(owner, book.id)
        return book.id, drop, thumbs, f"“{book.title}” ✓", ""

    @user_errors
    def open_book(owner, chosen):
        book = store.get(require_owner(owner), _chosen(chosen))
        return book.id, f"📖 “{book.title}”", gr.Tabs(selected="story")

    @user_errors
    def rename(owner, chosen, title_):
        owner = require_owner(owner)
        book = store.rename(owner, _chosen(chosen), title_)
        return (*listing(owner, book.id), f"✓ “{book.title}”")

    @user_errors
    def duplicate(owner, chosen):
        owner = require_owner(owner)
        source = store.get(owner, _chosen(chosen))
        copy = store.duplicate(owner, source.id, " (사본)" if source.language == "ko" else " (copy)")
        return (*listing(owner, copy.id), f"✓ “{copy.title}”")

    @user_errors
    def delete(owner, chosen, open_id):
        owner = require_owner(owner)
        book_id = _chosen(chosen)
        title_ = next((_label(b) for b in store.list(owner) if b.id == book_id), "")
        store.delete(owner, book_id)  # its photos, recordings and voice files go with it
        still_open = None if open_id == book_id else open_id
        return (*listing(owner), gr.update(visible=False), still_open, f"🗑 “{title_}”")

    @user_errors
    def export(owner, chosen):
        path = export_archive(store, require_owner(owner), _chosen(chosen), lifecycle.new_export_dir())
        return gr.update(value=str(path), visible=True)

    @user_errors
    def import_(owner, path):
        owner = require_owner(owner)
        if not path:
            raise gr.Error("Choose a .zip book archive first.")
        settings = services.settings
        book = import_archive(store, owner, Path(path), max_expansion=settings.import_max_expansion,
                              max_total_bytes=settings.import_max_mb * 1024**2)
        return (*listing(owner, book.id), f"✓ “{book.title}”")

    def pick_from_gallery(owner, evt: gr.SelectData):
        books = store.list(owner) if owner else []
        return books[evt.index].id if 0 <= evt.index < len(books) else gr.update()

    lists = [chooser, covers]
    create_btn.click(create, [ctx.owner, title, dedicated, language, page_count],
                     [ctx.book_id, *lists, status, title], api_name="create_book")
    gr.on([tab.select], refresh, [ctx.owner], lists, api_name="list_books")
    ctx.owner.change(refresh, [ctx.owner], lists, api_visibility="private")
    open_btn.click(open_book, [ctx.owner, chooser], [ctx.book_id, status, ctx.tabs], api_name="open_book")
    covers.select(pick_from_gallery, [ctx.owner], [chooser], api_visibility="private")
    rename_btn.click(rename, [ctx.owner, chooser, new_title], [*lists, status], api_name="rename_book")
    dup_btn.click(duplicate, [ctx.owner, chooser], [*lists, status], api_name="duplicate_book")
    delete_btn.click(lambda: gr.update(visible=True), None, confirm_row, api_visibility="private")
    keep_btn.click(lambda: gr.update(visible=False), None, confirm_row, api_visibility="private")
    confirm_btn.click(delete, [ctx.owner, chooser, ctx.book_id], [*lists, confirm_row, ctx.book_id, status],
                      api_name="delete_book")
    export_btn.click(export, [ctx.owner, chooser], [archive], api_name="export_book")
    upload.upload(import_, [ctx.owner, upload], [*lists, status], api_name="import_book")


def _chosen(chosen: str | None) -> str:
    if not chosen:
        raise gr.Error("Choose a book first. / 먼저 책을 골라 주세요.")
    return chosen


def _label(book) -> str:
    """A damaged record has no trustworthy title: show it as damaged (it can be deleted or exported)."""
    if book.damaged:
        return f"{text('store.damaged_title', 'ko')} · {text('store.damaged_title', 'en').lstrip('⚠ ')}"
    return book.title


def _thumbnail(services, book):
    """A small cover image (PIL) for the gallery; a soft paper card when there is no picture yet."""
    from PIL import Image, ImageDraw

    ref = book.cover()
    media = services.store.media_for(book.owner)
    if ref and media.exists(ref):
        try:
            with Image.open(media.path(ref)) as img:
                img.thumbnail((256, 256))
                return img.convert("RGB")
        except OSError:
            pass
    card = Image.new("RGB", (256, 256), (250, 240, 225))
    draw = ImageDraw.Draw(card)
    draw.rounded_rectangle((16, 16, 240, 240), radius=18, outline=(214, 170, 120), width=4)
    draw.ellipse((98, 70, 158, 130), fill=(240, 196, 140))
    return card
