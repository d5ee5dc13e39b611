"""Store bench: cost of crash safety vs stock TinyDB, a kill -9 loop, isolation between owners
and memory over many visitors.

Prints ratios against a baseline measured in the same run:
  save_ratio      = atomic+locked save time / stock JSONStorage save time (same data, same disk)
  kill -9         = trials survived / trials run (must be 1.0)
  owners_<N>      = one owner's 24-page save with N other owners' books in the data dir / with 1
                    (must stay flat: every owner has their own file)
  store_save_ms_books_<N> = median time of one save (read-modify-write) of a 12-page book when its
                    owner has N books (1, 10, 100); store_save_books_100_vs_1 = how it grows (an
                    owner's books share one file, so a save rewrites all of them: expect ~linear)
  rss_growth_mb   = server memory after 500 visitor sessions (create, save, photo, list, delete
                    the owner) minus after the first 50 (must stay small: nothing kept per visitor)
Run: .venv/bin/python bench/bench_store.py [--trials 300]   (about a minute with the defaults)
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinydb import Query, TinyDB  # noqa: E402
from tinydb.storages import JSONStorage  # noqa: E402

from studio.book import Book, Page  # noqa: E402
from studio.store import BookStore  # noqa: E402


def time_saves(n: int) -> tuple[float, float]:
    book = Book(owner="fam", title="bench", pages=[Page(text="가" * 400) for _ in range(12)])
    with tempfile.TemporaryDirectory() as tmp:
        raw = TinyDB(Path(tmp) / "raw.json", storage=JSONStorage)
        table = raw.table("books")
        table.insert(book.to_dict())
        start = time.perf_counter()
        for i in range(n):
            doc = book.to_dict()
            doc["title"] = str(i)
            table.update(doc, Query().id == book.id)
        raw_s = time.perf_counter() - start
        store = BookStore(Path(tmp) / "safe")
        created = store.create("fam", "bench", pages=book.pages)
        start = time.perf_counter()
        for i in range(n):
            store.rename("fam", created.id, str(i))
        safe_s = time.perf_counter() - start
        store.close()
    return raw_s, safe_s


def kill_loop(trials: int) -> int:
    writer = (
        "import sys; sys.path.insert(0, %r)\n"
        "from studio.store import BookStore\n"
        "s = BookStore(sys.argv[1], lock_timeout_s=10); b = sys.argv[2]; i = int(s.get('fam', b).title)\n"
        "while True:\n    i += 1; s.rename('fam', b, str(i)); print(i, flush=True)\n"
    ) % str(ROOT)
    survived = 0
    with tempfile.TemporaryDirectory() as tmp:
        store = BookStore(Path(tmp))
        book_id = store.create("fam", "0", pages=[Page(text="x" * 3000) for _ in range(12)]).id
        store.close()
        rng = random.Random(1)
        for _ in range(trials):
            proc = subprocess.Popen([sys.executable, "-c", writer, tmp, book_id], stdout=subprocess.PIPE, text=True)
            proc.stdout.readline()
            time.sleep(rng.uniform(0, 0.05))
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            try:
                s = BookStore(Path(tmp), lock_timeout_s=5)
                int(s.get("fam", book_id).title)
                s.close()
                survived += 1
            except Exception as exc:  # noqa: BLE001 - counted, reported
                print("FAILED trial:", exc)
    return survived


def median_save(store: BookStore, owner: str, book_id: str, saves: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of one save (a rename: read, change, write under the lock)."""
    wall, cpu = [], []
    for i in range(saves):
        start, start_cpu = time.perf_counter(), time.process_time()
        store.rename(owner, book_id, f"ours {i}")
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def owner_save_latency(others: list[int], saves: int) -> dict[int, tuple[float, float]]:
    """Median (wall, CPU) time of one owner's 24-page save as other owners' books are added.
    CPU time leaves out waiting for the disk (fsync), which on a shared machine is mostly noise."""
    pages = [Page(text="할머니의 감나무 아래에서 " * 20) for _ in range(24)]
    theirs = pages[:4]  # other visitors' (smaller) books: what matters is how many there are
    result: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = BookStore(Path(tmp))
        mine = store.create("hf:family", "ours", pages=pages)
        present = 0
        for target in others:
            for i in range(present, target):
                store.create(f"anon:{i}", f"book {i}", pages=theirs)
            present = target
            result[target] = median_save(store, "hf:family", mine.id, saves)
        store.close()
    return result


def books_save_latency(counts: list[int], saves: int) -> dict[int, tuple[float, float]]:
    """Median (wall, CPU) seconds of one save of a 12-page book as its owner's library grows to
    each of ``counts`` books (12 pages each, the studio's default quotas)."""
    from studio.config import Settings
    from studio.services import quotas_from

    pages = [Page(text="할머니의 감나무 아래에서 " * 30) for _ in range(12)]
    result: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = BookStore(Path(tmp), quotas=quotas_from(Settings(data_dir=Path(tmp))))
        mine = store.create("hf:family", "ours", pages=pages)
        present = 1
        for target in counts:
            for i in range(present, target):
                store.create("hf:family", f"book {i}", pages=pages)
            present = max(present, target)
            if len(store.list("hf:family")) != target:
                raise SystemExit(f"bench_store: {len(store.list('hf:family'))} books stored, {target} expected")
            result[target] = median_save(store, "hf:family", mine.id, saves)
        store.close()
    return result


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def visitor_sessions(sessions: int, warmup: int = 50) -> tuple[float, float, int]:
    """RSS after ``warmup`` and after ``sessions`` simulated visitors; owner folders left."""
    photo = os.urandom(100_000)
    with tempfile.TemporaryDirectory() as tmp:
        store = BookStore(Path(tmp))
        baseline = 0.0
        for i in range(sessions):
            owner = f"anon:{i:05d}"
            book = store.create(owner, "감나무", pages=[Page(text="가" * 300) for _ in range(6)])
            ref = store.media_for(owner).put_bytes(photo[:-1] + bytes([i % 256]), "png")
            store.update(owner, book.id, lambda b, ref=ref: b.memories.photos.append(ref))
            store.list(owner)
            store.delete_owner(owner)
            if i + 1 == warmup:
                baseline = rss_mb()
        end = rss_mb()
        left = len(store.owners())
        store.close()
    return baseline, end, left


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--saves", type=int, default=200)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--book-saves", type=int, default=30, help="saves timed at each library size")
    args = parser.parse_args()
    raw_s, safe_s = time_saves(args.saves)
    print(f"saves: stock {raw_s / args.saves * 1000:.2f} ms, safe {safe_s / args.saves * 1000:.2f} ms, "
          f"save_ratio {safe_s / raw_s:.2f}x")
    latency = owner_save_latency([1, 100, 1000], saves=40)
    print("one owner's 24-page save: " + ", ".join(f"{n} others {w * 1000:.2f} ms ({c * 1000:.2f} ms CPU)"
                                                 for n, (w, c) in latency.items()))
    growth = books_save_latency([1, 10, 100], saves=args.book_saves)
    print("one owner's save as their library grows: " + ", ".join(
        f"{n} books {w * 1000:.2f} ms ({c * 1000:.2f} ms CPU)" for n, (w, c) in growth.items()))
    baseline, end, left = visitor_sessions(args.sessions)
    print(f"{args.sessions} visitor sessions: RSS {baseline:.1f} MB after 50, {end:.1f} MB at the end; "
          f"{left} owner folders left")
    survived = kill_loop(args.trials)
    print(f"kill -9: {survived}/{args.trials} survived ({survived / args.trials:.3f})")
    print(f"save_ratio: {safe_s / raw_s:.2f}")
    for n in (100, 1000):
        print(f"owners_{n}: {latency[n][0] / latency[1][0]:.2f}")
        print(f"owners_{n}_cpu: {latency[n][1] / latency[1][1]:.2f}")
    for n in (1, 10, 100):
        print(f"store_save_ms_books_{n}: {growth[n][0] * 1000:.2f}")
    print(f"store_save_books_100_vs_1: {growth[100][0] / growth[1][0]:.2f}")
    print(f"store_save_books_100_vs_1_cpu: {growth[100][1] / growth[1][1]:.2f}")
    print(f"rss_growth_mb: {end - baseline:.1f}")
    print(f"kill9_survival: {survived / args.trials:.3f}")
    if survived != args.trials:  # a lost library is a failure, not a figure
        sys.exit(f"bench_store: {args.trials - survived} kill -9 trial(s) left an unreadable library")


if __name__ == "__main__":
    main()
