"""The offline storyteller: a template-and-grammar story engine that needs no model and no network.

It is honest about what it is (the UI says "Offline storyteller"): it arranges the family's own
words — keywords, anecdotes, traits — into a picture-book arc (opening, memories, a small trouble,
comfort, a closing that names the loved one) with sentence templates from ``story_phrases``,
Korean particles chosen by ``studio.korean``. Everything random comes from a generator seeded by
the request's seed *and* the memories, so the same request gives the same story and different
memories give different stories.
"""
from __future__ import annotations

import hashlib
import json
import random
import re

from studio.backends import story_phrases as P
from studio.backends.base import (Availability, CancelToken, CharacterDraft, PageDraft, StoryDraft,
                                  StoryRequest)
from studio.book import MAX_PAGES, POSE_HINTS
from studio.korean import PAIRS, attach

_CHOICE = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(r"\{(\w+)(?::([^{}]+))?\}")
SENTENCES_FOR_AGE = {"3-5": 2, "5-8": 3, "8-12": 4}


def render(template: str, slots: dict[str, str], rng: random.Random) -> str:
    """Fill one template: ``[a|b]`` choices first, then ``{slot}`` / ``{slot:은/는}`` values."""
    text = _CHOICE.sub(lambda m: rng.choice(m.group(1).split("|")), template)

    def fill(m: re.Match) -> str:
        value = slots.get(m.group(1), "")
        pair = m.group(2)
        if not pair:
            return value
        if pair not in PAIRS:
            return value + pair.partition("/")[0]  # particles that never change (의, 도)
        return attach(value, pair)

    text = _SLOT.sub(fill, text)
    return re.sub(r"\s{2,}", " ", text).strip()


def arc(page_count: int) -> list[str]:
    """The beat of every page: opening, memories (with quiet 'together' pages between them in long
    books), a small trouble, comfort, and a closing. Four pages fold comfort into the trouble page."""
    n = max(1, min(MAX_PAGES, int(page_count)))
    if n < 4:
        return (["opening", "memory", "closing"][:n - 1] + ["closing"]) if n > 1 else ["closing"]
    if n == 4:
        return ["opening", "memory", "trouble+comfort", "closing"]
    turns = 1 + (n - 5) // 7
    middle = n - 2 - 2 * turns
    memories = -(-middle * 2 // 3)
    together = middle - memories
    body: list[str] = []
    for i in range(memories):
        body.append("memory")
        if together and i % 2 == 1:
            body.append("together")
            together -= 1
    body += ["together"] * together
    return ["opening", *body, *(["trouble", "comfort"] * turns), "closing"]


class OfflineStoryteller:
    name = "storyteller"
    label = "Offline storyteller"

    def __init__(self, settings=None):
        self.settings = settings

    def available(self) -> Availability:
        return Availability.yes("built in: writes from your memories with templates, no AI model")

    # -- the protocol ------------------------------------------------------------------------
    def write_story(self, request: StoryRequest, cancel: CancelToken | None = None) -> StoryDraft:
        teller = _Teller(request, salt="story")
        beats = arc(request.page_count)
        pages = []
        for index, beat in enumerate(beats):
            if cancel:
                cancel.raise_if_cancelled()
            pages.append(teller.page(beat, index))
        return StoryDraft(title=teller.title(), pages=pages, characters=teller.characters())

    def rewrite_page(self, request: StoryRequest, pages: list[PageDraft], index: int,
                     cancel: CancelToken | None = None) -> PageDraft:
        if not 0 <= index < len(pages):
            raise IndexError(f"page {index + 1} is not in this story")
        beat = arc(len(pages))[index]
        old = pages[index]
        neighbours = [p.text for p in pages[max(0, index - 1):index + 2] if p is not old]
        for attempt in range(12):  # a fresh telling, never the same words as before
            if cancel:
                cancel.raise_if_cancelled()
            teller = _Teller(request, salt=f"page:{index}:{attempt}:{old.text}")
            item = teller.item_in(old.text)
            draft = teller.page(beat, index, item=item, avoid=neighbours)
            if draft.text != old.text:
                if old.setting and item is not None:
                    draft.setting = old.setting  # same memory, same place: stays consistent
                return draft
        return draft


class _Teller:
    """One telling: slots for the loved one and the child, the memory items, a seeded RNG."""

    def __init__(self, request: StoryRequest, salt: str):
        self.req = request
        self.ko = request.language == "ko"
        digest = hashlib.sha256(json.dumps(
            [request.subject_name, request.relation, request.traits, request.keywords, request.anecdotes,
             request.tone, request.language, salt], ensure_ascii=False).encode()).hexdigest()
        self.rng = random.Random(f"{request.seed}:{digest}")
        self.phrases = P.KO if self.ko else P.EN
        name = request.subject_name.strip() or ("그분" if self.ko else "someone dear")
        rel = request.relation.strip()
        self.keywords = [k.strip() for k in request.keywords if k.strip()] or (
            ["작은 마당"] if self.ko else ["the little garden"])
        self.anecdotes = [_sentence(a, self.ko) for a in request.anecdotes if a.strip()]
        anecdotes = [("anecdote", a) for a in self.anecdotes]
        keywords = [("kw", k) for k in self.keywords]
        self.rng.shuffle(anecdotes)
        self.rng.shuffle(keywords)
        self.items: list[tuple[str, str]] = anecdotes + keywords  # the family's stories come first
        self.memory_pages = arc(request.page_count).count("memory")
        self.memory_told = 0
        self.used: dict[str, int] = {}
        traits = [t.strip() for t in request.traits if t.strip()]
        if self.ko:
            full = f"{name} {rel}" if rel else name
            self.slots = dict(name=name, rel=rel or name, full=full, child="아이", child_call="아가,",
                              call=full if rel else attach(name, "아/야"), traits=", ".join(traits) or "늘 다정하고 따뜻한 분")
            self.character_name = full
        else:
            full = f"{rel.capitalize()} {name}" if rel else name
            she, her = _pronouns(rel)
            self.slots = dict(name=name, rel=rel or name, full=full, full_cap=_cap(full), child="the child",
                              child_cap="The child", She=she, her=her, call=full,
                              traits=", ".join(traits) or "kind and warm")
            self.slots["traits_cap"] = _cap(self.slots["traits"])
            self.character_name = full

    def title(self) -> str:
        kw = self.keywords[0]
        if self.ko:
            return self.req.title_hint or f"{attach(self.slots['full'], '과/와')} {kw}"
        return self.req.title_hint or f"{self.slots['full']} and {_the(kw)}"

    def characters(self) -> list[CharacterDraft]:
        rng = random.Random(f"{self.req.seed}:looks:{self.req.subject_name}:{self.req.relation}")
        rel = self.req.relation.strip().lower()
        base = next((v for k, v in P.VISUALS.items() if k in rel), "a kind grown-up")
        person = "dog" not in base and "cat" not in base
        look = f"{base}, {rng.choice(P.HAIR)}, wearing {rng.choice(P.CLOTHES)}" if person else f"{base} with a red collar"
        extras = [_english(t) for t in self.req.traits]
        extras = [e for e in extras if e]
        if extras:
            look += ", " + ", ".join(extras[:2])
        child_name = "아이" if self.ko else "the child"
        child = f"a small child of about six with {rng.choice(P.CHILD_LOOKS)}, wearing {rng.choice(P.CHILD_CLOTHES)}"
        return [CharacterDraft(self.character_name, look + ", warm smile"), CharacterDraft(child_name, child)]

    def item_in(self, text: str) -> tuple[str, str] | None:
        return next((it for it in self.items if it[1] and it[1] in text), None)

    def _next_item(self) -> tuple[str, str]:
        best = min(self.items, key=lambda it: self.used.get(it[1], 0))  # first least-told, in order
        self.used[best[1]] = self.used.get(best[1], 0) + 1
        return best

    def page(self, beat: str, index: int, item: tuple[str, str] | None = None,
             avoid: list[str] | None = None) -> PageDraft:
        beats = beat.split("+")
        main = beats[0]
        if item is None:
            item = self._next_item() if main == "memory" else ("kw", self.rng.choice(self.keywords))
        slots = dict(self.slots)
        kw = item[1] if item[0] == "kw" else next((k for k in self.keywords if k in item[1]),
                                                   self.rng.choice(self.keywords))
        slots.update(kw=kw, anecdote=item[1] if item[0] == "anecdote" else "")
        if not self.ko:
            slots.update(kw_the=_the(kw), kw_the_cap=_cap(_the(kw)))
        count = SENTENCES_FOR_AGE.get(self.req.reader_age, 3)
        avoid = avoid or []
        sentences = self._sentences(main, slots, count, avoid)
        for extra in beats[1:]:
            sentences += self._sentences(extra, slots, 1, avoid)
        if main == "memory" and item[0] == "anecdote":
            sentences += self._more_anecdotes(item[1])
        tone_line = P.TONE_LINES["ko" if self.ko else "en"].get(self.req.tone)
        if tone_line and main == "opening":
            sentences.insert(min(1, len(sentences)), render(tone_line[0], slots, self.rng))
        if main == "closing":  # the book always ends by naming the loved one
            if tone_line:
                sentences.append(render(tone_line[1], slots, self.rng))
            sentences.append(render(self.phrases["farewell"][0], slots, self.rng))
        mood, pose = self.rng.choice(P.MOODS[main]), self.rng.choice(P.POSES[main])
        setting = self._setting(main, item, kw)
        alone = main == "trouble"
        return PageDraft(
            text=" ".join(sentences),
            illustration_prompt=self._prompt(alone, pose, setting, mood),
            characters=[slots["child"]] if alone else [self.character_name, slots["child"]],
            setting=setting, mood=mood, pose_hint=pose if pose in POSE_HINTS else "standing",
        )

    def _more_anecdotes(self, told: str) -> list[str]:
        """Anecdotes no memory page will reach (more memories than pages) join this one."""
        self.memory_told += 1
        pages_left = max(0, self.memory_pages - self.memory_told)
        spare = [a for a in self.anecdotes if not self.used.get(a) and a != told]
        extra = spare[:max(0, len(spare) - pages_left)]
        for a in extra:
            self.used[a] = 1
        return [render(self.rng.choice(self.phrases["also"]), dict(self.slots, anecdote=a), self.rng) for a in extra]

    def _sentences(self, beat: str, slots: dict, count: int, avoid: list[str]) -> list[str]:
        pool = [t for t in self.phrases[beat] if slots.get("anecdote") or "{anecdote}" not in t]
        if not self.req.relation.strip():
            pool = [t for t in pool if "{rel" not in t] or pool
        self.rng.shuffle(pool)
        if slots.get("anecdote"):  # the memory the family wrote is the heart of its page
            pool.sort(key=lambda t: "{anecdote}" not in t)
        chosen, anecdote_used = [], False
        for template in pool:
            if "{anecdote}" in template and anecdote_used:
                continue
            line = render(template, slots, self.rng)
            if any(line in other for other in avoid):
                continue
            anecdote_used |= "{anecdote}" in template
            chosen.append((self.phrases[beat].index(template), line))
            if len(chosen) >= count:
                break
        # The phrase book lists each beat's sentences in telling order; keep that order.
        return [line for _, line in sorted(chosen)] or [render(pool[0], slots, self.rng)]

    def _setting(self, beat: str, item: tuple[str, str], kw: str) -> str:
        if beat in ("trouble", "comfort"):
            return self.rng.choice(P.DEFAULT_SETTINGS[beat])
        if item[0] == "anecdote" and not self.ko and kw not in item[1]:
            scene = item[1].rstrip(".!?")[:100]  # an English memory is itself a scene description
        else:
            scene = _english(item[1]) or _english(kw)
        return scene or self.rng.choice(P.DEFAULT_SETTINGS[beat])

    def _prompt(self, alone: bool, pose: str, setting: str, mood: str) -> str:
        rel = self.req.relation.strip().lower()
        who = next((v for k, v in P.VISUALS.items() if k in rel), "a kind grown-up")
        people = "a small child alone" if alone else f"{who} and a small child, {pose}"
        tone = P.TONE_WORDS.get(self.req.tone, "soft watercolor")
        return f"{people}, {setting}, {mood} mood, {tone} picture book illustration"


def _sentence(text: str, ko: bool) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if text and text[-1] not in ".!?。…\"'”":
        text += "."
    return text


def _pronouns(relation: str) -> tuple[str, str]:
    rel = relation.lower()
    if any(w in rel for w in P.FEMININE):
        return "She", "her"
    if any(w in rel for w in P.MASCULINE):
        return "He", "him"
    return "They", "them"


def _the(phrase: str) -> str:
    words = phrase.split()
    if not words:
        return phrase
    first = words[0].lower()
    if first in {"the", "a", "an", "my", "our", "her", "his", "their", "your"} or "'s" in phrase \
            or words[0][:1].isupper() or not phrase.isascii():
        return phrase
    return "the " + phrase


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _english(text: str) -> str:
    """English scene words for a remembered phrase: as typed when it is English, else from the
    glossary (longest matches first), else nothing."""
    text = text.strip()
    if not text:
        return ""
    if text.isascii():
        return text[:80]
    found, rest = [], text
    for key in sorted(P.GLOSSARY, key=len, reverse=True):
        if key in rest:
            found.append(P.GLOSSARY[key])
            rest = rest.replace(key, " ")
    return ", ".join(found[:3])
