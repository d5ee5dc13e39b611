"""Likeness tab, section: UI values <-> studio requests for "a person" or "a style" (not a tab itself).

One place says what each choice means, so the tab's handlers stay one studio call each: which
preparation runs, which saved captions the estimate counts, which training job starts."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio import likeness, people, photos, style_training
from studio.book import Consent
from studio.lora_windows import LoraJob
from studio.train_lora import LoraTrainingRefused
from tabs.common import say, visitor_language

MAX_PHOTOS = 40
PERSON, STYLE = "person", "style"


def subject_of(value) -> str:
    return STYLE if value == STYLE else PERSON


def class_word_of(services, owner, book_id, person_id):
    """The English word for who the chosen person is, from their relation and description
    ("grandfather" on a grandfather's book, never the "grandmother" example)."""
    if not (owner and book_id and person_id):
        return gr.update()
    book = services.store.get(owner, book_id)
    character = next((c for c in book.characters if c.id == person_id), None)
    if character is None:
        return gr.update()
    return people.person_for(character.relation or character.name, character.description).noun


def subject_view(subject):
    """Person: who in the book, what she is. Style: the style's name. The consent form stays for
    both: a style learnt from photos of people needs it too."""
    person = subject_of(subject) == PERSON
    return (gr.update(visible=person), gr.update(visible=person), gr.update(visible=not person),
            gr.update(visible=True))


def prep_options(subject, token, word, size) -> photos.PrepOptions:
    return photos.PrepOptions(subject=subject_of(subject), token=(token or "").strip(),
                              class_word=(word or "person").strip(), resolution=int(size or 512))


def prepare(services, owner, book_id, subject, person_id, named, token, word, size):
    """The chosen subject's preparation of ``named`` (display name, path) files; grid, table, status."""
    options = prep_options(subject, token, word, size)
    named = list(named)[:MAX_PHOTOS]
    if options.subject == STYLE:
        results = style_training.prepare_for_style(services, owner, options.token, named, options)
    else:
        if not person_id:
            raise LoraTrainingRefused("likeness.no_character")
        results = likeness.prepare_for_character(services, owner, book_id, person_id, named, options)
    return grid_outputs(results, options.subject)


def uploaded(uploads) -> list[tuple[str, str]]:
    return [(Path(p).name, p) for p in list(uploads or [])]


def grid_outputs(results, subject: str = PERSON):
    lang = visitor_language()
    gallery = [(r.crop, r.name) for r in results if r.kept]
    rows = [[r.name, photos.reason_text(r, lang), r.caption] for r in results]
    kept = photos.summary(results).get(photos.KEPT, 0)
    headers = [say("likeness.ui_col_photo"), say("likeness.ui_col_result"), say("likeness.ui_col_caption")]
    return gallery, gr.update(value=rows, headers=headers), say("likeness.ui_prepared" if kept else (
        "likeness.style_no_pictures" if subject == STYLE else "likeness.no_photos"))


def saved_count(services, owner, book_id, subject, person_id, token) -> int:
    if subject_of(subject) == STYLE:
        try:
            return len(style_training.saved_style_captions(services, owner, token))
        except LoraTrainingRefused:  # no trigger word typed yet: nothing to estimate
            return 0
    return len(likeness.saved_captions(services, owner, book_id, person_id)) if person_id else 0


def options_for(count, preset_name, step_count, size):
    return likeness.preset_options(preset_name or "balanced", count, int(size or 512),
                                   steps=int(step_count) if step_count else None)


def training_job(services, owner, book_id, subject, person_id, style_name, rows, token, preset_name, step_count,
                 size, consent: Consent) -> LoraJob:
    """The captions as the family left them saved, then the job the windows will run."""
    token = (token or "").strip()
    captions = [str(r[2]) for r in table_rows(rows) if str(r[2]).strip()]
    options = options_for(len(captions), preset_name, step_count, size)
    if subject_of(subject) == STYLE:
        style_training.set_style_captions(services, owner, token, captions)
        request = style_training.StyleRequest(name=(style_name or "").strip() or token, trigger=token, options=options,
                                              consent=consent)
        return LoraJob(owner, book_id, request, STYLE)
    if not person_id:
        raise LoraTrainingRefused("likeness.no_character")
    likeness.set_captions(services, owner, book_id, person_id, captions, token)
    request = likeness.LikenessRequest(character_id=person_id, trigger=token, options=options, consent=consent)
    return LoraJob(owner, book_id, request, PERSON)


def table_rows(rows) -> list[list]:
    if rows is None:
        return []
    if hasattr(rows, "values"):  # a pandas DataFrame
        return rows.values.tolist()
    if isinstance(rows, dict):  # the API form {"headers": [...], "data": [[...]]}
        return list(rows.get("data") or [])
    return list(rows)


def status_line(event, lang: str) -> str:
    """The event's message in the visitor's language, then percent, step and time left."""
    data = event.payload
    line = event.text(lang)
    extra = f" · {data['percent']:.0f}% · {data['step']}/{data['total_steps']}"
    eta = data.get("eta_s")
    if eta is not None:
        extra += f" · ~{int(eta // 60)}:{int(eta % 60):02d}"
    return line + extra


def loss_frame(points: list[dict]):
    import pandas as pd

    return pd.DataFrame(points, columns=["step", "loss"])
