"""A whole offline book, from a family's memories to an MP4, through the studio's own flows
(services, not the UI): where the seconds of one book go on this machine.

Stages, each timed on its own (wall seconds):
  create       a Korean book of ``--pages`` pages and its memories saved (the store)
  write        the offline storyteller writes the story (pages + character sheet)
  illustrate   the sketch illustrator draws every page (the same request path as a real model)
  narrate      the speech backend the default settings pick for Korean (eSpeak NG offline) reads
               every page, through a voice with no conversion
  export_mp4   the MP4 at 1280x720 with burned-in words (the clip cache cleared first)

Prints ``name: value`` lines last: ``stage_<name>_seconds`` for each stage, ``book_seconds_total``,
``book_narration_seconds`` (length of the narrated book) and ``book_mp4_mb``. The backends used
are printed first, so a number is never read against the wrong engine.
Run: .venv/bin/python bench/bench_book.py [--pages 6]   (about half a minute on 2 cores)
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio import illustrate, narrate, story  # noqa: E402
from studio.backends.base import CancelToken  # noqa: E402
from studio.config import Settings  # noqa: E402
from studio.export import av  # noqa: E402
from studio.export.exports import export_book  # noqa: E402
from studio.services import build_services  # noqa: E402

OWNER = "local"
MEMORIES = ["겨울마다 곶감을 말려 주셨어요", "눈 오는 밤이면 옛날이야기를 들려주셨어요",
            "시장에 가면 꼭 손을 잡아 주셨어요", "감나무 아래에서 노래를 불러 주셨어요"]


def run_stages(services, pages: int, out: Path) -> tuple[str, dict[str, float], Path, dict[str, str]]:
    """Every stage of one book in order; returns the book id, seconds per stage, the MP4 and the
    engines used."""
    store, seconds, engines = services.store, {}, {}

    def stage(name: str, work):
        start = time.perf_counter()
        result = work()
        seconds[name] = time.perf_counter() - start
        return result

    def create():
        book = store.create(OWNER, "할머니의 감나무", dedicated_to="할머니", language="ko", page_count=pages)
        story.save_memories(store, OWNER, book.id, subject_name="순자", relation="할머니",
                            traits="다정하고 부지런하셨어요", anecdotes="\n".join(MEMORIES),
                            page_count=pages, language="ko")
        return book.id

    book_id = stage("create", create)
    writer = story.pick_writer(services.backends, "storyteller")
    illustrator = services.backends.get("illustrator", "sketch")
    stage("write", lambda: list(story.write_story(store, writer, OWNER, book_id, CancelToken(), poll_s=0.01)))
    written = store.get(OWNER, book_id)
    if len(written.pages) != pages:
        raise SystemExit(f"bench_book: the writer made {len(written.pages)} pages, {pages} were asked for")
    stage("illustrate", lambda: list(illustrate.illustrate_book(services, OWNER, book_id, illustrator)))

    def narrate_all():
        voice = narrate.create_voice(services, OWNER, book_id, "순자", "ko")
        voice = narrate.set_pipeline(services, OWNER, book_id, voice.id, "auto", "none")
        engines["speaker"] = narrate.speaker_for(services, voice, "ko").name
        list(narrate.narrate_book(services, OWNER, book_id))

    stage("narrate", narrate_all)
    mp4 = stage("export_mp4", lambda: export_book(services, OWNER, book_id, "mp4", out, burn_text=True))
    engines.update(writer=writer.name, illustrator=illustrator.name)
    return book_id, seconds, mp4, engines


def check_book(services, book_id: str, pages: int, mp4: Path) -> float:
    """The book really is whole: a picture and a narration on every page, a playable MP4.
    Returns the narration's length in seconds."""
    book = services.store.get(OWNER, book_id)
    missing = [i + 1 for i, p in enumerate(book.pages) if p.chosen_image() is None or p.chosen_narration() is None]
    if len(book.pages) != pages or missing:
        raise SystemExit(f"bench_book: pages without a picture or a narration: {missing}")
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(mp4)],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0 or float(probe.stdout.strip() or 0) <= 0:
        raise SystemExit(f"bench_book: the MP4 does not play: {probe.stderr.strip()[:200]}")
    return sum(p.chosen_narration().duration_s for p in book.pages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=6)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="gieok-bench-book-") as tmp:
        tmp = Path(tmp)
        av._CLIP_CACHE = tmp / "clip-cache"  # measure the real encoding, not a warm cache
        services = build_services(Settings(data_dir=tmp / "data", mode="local"))
        try:
            start = time.perf_counter()
            book_id, seconds, mp4, engines = run_stages(services, args.pages, tmp / "out")
            total = time.perf_counter() - start
            narration_s = check_book(services, book_id, args.pages, mp4)
            size_mb = mp4.stat().st_size / 1e6
        finally:
            services.close()
    print(f"engines used (not a figure): writer {engines['writer']}, illustrator {engines['illustrator']}, "
          f"speaker {engines['speaker']}; {args.pages} pages, Korean; load {load:.2f} on {os.cpu_count()} cores "
          "at the start")
    for name, value in seconds.items():
        print(f"stage_{name}_seconds: {value:.3f}")
    print(f"book_narration_seconds: {narration_s:.1f}")
    print(f"book_mp4_mb: {size_mb:.2f}")
    print(f"book_seconds_total: {total:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
