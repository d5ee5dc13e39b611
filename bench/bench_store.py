"""Store bench: cost of crash safety vs stock TinyDB, and a longer kill -9 loop.

Prints ratios against a baseline measured in the same run:
  save_ratio  = atomic+locked save time / stock JSONStorage save time (same data, same disk)
  kill -9     = trials survived / trials run (must be 1.0)
Run: .venv/bin/python bench/bench_store.py [--trials 500]
"""
from __future__ import annotations

import argparse
import random
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--saves", type=int, default=300)
    parser.add_argument("--trials", type=int, default=300)
    args = parser.parse_args()
    raw_s, safe_s = time_saves(args.saves)
    print(f"saves: stock {raw_s / args.saves * 1000:.2f} ms, safe {safe_s / args.saves * 1000:.2f} ms, "
          f"save_ratio {safe_s / raw_s:.2f}x")
    survived = kill_loop(args.trials)
    print(f"kill -9: {survived}/{args.trials} survived ({survived / args.trials:.3f})")


if __name__ == "__main__":
    main()
