"""One visitor's book at the kiosk, made through the studio's own flows.

``make_book`` runs: a book from their memories -> the active writer writes it -> the active
illustrator draws every page -> the active speaker reads it (matched to the visitor's own voice
when they recorded one and agreed) -> a PDF in their private export folder. It yields
``Progress`` events whose message keys are plain words for a visitor (``kiosk.making_*``), and
each stage is one job in the job log (the operator's dashboard).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from studio import story
from studio.jobs import Jobs, Progress
from studio.kiosk_operator import KioskError
from studio.messages import text

MIN_VOICE_S, MAX_VOICE_S = 10.0, 30.0
STAGES = 4  # writing, drawing, reading aloud, the PDF


@dataclass
class VisitorMemories:
    name: str
    relation: str
    memories: list[str]
    photo: str | None = None  # a file path from the UI (opened only through open_user_image)
    voice: str | None = None  # a recording's file path (10-30 s)
    voice_consent: bool = False
    language: str = "ko"

    def checked(self) -> "VisitorMemories":
        self.name = (self.name or "").strip()
        self.relation = (self.relation or "").strip()
        self.memories = [m.strip() for m in self.memories if m and m.strip()][:3]
        if not self.name:
            raise KioskError("kiosk.need_name")
        if not self.memories:
            raise KioskError("kiosk.need_memory")
        if self.voice:
            seconds = _duration(self.voice)
            if seconds < MIN_VOICE_S:
                raise KioskError("kiosk.voice_short", seconds=f"{seconds:.0f}", low=f"{MIN_VOICE_S:.0f}")
            if seconds > MAX_VOICE_S + 1:
                raise KioskError("kiosk.voice_long", high=f"{MAX_VOICE_S:.0f}")
        return self


def _duration(path: str) -> float:
    import soundfile as sf

    try:
        return float(sf.info(str(path)).duration)
    except Exception:  # not a sound file we can read: the studio's own checks say why later
        raise KioskError("kiosk.voice_unreadable") from None


def make_book(kiosk: Any, owner: str, visit: VisitorMemories) -> Iterator[Progress]:
    """The whole book for one visitor; the last event's payload holds ``book_id`` and ``pdf``."""
    from studio import illustrate, narrate
    from studio.export.exports import export_book

    services = kiosk.services
    settings = kiosk.settings
    visit.checked()
    store, jobs = services.store, Jobs(services.limits)
    lang = visit.language if visit.language in ("ko", "en") else settings.language
    pages = settings.page_count
    with kiosk.busy(owner) as visitor:
        title = text("kiosk.book_title", lang, name=visit.name)
        book = store.create(owner, title, dedicated_to=visit.name, language=lang, page_count=pages)
        visitor.book_id = book.id
        try:
            store.update(owner, book.id, lambda b: setattr(b, "style", settings.style))
            story.save_memories(store, owner, book.id, subject_name=visit.name, relation=visit.relation,
                                anecdotes="\n".join(visit.memories), page_count=pages, language=lang)
            if visit.photo:
                story.add_photos(store, owner, book.id, [visit.photo])

            writer = story.pick_writer(services.backends, None)
            yield Progress(0, STAGES, "kiosk.making_writing", values={"name": visit.name})
            with _job(jobs, owner, "kiosk_story", pages=pages, backend=writer.name) as token:
                for _ in story.write_story(store, writer, owner, book.id, token):
                    pass

            illustrator = services.backends.active("illustrator")
            yield Progress(1, STAGES, "kiosk.making_drawing", values={"page": 1, "pages": pages})
            preset = illustrate.style(settings.style)
            steps = preset.steps if preset is not None and illustrator.name != "sketch" else 0  # sketches take none
            with _job(jobs, owner, "kiosk_illustrate", pages=pages, steps=steps, backend=illustrator.name) as token:
                for event in illustrate.illustrate_book(services, owner, book.id, illustrator, token):
                    if "variant" in event.payload and event.done < event.total:
                        yield Progress(1, STAGES, "kiosk.making_drawing",
                                       values={"page": event.done + 1, "pages": event.total})

            yield Progress(2, STAGES, "kiosk.making_voice")
            voice = _narrator(services, owner, book.id, visit, lang)
            with _job(jobs, owner, "kiosk_narrate", pages=pages, backend=voice) as token:
                for event in narrate.narrate_book(services, owner, book.id, token):
                    if event.done:
                        yield Progress(2, STAGES, "kiosk.making_reading", values={"page": event.done, "pages": event.total})

            yield Progress(3, STAGES, "kiosk.making_pdf")
            with _job(jobs, owner, "kiosk_pdf", pages=pages, backend="pdf"):
                pdf = export_book(services, owner, book.id, "pdf", kiosk.export_dir(owner))
            visitor.data["pdf"] = str(pdf)
        except BaseException:
            # a half-made book is of no use to anyone: it goes now (their words are still on screen)
            visitor.book_id = None
            with contextlib.suppress(Exception):
                store.delete(owner, book.id)
            raise
    yield Progress(STAGES, STAGES, "kiosk.making_done", {"book_id": book.id, "pdf": Path(pdf)})


class _job:
    """One stage as a job: counted in the visitor limits and recorded in the job log."""

    def __init__(self, jobs: Jobs, owner: str, kind: str, **details: Any) -> None:
        self.jobs, self.owner, self.kind, self.details = jobs, owner, kind, details

    def __enter__(self):
        self.token = self.jobs.start(self.owner, self.kind, **self.details)
        return self.token

    def __exit__(self, *exc) -> None:
        self.jobs.finish(self.owner, self.kind, self.token)  # sees the exception being raised, if any


def _narrator(services: Any, owner: str, book_id: str, visit: VisitorMemories, lang: str) -> str:
    """The book's voice: the active speaker, matched to the visitor's recording when they made
    one and agreed; otherwise the speaker as it is. Returns the backend name for the log."""
    from studio import narrate

    voice = narrate.create_voice(services, owner, book_id, visit.name or "voice", lang)
    matched = bool(visit.voice and visit.voice_consent)
    if matched:
        narrate.add_recordings(services, owner, book_id, voice.id, [(visit.voice, "kiosk-recording.wav")])
        narrate.give_consent(services, owner, book_id, voice.id, given_by=text("kiosk.consent_by", lang),
                             relation=text("kiosk.consent_relation", lang), date=time.strftime("%Y-%m-%d"),
                             statement=text("kiosk.voice_consent", lang))
    voice = narrate.set_pipeline(services, owner, book_id, voice.id, "auto", "voice_match" if matched else "none")
    speaker = narrate.speaker_for(services, voice, lang).name
    return f"{speaker}+voice_match" if matched else speaker


@dataclass
class ShownPage:
    number: int
    total: int
    text: str
    image_jpeg: bytes | None  # shown inline: nothing of the visitor's is copied to the web server's cache
    audio_wav: bytes | None


def page_for_playback(services: Any, owner: str, book_id: str, index: int) -> ShownPage:
    """One page to show and read aloud, as bytes for the page itself (files from the data dir
    never go to the web server's file cache, so forgetting the visitor leaves no copy there)."""
    import io

    from PIL import Image

    book = services.store.get(owner, book_id)
    if not book.pages:
        raise KioskError("kiosk.no_book")
    index = max(0, min(int(index), len(book.pages) - 1))
    page = book.pages[index]
    media = services.store.media_for(owner)
    image = audio = None
    chosen = page.chosen_image()
    if chosen is not None and media.exists(chosen.image):
        with Image.open(media.path(chosen.image)) as img:
            buffer = io.BytesIO()
            img.convert("RGB").save(buffer, "JPEG", quality=88)
            image = buffer.getvalue()
    take = page.chosen_narration()
    if take is not None and media.exists(take.audio):
        audio = media.path(take.audio).read_bytes()  # a WAV, as the narration was stored
    return ShownPage(index + 1, len(book.pages), page.text, image, audio)
