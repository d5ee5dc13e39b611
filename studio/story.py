"""Story flows: the family's memories, writing the whole story into the book, and page editing.

Every change goes through ``store.update`` (one locked read-modify-write), and nothing holds a Book
across a model call: the flow reads what it needs, lets the writer work, then applies the result to
a fresh copy of the book. Writing streams ``Progress`` events while a model thinks; the cancel
token stops it within a fraction of a second and leaves the book as it was.
"""
from __future__ import annotations

import html
import re
import threading
import time
from typing import Any, Callable, Iterable, Iterator, TypeVar

from studio.backends.base import (Cancelled, CancelToken, CharacterDraft, PageDraft, StoryDraft,
                                  StoryRequest)
from studio.backends.llm_json import CAPS, MAX_CHARACTERS, clean_prompt, clean_text, nearest_pose
from studio.book import LANGUAGES, MAX_PAGES, MIN_PAGES, Book, Character, Page
from studio.jobs import Progress
from studio.messages import UserError

T = TypeVar("T")
STORY_TONES = ("gentle fairy tale", "adventure", "lullaby", "funny", "everyday")
READER_AGES = ("3-5", "5-8", "8-12")
MAX_ITEMS = {"traits": 10, "keywords": 20, "anecdotes": 12}
ITEM_CAPS = {"traits": 60, "keywords": 80, "anecdotes": 600}
MAX_PHOTOS = 12
_SPLIT = {"traits": r"[,\n·、]+", "keywords": r"[,\n·、]+", "anecdotes": r"\n+"}


# -- memories ------------------------------------------------------------------------------------
def split_items(kind: str, value: str | Iterable[str] | None) -> list[str]:
    """Comma/line separated text (or a list) -> cleaned, de-duplicated, capped items."""
    parts = re.split(_SPLIT[kind], value) if isinstance(value, str) else list(value or [])
    items: list[str] = []
    for part in parts:
        item = clean_text(part, ITEM_CAPS[kind], one_line=True).strip("-•* ")
        if item and item not in items:
            items.append(item)
    return items[:MAX_ITEMS[kind]]


def save_memories(store, owner: str, book_id: str, *, subject_name: str, relation: str = "",
                  traits: Any = "", keywords: Any = "", anecdotes: Any = "", tone: str = STORY_TONES[0],
                  reader_age: str = "5-8", page_count: int = 6, language: str = "ko") -> Book:
    page_count = int(page_count or 6)
    if not MIN_PAGES <= page_count <= MAX_PAGES:
        raise UserError("story.page_count_range", min=MIN_PAGES, max=MAX_PAGES)
    if language not in LANGUAGES:
        raise UserError("story.language_unknown")

    def change(book: Book) -> None:
        memories = book.memories
        memories.subject_name = clean_text(subject_name, 60, one_line=True)
        memories.relation = clean_text(relation, 30, one_line=True)
        memories.traits = split_items("traits", traits)
        memories.keywords = split_items("keywords", keywords)
        memories.anecdotes = split_items("anecdotes", anecdotes)
        memories.tone = tone if tone in STORY_TONES else STORY_TONES[0]
        memories.reader_age = reader_age if reader_age in READER_AGES else "5-8"
        book.page_count, book.language = page_count, language

    return store.update(owner, book_id, change)


def add_photos(store, owner: str, book_id: str, paths: Iterable[str]) -> Book:
    """Photos of the loved one: opened safely (size/bomb checks, EXIF stripped), kept as PNG refs."""
    from studio.images import open_user_image, to_png_bytes

    pngs = [to_png_bytes(open_user_image(p)) for p in paths if p]  # all checked before any is stored
    media = store.media_for(owner)
    refs = [media.put_bytes(png, "png") for png in pngs]

    def change(book: Book) -> None:
        photos = book.memories.photos
        for ref in refs:
            if ref not in photos:
                photos.append(ref)
        if len(photos) > MAX_PHOTOS:
            raise UserError("story.too_many_photos", max=MAX_PHOTOS)
        subject = _subject(book)
        if subject is not None:
            subject.photos = list(photos)

    return store.update(owner, book_id, change)


def remove_photo(store, owner: str, book_id: str, ref: str) -> Book:
    def change(book: Book) -> None:
        book.memories.photos = [p for p in book.memories.photos if p != ref]
        for character in book.characters:
            character.photos = [p for p in character.photos if p != ref]

    book = store.update(owner, book_id, change)
    store.delete_media_if_unreferenced(owner, [ref])  # the photo leaves the disk unless still used
    return book


def request_for(book: Book, seed: int = 0) -> StoryRequest:
    m = book.memories
    if not m.subject_name.strip():
        raise UserError("story.name_missing")
    if not (m.keywords or m.anecdotes):
        raise UserError("story.memory_missing")
    return StoryRequest(subject_name=m.subject_name, relation=m.relation, traits=list(m.traits),
                        keywords=list(m.keywords), anecdotes=list(m.anecdotes), tone=m.tone,
                        reader_age=m.reader_age, page_count=book.page_count, language=book.language,
                        seed=int(seed or 0))


# -- writing -------------------------------------------------------------------------------------
def pick_writer(backends, name: str | None):
    """The writer the family chose (or the active one); refuses an unavailable one with its reason."""
    from studio.backends.base import BackendError

    if not name or name == "auto":
        return backends.active("writer")
    writer = backends.get("writer", name)
    status = writer.available()
    if not status.ok:
        raise BackendError("story.writer_unavailable", writer=writer.label, reason=status)
    return writer


def write_story(store, writer, owner: str, book_id: str, cancel: CancelToken, seed: int = 0,
                replace: bool = False, poll_s: float = 0.2) -> Iterator[Progress]:
    """Write the whole story into the book (pages + character sheet). Existing pages are only
    replaced with ``replace=True`` (the UI asks first)."""
    book = store.get(owner, book_id)
    if book.pages and not replace:
        raise UserError("story.confirm_replace", pages=len(book.pages))
    request = request_for(book, seed)
    yield Progress(0, 3, "story.progress_writing", values={"writer": writer.label, "pages": request.page_count})
    draft: StoryDraft = yield from _wait(lambda: writer.write_story(request, cancel), cancel, writer.label, poll_s)
    cancel.raise_if_cancelled()
    yield Progress(2, 3, "story.progress_saving")
    book = store.update(owner, book_id, lambda b: apply_story(b, draft))
    yield Progress(3, 3, "story.progress_written", {"book": book, "title": draft.title},
                   values={"pages": len(book.pages), "title": draft.title})


def regenerate_page(store, writer, owner: str, book_id: str, page_id: str, cancel: CancelToken,
                    seed: int = 0, poll_s: float = 0.2) -> Iterator[Progress]:
    """A fresh version of one page; the writer sees the whole story, neighbours included."""
    book = store.get(owner, book_id)
    index = _index(book, page_id)
    request = request_for(book, seed)
    drafts = [draft_of(p) for p in book.pages]
    yield Progress(0, 2, "story.progress_rewriting", values={"writer": writer.label, "page": index + 1})
    draft: PageDraft = yield from _wait(lambda: writer.rewrite_page(request, drafts, index, cancel),
                                        cancel, writer.label, poll_s)
    cancel.raise_if_cancelled()
    book = store.update(owner, book_id, lambda b: apply_page(b.page(page_id), draft))
    yield Progress(2, 2, "story.progress_rewritten", {"book": book}, values={"page": _index(book, page_id) + 1})


def _wait(work: Callable[[], T], cancel: CancelToken, label: str, poll_s: float):
    """Run a blocking model call in a worker thread, yielding a heartbeat each second and
    returning its result; cancel answers at once (the late answer is dropped)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=run, name="story-writer", daemon=True)
    started, last = time.monotonic(), 0
    worker.start()
    while worker.is_alive():
        worker.join(poll_s)
        if cancel.cancelled:
            raise Cancelled("story.stopped_unchanged")
        seconds = int(time.monotonic() - started)
        if seconds > last:
            last = seconds
            yield Progress(1, 3, "story.progress_heartbeat", values={"writer": label, "seconds": seconds})
    if "error" in box:
        raise box["error"]
    return box["value"]


def apply_story(book: Book, draft: StoryDraft) -> None:
    """Pages and character sheet from a draft. Any writer's output is sanitised again here."""
    if not draft.pages:
        raise UserError("story.no_pages_returned")
    pages = []
    for d in draft.pages[:MAX_PAGES]:
        page = Page()
        apply_page(page, d)
        pages.append(page)
    book.pages = pages
    book.characters = _merge_characters(book, draft.characters)
    names = [c.name for c in book.characters]
    for page in pages:  # the Pages tab finds each look by exact name: point page names at the sheet
        page.characters = list(dict.fromkeys(_sheet_name(n, names) for n in page.characters))


def _sheet_name(name: str, sheet: list[str]) -> str:
    low = name.lower()
    exact = next((s for s in sheet if s.lower() == low), None)
    if exact:
        return exact
    close = [s for s in sheet if low in s.lower() or s.lower() in low]
    return close[0] if len(close) == 1 else name


def apply_page(page: Page, draft: PageDraft) -> None:
    page.text = clean_text(draft.text, CAPS["text"])
    page.illustration_prompt = clean_prompt(draft.illustration_prompt)
    page.characters = [c for c in (clean_text(n, CAPS["name"], True) for n in draft.characters[:MAX_CHARACTERS]) if c]
    page.setting = clean_text(draft.setting, CAPS["setting"], True)
    page.mood = clean_text(draft.mood, CAPS["mood"], True)
    page.pose_hint = nearest_pose(draft.pose_hint)
    page.image.prompt = ""  # the Pages tab composes style + characters + this page's prompt


def _merge_characters(book: Book, drafts: list[CharacterDraft]) -> list[Character]:
    """The new sheet keeps what the family already did: an existing character of the same name
    keeps its id, its (possibly edited) description, photos and consent."""
    existing = {c.name.strip().lower(): c for c in book.characters}
    sheet: list[Character] = []
    for d in drafts[:MAX_CHARACTERS]:
        name = clean_text(d.name, CAPS["name"], True)
        if not name or any(c.name.lower() == name.lower() for c in sheet):
            continue
        old = existing.pop(name.lower(), None)
        if old is not None:
            old.description = old.description or clean_prompt(d.description, CAPS["description"])
            sheet.append(old)
        else:
            description = clean_prompt(d.description, CAPS["description"])
            if book.memories.subject_name and book.memories.subject_name in name:
                description = _fits_relation(description, book.memories.relation, book.memories.traits)
            sheet.append(Character(name=name, description=description))
    sheet += [c for c in existing.values() if c.photos or c.consent]  # never drop what has photos/consent
    subject = next((c for c in sheet if book.memories.subject_name and book.memories.subject_name in c.name), None)
    if subject is not None:
        subject.relation = subject.relation or book.memories.relation
        subject.photos = subject.photos or list(book.memories.photos)
    return sheet


def _fits_relation(description: str, relation: str, traits: list[str]) -> str:
    """A writer's look for the loved one that crosses the relation's sex (a grandfather "with gray
    hair in a neat bun, wearing a rose-colored blouse") is replaced by the relation's own look,
    the family's described hair and clothes included."""
    from studio import people

    person, look = people.describe(relation, traits)
    if person.sex and people.crossed_words(description, person.sex) and not people.crossed_words(
            " ".join(traits), person.sex):
        return clean_prompt(look, CAPS["description"])
    return description


def _subject(book: Book) -> Character | None:
    name = book.memories.subject_name
    return next((c for c in book.characters if name and name in c.name), None)


def draft_of(page: Page) -> PageDraft:
    return PageDraft(text=page.text, illustration_prompt=page.illustration_prompt, characters=list(page.characters),
                     setting=page.setting, mood=page.mood, pose_hint=page.pose_hint)


# -- editing -------------------------------------------------------------------------------------
def edit_page(store, owner: str, book_id: str, page_id: str, text: str, illustration_prompt: str) -> Book:
    def change(book: Book) -> None:
        page = book.page(page_id)
        page.text = clean_text(text, CAPS["text"])
        prompt = clean_prompt(illustration_prompt)
        if prompt != page.illustration_prompt:
            page.illustration_prompt = prompt
            page.image.prompt = ""

    return store.update(owner, book_id, change)


def add_page(store, owner: str, book_id: str, after_page_id: str | None = None) -> tuple[Book, str]:
    new = Page(text="", illustration_prompt="")

    def change(book: Book) -> None:
        if len(book.pages) >= MAX_PAGES:
            raise UserError("story.too_many_pages", max=MAX_PAGES)
        at = _index(book, after_page_id) + 1 if after_page_id else len(book.pages)
        book.pages.insert(at, new)

    return store.update(owner, book_id, change), new.id


def delete_page(store, owner: str, book_id: str, page_id: str) -> Book:
    def change(book: Book) -> None:
        if len(book.pages) <= 1:
            raise UserError("story.last_page")
        gone.extend(book.media_refs())
        book.pages.pop(_index(book, page_id))

    gone: list[str] = []
    book = store.update(owner, book_id, change)
    store.delete_media_if_unreferenced(owner, gone)  # that page's pictures and takes, unless still used
    return book


def move_page(store, owner: str, book_id: str, page_id: str, delta: int) -> Book:
    def change(book: Book) -> None:
        i = _index(book, page_id)
        j = max(0, min(len(book.pages) - 1, i + int(delta)))
        book.pages.insert(j, book.pages.pop(i))

    return store.update(owner, book_id, change)


def save_characters(store, owner: str, book_id: str, rows: Iterable[Iterable[Any]]) -> Book:
    """The edited character sheet: rows of (name, description). A row keeps the photos and consent
    of the character that had its name (or its place, when only the name was changed)."""
    cleaned = []
    for row in rows:
        values = list(row) + ["", ""]
        name = clean_text(values[0], CAPS["name"], True)
        if name and name.lower() not in [n.lower() for n, _ in cleaned]:
            cleaned.append((name, clean_prompt(values[1], CAPS["description"])))
    if len(cleaned) > MAX_CHARACTERS * 2:
        raise UserError("story.too_many_characters", max=MAX_CHARACTERS * 2)

    def change(book: Book) -> None:
        by_name = {c.name.lower(): c for c in book.characters}
        sheet = []
        for i, (name, description) in enumerate(cleaned):
            old = by_name.get(name.lower())
            if old is None and i < len(book.characters) and book.characters[i].name.lower() not in \
                    [n.lower() for n, _ in cleaned]:
                old = book.characters[i]  # renamed in place
            character = old or Character()
            if old is not None and old.name != name:  # renamed: pages keep pointing at this character
                for page in book.pages:
                    page.characters = [name if n == old.name else n for n in page.characters]
            character.name, character.description = name, description
            sheet.append(character)
        gone.extend(p for c in book.characters if c not in sheet for p in c.photos)
        book.characters = sheet

    gone: list[str] = []
    book = store.update(owner, book_id, change)
    store.delete_media_if_unreferenced(owner, gone)  # a removed character's photos, unless still used
    return book


# -- showing -------------------------------------------------------------------------------------
def page_label(index: int, page: Page, width: int = 40) -> str:
    """One line for the page chooser: number and the start of the text (no newlines, capped)."""
    text = re.sub(r"\s+", " ", page.text).strip() or "(empty page)"
    return f"{index + 1}. {text[:width]}{'…' if len(text) > width else ''}"


def story_markdown(book: Book) -> str:
    """The whole story for reading on the tab; every model-written word is escaped."""
    if not book.pages:
        return ""
    lines = []
    for i, page in enumerate(book.pages):
        lines.append(f"**{i + 1}.** {escape_md(page.text) or '_(empty)_'}")
    return "\n\n".join(lines)


def escape_md(text: str) -> str:
    """HTML-escaped and Markdown-neutral: shown as the words that were written, nothing more."""
    # quote=False: "&#x27;" would have its "#" escaped below and show as the raw entity.
    return re.sub(r"([\\`*_{}\[\]()#+\-!|~>])", r"\\\1", html.escape(text or "", quote=False))


def _index(book: Book, page_id: str | None) -> int:
    return book.pages.index(book.page(page_id))  # book.page says clearly when it is gone
