"""Voice tab, section: the words it shows (not a tab itself).

Words about the *person* follow the book: a grandfather's book says "his voice", its sample
sentence and consent statement are in the book's language. Words about the studio follow the
visitor's browser (``say``).
"""
from __future__ import annotations

import gradio as gr

from studio import messages, narrate
from studio.backends.base import BackendError
from tabs.common import engine_name, say

KNOB_ORDER = ["transpose", "index_rate", "protect", "filter_radius", "rms_mix_rate", "strength", "rate", "pitch"]
CONVERTERS = ["voice_match", "rvc", "none"]
HIS = ("grandpa", "grandfather", "father", "dad", "uncle", "brother", "husband", "할아버지", "아버지", "아빠",
       "삼촌", "외삼촌", "오빠", "남편", "큰아버지", "작은아버지")
HER = ("grandma", "granny", "grandmother", "mother", "mom", "mum", "aunt", "sister", "wife", "할머니", "어머니",
       "엄마", "이모", "고모", "누나", "언니", "아내", "큰어머니", "작은어머니")


def pronoun(book) -> str:
    """'her', 'his' or 'their', from who the person was to the family."""
    relation = (book.memories.relation or "").strip().lower() if book else ""
    if any(word in relation for word in HIS):
        return "his"
    if any(word in relation for word in HER):
        return "her"
    return "their"


def person_word(book) -> str:
    """Who sings in the sample sentence: the relation ("grandma", "할아버지") or a plain default."""
    return (book.memories.relation or "").strip() or messages.text("v.name_placeholder", book.language)


def voice_name_example(book) -> str:
    """The new voice's placeholder: the person as the family calls them ("Grandpa Tom", "순자 할머니"),
    not "Grandma" on a grandfather's book."""
    relation, name = (book.memories.relation or "").strip(), (book.memories.subject_name or "").strip()
    if relation and name:
        return messages.text("v.name_example", book.language, relation=relation[:1].upper() + relation[1:], name=name)
    return relation or name or messages.text("v.name_placeholder", book.language)


def sample_sentence(book) -> str:
    return messages.text("v.sample", book.language, who=person_word(book))


def consent_statement(book) -> str:
    return messages.text("v.consent_statement", book.language)


def person_labels(book):
    """The labels that speak of the person, updated for this book."""
    p = pronoun(book)
    return (f"### {say(f'v.step1_{p}')}", gr.update(label=say(f"v.relation_{p}")),
            gr.update(label=say(f"v.converter_{p}")))


def converter_choices():
    return [(say(f"v.conv_{name}"), name) for name in CONVERTERS]


def speaker_choices(services):
    return [(say("v.auto"), "auto")] + [(engine_name("speaker", s.name), s.name)
                                          for s in services.backends.statuses() if s.kind == "speaker"]


def summary(voice) -> str:
    if not voice.recordings:
        return say("v.no_recordings")
    p = voice.profile
    rejected = sum(len(r.rejected) for r in voice.recordings)
    lines = [say("v.summary", count=len(voice.recordings), minutes=f"{p.get('usable_minutes', 0):.1f}")]
    if rejected:
        lines.append(say("v.summary_rejected", count=rejected))
    if p.get("usable_minutes", 0) < 1:
        lines.append(say("v.summary_short"))
    return "\n\n".join(lines)


def pipeline(services, voice, language: str) -> str:
    """The voice's chain in one line; "automatic" names the engine that reads the *book's* language
    (an English-only engine is not the one that reads a Korean book)."""
    minutes = voice.profile.get("usable_minutes", 0)
    if voice.speaker and voice.speaker != "auto":
        speaker = engine_name("speaker", voice.speaker)
    else:
        try:
            reader = narrate.speaker_for(services, voice, language)
        except BackendError:
            reader = None
        speaker = f"{say('v.auto')} ({engine_name('speaker', reader.name) if reader else say('engine.none')})"
    converter = say(f"v.conv_{voice.converter or 'none'}") if (voice.converter or "none") in CONVERTERS else voice.converter
    consent = say("v.pipeline_consent_ok") if voice.consent and voice.consent.complete else say("v.pipeline_consent_missing")
    return say("v.pipeline", minutes=f"{minutes:.1f}", speaker=speaker, converter=converter, consent=consent)


def consent_line(voice) -> str:
    c = voice.consent
    if c and c.complete:
        return say("v.consent_given", who=c.given_by, date=c.date)
    return say("v.consent_needed")


def recording_choices(voice):
    choices = [(say("v.recording_label", name=r.original_name, seconds=f"{r.duration_s:.1f}"), r.id)
               for r in voice.recordings]
    return gr.update(choices=choices, value=choices[0][1] if choices else None)


def take_choices(page):
    return [(say("v.take_label", number=i + 1, seconds=f"{tk.duration_s:.1f}"), tk.id) for i, tk in enumerate(page.takes)]


def knob_values(voice, default_f0: str = "pm"):
    values = [voice.conversion.get(k, narrate.KNOBS[k][0]) for k in KNOB_ORDER]
    values.append(voice.conversion.get("f0_method") or default_f0)
    return values
