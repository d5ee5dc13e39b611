"""One folder per owner: isolation of books, files, locks and time; quotas; the move from the
old single-file layout; damaged records that never break a listing."""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
import statistics
import threading
import time

import pytest
from tinydb import TinyDB

from studio.book import Book, Character, ImageVariant, Page
from studio.export.archive import export_archive
from studio.media import MediaError, MediaQuotaError
from studio.owners import owner_key
from studio.storage import AtomicJSONStorage, StoreError
from studio.store import BookNotFound, BookStore, QuotaError, Quotas

PHOTO = b"\x89PNG grandmother under the persimmon tree"


def _book_with_photo(store, owner, data=PHOTO, title="감나무"):
    ref = store.media_for(owner).put_bytes(data, "png")
    page = Page(text="감나무 아래에서", variants=[ImageVariant(image=ref)])
    page.chosen_variant = page.variants[0].id
    book = store.create(owner, title, pages=[page], characters=[Character(name="할머니", photos=[ref])])
    return book, ref


def test_each_owner_has_a_folder_named_by_a_hash_never_the_id(tmp_path):
    store = BookStore(tmp_path / "d")
    store.create("anon:../../etc", "a")
    store.create("hf:순자", "b")
    folders = sorted(p.name for p in (tmp_path / "d" / "owners").iterdir())
    assert folders == sorted([owner_key("anon:../../etc"), owner_key("hf:순자")])
    assert all(len(name) == 40 and name.isalnum() for name in folders)
    assert not (tmp_path / "etc").exists()
    assert oct((tmp_path / "d" / "owners").stat().st_mode & 0o777) == oct(0o700)
    assert {i.owner for i in store.owners()} == {"anon:../../etc", "hf:순자"}
    store.close()


def test_one_owners_save_never_rewrites_anothers_file(store):
    a = store.create("alice", "Alice")
    store.create("bob", "Bob")
    bob_file = store.db_path_for("bob")
    before = (bob_file.read_bytes(), bob_file.stat().st_mtime_ns)
    for i in range(5):
        store.rename("alice", a.id, f"Alice {i}")
    store.delete("alice", a.id)
    assert (bob_file.read_bytes(), bob_file.stat().st_mtime_ns) == before


def test_one_owners_long_change_does_not_block_another(store):
    a = store.create("alice", "Alice")
    b = store.create("bob", "Bob")
    inside, release = threading.Event(), threading.Event()

    def slow(book):
        inside.set()
        release.wait(10)

    worker = threading.Thread(target=store.update, args=("alice", a.id, slow))
    worker.start()
    assert inside.wait(10)
    started = time.perf_counter()
    store.rename("bob", b.id, "Bob's, at once")  # Alice holds only her own lock
    elapsed = time.perf_counter() - started
    release.set()
    worker.join()
    assert elapsed < 5 and store.get("bob", b.id).title == "Bob's, at once"


def test_media_belong_to_their_owner(store, tmp_path):
    book, ref = _book_with_photo(store, "alice")
    bob_media = store.media_for("bob")
    assert store.media_for("alice").exists(ref)
    assert not bob_media.exists(ref)  # the same name is simply not a file for Bob
    with pytest.raises(MediaError, match="not in your library"):
        bob_media.existing_path(ref)
    with pytest.raises(MediaError):
        bob_media.read_bytes(ref)
    # A book of Bob's that names Alice's ref (e.g. an edited record) exports nothing of hers.
    bobs = store.create("bob", "Bob", pages=[Page(variants=[ImageVariant(image=ref)])],
                        characters=[Character(name="x", photos=[ref])])
    path = export_archive(store, "bob", bobs.id, tmp_path / "out")
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["book.json"]
        assert all(PHOTO not in zf.read(n) for n in zf.namelist())
    with pytest.raises(BookNotFound):
        store.get("bob", book.id)


def test_deleting_a_book_deletes_its_files_unless_another_of_the_owners_books_uses_them(store):
    book, ref = _book_with_photo(store, "alice")
    only_mine = store.media_for("alice").put_bytes(b"only in the first book", "wav")
    store.update("alice", book.id, lambda b: b.memories.photos.append(only_mine))
    copy = store.duplicate("alice", book.id)
    store.update("alice", copy.id, lambda b: b.memories.photos.remove(only_mine))
    same_bytes_elsewhere, _ = _book_with_photo(store, "bob")  # Bob's own copy of the same photo
    media = store.media_for("alice")

    assert store.delete("alice", book.id) == [only_mine]
    assert not media.exists(only_mine) and media.exists(ref)  # the copy still shows the photo
    assert store.delete("alice", copy.id) == [ref]
    assert not media.exists(ref) and media.refs() == []
    assert store.media_for("bob").exists(ref)  # Bob's library is untouched


def test_delete_owner_and_expire_anonymous_owners(store):
    for owner in ("anon:old", "anon:fresh", "hf:family"):
        _book_with_photo(store, owner)
    now = time.time()
    old = store.media_for("anon:old").root.parent
    os.utime(old / "owner.json", (now - 3 * 86400, now - 3 * 86400))
    family = store.media_for("hf:family").root.parent
    os.utime(family / "owner.json", (now - 30 * 86400, now - 30 * 86400))
    ages = {i.owner: now - i.last_active for i in store.owners()}
    assert ages["anon:old"] > 2 * 86400 and ages["anon:fresh"] < 60

    assert store.expire_owners(prefix="anon:", older_than_s=86400, now_s=now) == ["anon:old"]
    assert not old.exists() and store.list("anon:old") == []
    assert family.exists()  # logged-in families are never expired by this
    assert store.expire_owners(prefix="anon:", older_than_s=86400, now_s=now) == []

    assert store.delete_owner("anon:fresh") is True
    assert store.delete_owner("anon:fresh") is False
    assert {i.owner for i in store.owners()} == {"hf:family"}
    store.create("anon:fresh", "back again")  # a visitor who returns starts an empty library
    assert [b.title for b in store.list("anon:fresh")] == ["back again"]


def test_quotas_refuse_with_a_clear_message_and_keep_what_exists(tmp_path):
    store = BookStore(tmp_path / "d", quotas=Quotas(books=2, pages=10, media_bytes=1000))
    first = store.create("fam", "one", pages=[Page() for _ in range(6)])
    with pytest.raises(QuotaError, match="6 pages|10 pages"):
        store.create("fam", "two", pages=[Page() for _ in range(5)])
    store.create("fam", "two", pages=[Page() for _ in range(4)])
    with pytest.raises(QuotaError, match="already holds 2 books"):
        store.create("fam", "three")
    with pytest.raises(QuotaError, match="already holds 2 books"):
        store.duplicate("fam", first.id)
    with pytest.raises(QuotaError, match="10 pages"):
        store.update("fam", first.id, lambda b: b.pages.append(Page()))
    assert len(store.get("fam", first.id).pages) == 6
    store.update("fam", first.id, lambda b: b.pages.pop())  # shrinking is always allowed
    media = store.media_for("fam")
    media.put_bytes(b"x" * 900, "png")
    with pytest.raises(MediaQuotaError, match="space for photos"):
        media.put_bytes(b"y" * 200, "png")
    assert media.used_bytes() == 900 and not list(media.root.rglob(".tmp-*"))
    assert store.create("other", "their first") and store.usage("other").books == 1  # per owner
    assert store.usage("fam").pages == 9 and store.usage("fam").media_bytes == 900
    store.close()


def _median_save_s(store, owner, book_id, reps=40):
    times = []
    for i in range(reps):
        started = time.perf_counter()
        store.rename(owner, book_id, f"t{i}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_another_visitors_save_time_is_unchanged_after_one_fills_their_quota(tmp_path):
    store = BookStore(tmp_path / "d", quotas=Quotas(books=40, pages=960))
    theirs = store.create("visitor-b", "B", pages=[Page(text="짧은 글") for _ in range(6)])
    before = _median_save_s(store, "visitor-b", theirs.id)
    text = "할머니의 감나무 아래에서 " * 60
    for i in range(40):  # one visitor fills every page they may have (about 1 MB of books)
        store.create("visitor-a", f"A{i}", pages=[Page(text=text) for _ in range(24)])
    with pytest.raises(QuotaError):
        store.create("visitor-a", "one more")
    ratios = []
    for _ in range(3):  # a busy machine gets another try; a shared file would be ~50x slower
        after = _median_save_s(store, "visitor-b", theirs.id)
        ratios.append(after / before)
        if ratios[-1] <= 1.2:
            break
        before = _median_save_s(store, "visitor-b", theirs.id)
    assert min(ratios) <= 1.2, ratios
    store.close()


def _old_layout(data, books):
    """A data dir as the single-file studio left it: books.json + media/ for everyone."""
    media = data / "media"
    refs = {}
    for name in ("a", "b", "shared", "orphan"):
        content = f"bytes of {name}".encode()

        ref = f"{hashlib.sha256(content).hexdigest()}.png"
        (media / ref[:2]).mkdir(parents=True, exist_ok=True)
        (media / ref[:2] / ref).write_bytes(content)
        refs[name] = ref
    db = TinyDB(data / "books.json", storage=AtomicJSONStorage)
    table = db.table("books")
    for owner, title, photos in books(refs):
        table.insert(Book(owner=owner, title=title).to_dict() | {"memories": {"photos": photos}})
    return refs


def _books(refs):
    return [("alice", "A1", [refs["a"], refs["shared"]]), ("alice", "A2", []), ("bob", "B1", [refs["b"], refs["shared"]])]


def test_old_single_file_library_is_split_by_owner(tmp_path):
    data = tmp_path / "d"
    refs = _old_layout(data, _books)
    store = BookStore(data)
    assert store.migrated_owners == 2
    assert sorted(b.title for b in store.list("alice")) == ["A1", "A2"]
    assert [b.title for b in store.list("bob")] == ["B1"]
    alice, bob = store.media_for("alice"), store.media_for("bob")
    assert set(alice.refs()) == {refs["a"], refs["shared"]}
    assert set(bob.refs()) == {refs["b"], refs["shared"]}
    assert alice.read_bytes(refs["a"]) == b"bytes of a"
    assert not (data / "books.json").exists() and not (data / "media").exists()
    kept = list(data.glob("books.json.migrated-*"))
    assert len(kept) == 1 and len(json.loads(kept[0].read_text())["books"]) == 3  # the old file is kept
    store.close()
    again = BookStore(data)  # idempotent: nothing to do the second time
    assert again.migrated_owners == 0 and len(again.list("alice")) == 2
    again.close()


def test_interrupted_split_finishes_on_the_next_start(tmp_path, monkeypatch):
    import studio.owners as layout

    data = tmp_path / "d"
    _old_layout(data, _books)
    real_rename, calls = os.rename, []

    def crash_on_second_owner(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies mid-way (after Alice, before Bob)
        real_rename(src, dst)

    monkeypatch.setattr(layout.os, "rename", crash_on_second_owner)
    with pytest.raises(KeyboardInterrupt):
        BookStore(data)
    monkeypatch.setattr(layout.os, "rename", real_rename)
    assert (data / "books.json").exists()  # not marked done
    store = BookStore(data)  # the staging leftover is discarded and the split completes
    assert sorted(b.title for b in store.list("alice")) == ["A1", "A2"]
    assert [b.title for b in store.list("bob")] == ["B1"]
    assert not list((data / "owners").glob(".migrating-*")) and not (data / "books.json").exists()
    store.close()


def test_a_damaged_record_is_listed_as_damaged_and_never_breaks_the_library(tmp_path):
    store = BookStore(tmp_path / "d")
    good = store.create("fam", "good book")
    store.close()  # a record written by an older studio, before imports were checked:
    bad = Book(owner="fam", title="x").to_dict() | {"title": ["not", "text"], "id": "bad-id"}
    TinyDB(store.db_path_for("fam"), storage=AtomicJSONStorage).table("books").insert(bad)
    store = BookStore(tmp_path / "d")
    listed = {b.id: b for b in store.list("fam")}
    assert listed["bad-id"].damaged and listed["bad-id"].title == ""
    assert listed[good.id].title == "good book" and not listed[good.id].damaged
    with pytest.raises(StoreError, match="damaged .title."):
        store.get("fam", "bad-id")
    path = export_archive(store, "fam", "bad-id", tmp_path / "raw")  # exported as stored
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("book.json"))["book"]["title"] == ["not", "text"]
    created = store.create("fam", "still works")
    store.rename("fam", created.id, "renamed")
    store.delete("fam", "bad-id")
    assert "bad-id" not in {b.id for b in store.list("fam")}
    store.close()
