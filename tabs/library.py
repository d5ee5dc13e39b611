"""Library tab: my books — create, open, rename, duplicate, delete, export and import."""
from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from studio import lifecycle, messages
from studio.book import MAX_PAGES, MIN_PAGES
from studio.export.archive import export_archive, import_archive
from tabs.common import (TabContext, next_button, picture, refuse, require_owner, say, user_errors,
                         visitor_language)

TITLE = "tab.library"


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    store = services.store

    welcome = gr.Markdown(t("lib.welcome"), elem_classes=["gieok-welcome"], visible=False)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            gr.Markdown(f"### {t('lib.new')}")
            title = gr.Textbox(label=t("lib.title"), placeholder=t("lib.title_placeholder"), max_length=200)
            dedicated = gr.Textbox(label=t("lib.dedicated"), placeholder=t("lib.dedicated_placeholder"),
                                   max_length=300)
            language = gr.Radio([(t("lang.ko"), "ko"), (t("lang.en"), "en")], value="ko", label=t("lib.language"))
            page_count = gr.Slider(MIN_PAGES, MAX_PAGES, value=6, step=1, label=t("lib.pages"))
            create_btn = gr.Button(t("lib.create"), variant="primary")
            created = gr.Markdown(elem_classes=["gieok-notice"], visible=False)
            to_story = next_button(ctx, "lib.to_story", "story")
            with gr.Accordion(t("lib.import"), open=False):
                upload = gr.File(label=t("lib.archive"), file_types=[".zip"], type="filepath")
        with gr.Column(scale=2, visible=False) as shelf:  # shown once there is a book
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
    def welcome_view(owner):
        """The empty library greets a new family with the way to their first book, and the new
        book's language starts as the visitor's."""
        empty = bool(owner) and not store.list(owner)
        return gr.update(visible=empty), gr.update(visible=bool(owner) and not empty), visitor_language()

    @user_errors
    def shelf_view(owner):
        books = bool(owner) and bool(store.list(owner))
        return gr.update(visible=not books), gr.update(visible=books)

    @user_errors
    def create(owner, title_, dedicated_, language_, pages_):
        owner = require_owner(owner)
        book = store.create(owner, title_, dedicated_, language_, int(pages_))
        drop, thumbs = listing(owner, book.id)
        done = gr.update(value=say("lib.created", title=book.title), visible=True)
        return (book.id, drop, thumbs, done, "", gr.update(visible=True), gr.update(visible=False), gr.update(visible=True),
                "")  # the next book starts with an empty title and dedication

    @user_errors
    def open_book(owner, chosen):
        book = store.get(require_owner(owner), _chosen(chosen))
        return book.id, say("lib.opened", title=book.title), gr.Tabs(selected="story")

    @user_errors
    def rename(owner, chosen, title_):
        owner = require_owner(owner)
        book = store.rename(owner, _chosen(chosen), title_)
        return (*listing(owner, book.id), say("lib.renamed", title=book.title))

    @user_errors
    def duplicate(owner, chosen):
        owner = require_owner(owner)
        source = store.get(owner, _chosen(chosen))
        copy = store.duplicate(owner, source.id, messages.text("lib.copy_suffix", source.language))
        return (*listing(owner, copy.id), say("lib.duplicated", title=copy.title))

    @user_errors
    def delete(owner, chosen, open_id):
        owner = require_owner(owner)
        book_id = _chosen(chosen)
        title_ = next((_label(b) for b in store.list(owner) if b.id == book_id), "")
        store.delete(owner, book_id)  # its photos, recordings and voice files go with it
        still_open = None if open_id == book_id else open_id
        return (*listing(owner), gr.update(visible=False), still_open, say("lib.deleted", title=title_))

    @user_errors
    def export(owner, chosen):
        path = export_archive(store, require_owner(owner), _chosen(chosen), lifecycle.new_export_dir())
        return gr.update(value=str(path), visible=True)

    @user_errors
    def import_(owner, path):
        owner = require_owner(owner)
        if not path:
            refuse("lib.no_archive")
        settings = services.settings
        book = import_archive(store, owner, Path(path), max_expansion=settings.import_max_expansion,
                              max_total_bytes=settings.import_max_mb * 1024**2)
        return (*listing(owner, book.id), say("lib.imported", title=book.title))

    def pick_from_gallery(owner, evt: gr.SelectData):
        books = store.list(owner) if owner else []
        return books[evt.index].id if 0 <= evt.index < len(books) else gr.update()

    lists = [chooser, covers]
    create_btn.click(create, [ctx.owner, title, dedicated, language, page_count],
                     [ctx.book_id, *lists, created, title, to_story, welcome, shelf, dedicated], api_name="create_book")
    gr.on([tab.select], refresh, [ctx.owner], lists, api_name="list_books")
    ctx.owner.change(refresh, [ctx.owner], lists, api_visibility="private")
    gr.on([tab.select, ctx.owner.change], welcome_view, [ctx.owner], [welcome, shelf, language],
          api_visibility="private")
    open_btn.click(open_book, [ctx.owner, chooser], [ctx.book_id, status, ctx.tabs], api_name="open_book")
    covers.select(pick_from_gallery, [ctx.owner], [chooser], api_visibility="private")
    rename_btn.click(rename, [ctx.owner, chooser, new_title], [*lists, status], api_name="rename_book")
    dup_btn.click(duplicate, [ctx.owner, chooser], [*lists, status], api_name="duplicate_book")
    delete_btn.click(lambda: gr.update(visible=True), None, confirm_row, api_visibility="private")
    keep_btn.click(lambda: gr.update(visible=False), None, confirm_row, api_visibility="private")
    confirm_btn.click(delete, [ctx.owner, chooser, ctx.book_id], [*lists, confirm_row, ctx.book_id, status],
                      api_name="delete_book").then(shelf_view, [ctx.owner], [welcome, shelf], api_visibility="private")
    export_btn.click(export, [ctx.owner, chooser], [archive], api_name="export_book")
    upload.upload(import_, [ctx.owner, upload], [*lists, status], api_name="import_book").then(
        shelf_view, [ctx.owner], [welcome, shelf], api_visibility="private")


def _chosen(chosen: str | None) -> str:
    if not chosen:
        refuse("lib.no_choice")
    return chosen


def _label(book) -> str:
    """A damaged record has no trustworthy title: show it as damaged (it can be deleted or exported)."""
    if book.damaged:
        return say('store.damaged_title')
    return book.title


def _thumbnail(services, book):
    """A small cover (a stable file) for the gallery; a soft paper card when there is no picture yet."""
    return picture(services, book.owner, book.cover(), 256) or _paper_card()


def _paper_card():
    """One small file for every visitor, kept (and swept) where the studio's served copies live."""
    path = lifecycle.served_shared("paper-card.png")
    if path.exists():
        return str(path)
    from PIL import Image, ImageDraw

    card = Image.new("RGB", (256, 256), (250, 240, 225))
    draw = ImageDraw.Draw(card)
    draw.rounded_rectangle((16, 16, 240, 240), radius=18, outline=(214, 170, 120), width=4)
    draw.ellipse((98, 70, 158, 130), fill=(240, 196, 140))
    return str(lifecycle.publish(path, lambda partial: card.save(partial, format="PNG")))
