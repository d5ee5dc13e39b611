"""The book store must never lose or corrupt a saved book: crashes, threads, disks, damage."""
from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from studio.book import Book, Page
from studio.storage import StoreCorruptError, StoreWriteError
from studio.store import BookNotFound, BookStore, StoreLockedError

ROOT = Path(__file__).resolve().parents[1]

WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from studio.store import BookStore
    store = BookStore({data!r}, lock_timeout_s=10)
    book_id = sys.argv[1]
    i = int(store.get("fam", book_id).title)
    while True:
        i += 1
        store.rename("fam", book_id, str(i))
        sys.stdout.write(f"{{i}}\\n"); sys.stdout.flush()
    """
)


def test_kill_minus_nine_never_corrupts_or_loses_an_acknowledged_save(tmp_path):
    data = tmp_path / "data"
    store = BookStore(data)
    book_id = store.create("fam", "0", page_count=6, pages=[Page(text="x" * 2000) for _ in range(6)]).id
    store.close()
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT), data=str(data)))
    rng = random.Random(7)
    trials, acked_max = 100, 0
    for _ in range(trials):
        proc = subprocess.Popen([sys.executable, str(script), book_id], stdout=subprocess.PIPE, text=True)
        first = proc.stdout.readline()  # running and writing
        threading.Event().wait(rng.uniform(0.0, 0.03))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        acked = [int(x) for x in (first + out).split()] or [acked_max]
        acked_max = max(acked_max, *acked)
        reopened = BookStore(data, lock_timeout_s=5)  # parses, or raises: both checked here
        saved = int(reopened.get("fam", book_id).title)
        reopened.close()
        # Either the last acknowledged save or the one in flight when the process died.
        assert acked_max <= saved <= acked_max + 1
        acked_max = saved
    assert not list(data.glob("owners/*/.books.json.*.tmp"))  # litter from killed writes is cleaned on open


def test_eight_threads_times_hundred_saves_keep_all_800_records(store):
    def worker(n):
        for i in range(100):
            store.create("fam", f"t{n}-{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    titles = {b.title for b in store.list("fam")}
    assert len(titles) == 800
    assert json.loads(store.db_path_for("fam").read_text())["books"]  # the file on disk parses


def test_concurrent_updates_to_one_book_lose_nothing(store):
    book = store.create("fam", "counter", pages=[])

    def add_pages():
        for _ in range(25):
            store.update("fam", book.id, lambda b: b.pages.append(Page(text="p")))

    threads = [threading.Thread(target=add_pages) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.get("fam", book.id).pages) == 200


def test_second_process_on_same_data_dir_fails_fast_with_clear_message(tmp_path):
    data = tmp_path / "data"
    store = BookStore(data)
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from studio.store import BookStore; BookStore({str(data)!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    store.close()
    assert result.returncode != 0
    assert "Another Gieok Studio is already using" in result.stderr


def test_second_instance_in_same_process_is_refused(tmp_path):
    first = BookStore(tmp_path / "d")
    with pytest.raises(StoreLockedError):
        BookStore(tmp_path / "d")
    first.close()
    BookStore(tmp_path / "d").close()  # free again once closed


def test_corrupt_library_at_start_is_refused_and_left_untouched(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    damaged = b'{"books": {"1": {"title": "half'
    (data / "books.json").write_bytes(damaged)  # an old single-file library
    with pytest.raises(StoreCorruptError, match="damaged"):
        BookStore(data)
    assert (data / "books.json").read_bytes() == damaged
    BookStore(data.parent / "other").close()  # the lock was released: other dirs unaffected
    with pytest.raises(StoreCorruptError):  # and it stays refused; never replaced by an empty DB
        BookStore(data)


def test_one_owners_damaged_file_is_refused_and_never_touches_another(tmp_path):
    data = tmp_path / "d"
    store = BookStore(data)
    store.create("fam", "ours")
    store.create("other", "theirs")
    path = store.db_path_for("fam")
    store.close()
    damaged = b'{"books": {"1": {"title": "half'
    path.write_bytes(damaged)
    path.with_name("books.json.bak").unlink(missing_ok=True)
    store = BookStore(data)
    with pytest.raises(StoreCorruptError, match="damaged"):
        store.list("fam")
    assert path.read_bytes() == damaged
    assert [b.title for b in store.list("other")] == ["theirs"]
    store.close()


def test_corrupt_library_is_restored_from_the_last_good_backup(tmp_path):
    data = tmp_path / "d"
    store = BookStore(data)
    store.create("fam", "first")
    store.create("fam", "second")  # the backup now holds the state with "first"
    store.close()
    path = store.db_path_for("fam")
    path.write_text("garbage")
    store = BookStore(data)
    assert [b.title for b in store.list("fam")] == ["first"]
    assert list(path.parent.glob("books.json.damaged-*"))[0].read_text() == "garbage"
    store.close()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_disk_full_or_read_only_keeps_previous_file_and_leaves_no_temp(store, monkeypatch, code):
    book = store.create("fam", "before")
    before = store.db_path_for("fam").read_bytes()
    real_fsync = os.fsync

    def failing_fsync(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(StoreWriteError, match="Nothing was lost"):
        store.rename("fam", book.id, "after")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert store.db_path_for("fam").read_bytes() == before
    assert not [p for p in store.db_path_for("fam").parent.iterdir() if p.name.endswith(".tmp")]
    assert store.get("fam", book.id).title == "before"
    store.rename("fam", book.id, "after")  # and the next save works once space is back
    assert store.get("fam", book.id).title == "after"


def test_owner_isolation_in_store(store):
    a = store.create("alice", "Alice's book")
    assert store.list("bob") == []
    for attempt in (
        lambda: store.get("bob", a.id),
        lambda: store.rename("bob", a.id, "mine now"),
        lambda: store.delete("bob", a.id),
        lambda: store.duplicate("bob", a.id),
        lambda: store.update("bob", a.id, lambda b: None),
        lambda: store.save("bob", a),
    ):
        with pytest.raises(BookNotFound, match="does not exist or is not yours"):
            attempt()
    assert store.get("alice", a.id).title == "Alice's book"


def test_create_rename_duplicate_delete(store):
    book = store.create("fam", "  할머니의 감나무 ", dedicated_to="순자 할머니께", language="ko", page_count=8)
    assert book.title == "할머니의 감나무" and book.page_count == 8
    store.rename("fam", book.id, "감나무 아래에서")
    copy = store.duplicate("fam", book.id, " (사본)")
    assert copy.id != book.id and copy.title == "감나무 아래에서 (사본)"
    store.delete("fam", book.id)
    assert [b.title for b in store.list("fam")] == ["감나무 아래에서 (사본)"]
    with pytest.raises(BookNotFound):
        store.get("fam", book.id)


@pytest.mark.parametrize("kwargs, message", [
    ({"title": ""}, "title"), ({"title": "x", "page_count": 3}, "4 to 24"),
    ({"title": "x", "language": "fr"}, "Korean"),
])
def test_bad_book_values_are_refused_clearly(store, kwargs, message):
    with pytest.raises(Exception, match=message):
        store.create("fam", **kwargs)


def test_book_round_trips_through_dict_with_unknown_and_missing_keys():
    book = Book(title="t", pages=[Page(text="a")])
    data = book.to_dict()
    data["from_the_future"] = 1
    del data["pages"][0]["mood"]
    again = Book.from_dict(data)
    assert again.pages[0].text == "a" and again.pages[0].mood == "" and again.title == "t"


def test_schema_migration_hook_runs_and_newer_schema_is_refused(store, monkeypatch):
    import studio.store as store_module

    book = store.create("fam", "old")
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(store_module.MIGRATIONS, 1, lambda doc: {**doc, "title": doc["title"] + " (migrated)"})
    assert store.get("fam", book.id).title == "old (migrated)"
    store.update("fam", book.id, lambda b: setattr(b, "schema_version", 3))
    with pytest.raises(store_module.StoreError, match="newer Gieok Studio"):
        store.get("fam", book.id)


def test_a_page_or_voice_that_is_gone_is_a_clear_user_error(store):
    from studio.book import NotInBook

    book = store.create("fam", "t")
    for lookup, what in ((book.page, "page"), (book.voice, "voice")):
        with pytest.raises(NotInBook, match=f"That {what} is no longer in this book") as err:
            lookup("gone")
        assert isinstance(err.value, (ValueError, KeyError)) and str(err.value).startswith("That")
