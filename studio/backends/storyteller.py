"""The offline storyteller: a template-and-grammar story engine that needs no model and no network.

It is honest about what it is (the UI says "Offline storyteller"): it arranges the family's own
words — keywords, anecdotes, traits — into a picture-book arc (opening, memories, a small trouble,
comfort, a closing that names the loved one). The family's sentences are retold, not pasted:
Korean through the morphological analyser (``studio.korean_style``: one speech level, -시- for the
elder, 나 → 아이), English through ``studio.english_style`` (I/me/my → the child). Every keyword is
placed on some page, traits become sentences, and no sentence of the phrase book is used twice in
a book. Everything random comes from a generator seeded by the request's seed *and* the memories.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import replace

from studio.backends import story_phrases as P
from studio.backends.base import (Availability, CancelToken, CharacterDraft, PageDraft, StoryDraft,
                                  StoryRequest)
from studio import english_style as es
from studio import korean_style as ks
from studio import people
from studio.backends.story_plan import (EVENT_WORDS, HABIT, ONE_DAY, Plan, beat_pose, kind_of, plan_book,
                                        name_before_pronoun, pose_in_words, scene_words)  # noqa: F401 (pose_in_words: callers)
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
        return Availability.yes("avail.storyteller_ready")

    # -- the protocol ------------------------------------------------------------------------
    def write_story(self, request: StoryRequest, cancel: CancelToken | None = None) -> StoryDraft:
        teller = _Teller(request, salt="story")
        pages = []
        for index in range(len(teller.plan)):
            if cancel:
                cancel.raise_if_cancelled()
            pages.append(teller.page(index))
        return StoryDraft(title=teller.title(), pages=pages, characters=teller.characters())

    def rewrite_page(self, request: StoryRequest, pages: list[PageDraft], index: int,
                     cancel: CancelToken | None = None) -> PageDraft:
        if not 0 <= index < len(pages):
            raise IndexError(f"page {index + 1} is not in this story")
        request = replace(request, page_count=len(pages))
        old = pages[index]
        others = [p.text for i, p in enumerate(pages) if i != index]
        before = pages[index - 1].text if index else ""  # a comfort page answers the trouble before it
        event = next((name for name, words in EVENT_WORDS.items() if words.search(before)), "")
        draft = old
        for attempt in range(12):  # a fresh telling, never the same words as before
            if cancel:
                cancel.raise_if_cancelled()
            teller = _Teller(request, salt=f"page:{index}:{attempt}:{old.text}")
            teller.avoid(others)
            teller.event = event
            draft = teller.page(index)
            if draft.text != old.text:
                return draft
        return draft


class _Teller:
    """One telling: the cast, the plan of the book, the phrase book and a seeded RNG."""

    def __init__(self, request: StoryRequest, salt: str):
        self.req = request
        self.ko = request.language == "ko"
        digest = hashlib.sha256(json.dumps(
            [request.subject_name, request.relation, request.traits, request.keywords, request.anecdotes,
             request.tone, request.language, salt], ensure_ascii=False).encode()).hexdigest()
        self.rng = random.Random(f"{request.seed}:{digest}")
        self.book = P.phrases("ko" if self.ko else "en")
        self.level = request.speech_level if request.speech_level in ks.LEVELS else "haeyo"
        name = request.subject_name.strip() or ("그분" if self.ko else "someone dear")
        rel = request.relation.strip()
        traits = [t.strip() for t in request.traits if t.strip()]
        self.person, self.look = people.describe(rel, traits, seed=str(request.seed))
        self.keywords = [k.strip() for k in request.keywords if k.strip()]
        anecdotes = [a.strip() for a in request.anecdotes if a.strip()]
        self.used_templates: set[tuple[str, int]] = set()
        self.used_lines: set[str] = set()
        self.event = ""  # the trouble that happened ("lost", "rain"...): comfort lines must fit it
        self.day_told = False  # this page has told one particular day: "그날" / "that day" may follow
        self.habit = False  # this page's memory is a habit: no "one day…" opener before it
        child = request.child_name.strip()
        if self.ko:
            full = f"{name} {rel}" if rel else name
            child = child or "아이"
            self.cast = ks.Cast(full, tuple(w for w in (full, name, rel) if w), child=child, rel=rel)
            self.slots = dict(name=name, rel=rel or name, full=full, child=child,
                              child_call=f"{attach(child, '아/야')}," if request.child_name.strip() else "아가,",
                              call=full if rel else attach(name, "아/야"))
        else:
            full = f"{rel.capitalize()} {name}" if rel else name
            child = child or "the child"
            self.slots = dict(name=name, rel=rel or name, Rel=_cap(rel or name), full=full, Full=_cap(full), child=child,
                              Child=_cap(child), child_poss=f"{child}'s", call=full,
                              **people.pronouns(self.person.sex))
        self.character_name, self.child_name = full, child
        self.plan = plan_book(arc(request.page_count), self.keywords, anecdotes, traits)

    def avoid(self, texts: list[str]) -> None:
        """Lines already on other pages (a rewritten page must not repeat them)."""
        for text in texts:
            self.used_lines.update(ks.sentences(text))

    def title(self) -> str:
        kw = self.keywords[0] if self.keywords else ""
        if self.req.title_hint:
            return self.req.title_hint
        if self.ko:
            return f"{attach(self.slots['full'], '과/와')} {kw}".strip() if kw else f"{self.slots['full']} 이야기"
        return f"{self.slots['full']} and {_the(kw)}" if kw else f"A Story of {self.slots['full']}"

    def characters(self) -> list[CharacterDraft]:
        look = self.look if self.person.age == "pet" else self.look
        return [CharacterDraft(self.character_name, look),
                CharacterDraft(self.child_name, people.child_description(str(self.req.seed)))]

    # -- one page ----------------------------------------------------------------------------
    def page(self, index: int) -> PageDraft:
        plan = self.plan[index]
        beats = plan.beat.split("+")
        main = beats[0]
        count = SENTENCES_FOR_AGE.get(self.req.reader_age, 3)
        slots = dict(self.slots)
        kw = self._filler_keyword(index, plan)
        slots.update(kw=kw, **self._kw_slots(kw))
        scenes: list[str] = []
        core: list[str] = []
        self.habit = any(HABIT.search(a) for a in plan.anecdotes)
        self.day_told = False
        if main == "comfort" or "comfort" in beats[1:]:
            fix = self._resolution(slots, scenes)  # a loss is put right before anything else is said
            core += [fix] if fix else []
        for i, anecdote in enumerate(plan.anecdotes):
            if i:
                core.append(self._pick("also", self.book["also"], slots, scenes) or "")
            core.append(self._retell(anecdote))
            self.day_told = self.day_told or bool(ONE_DAY.search(core[-1]))
        for keyword in plan.keywords:  # the closing speaks of now: its keyword lines are present ones
            core.append(self._keyword_line(keyword, scenes, now=main == "closing"))
        if plan.many:
            core.append(self._many_line(plan.many))
        traits = self._trait_lines(plan.traits)
        core = traits + core if main == "opening" else core + traits  # a book opens by saying who she was
        core = [c for c in core if c]
        start, end = [], []
        room = count - len(core) - (1 if main == "closing" else 0)  # the farewell closes the book
        room = max(1 if main in ("opening", "comfort", "trouble", "closing") else 0, room)
        if main == "trouble":  # one thing goes wrong on a trouble page, and it opens the page
            line, template = self._pick_template(main, self.book[main], slots, scenes, event=True)
            if line is not None:
                self.event = template["event"]
                self.day_told = bool(ONE_DAY.search(line))
                start.append(line)
                room -= 1
        pool = self.book[main]
        spare = [(main, pool)]
        if main != "trouble":  # a trouble page stays on its trouble: no borrowed happy memory lines
            spare += [("together", self.book["together"]), ("memory", self.book["memory"])]
            spare += [("kw.any", self.book["kw"]["any"])] if kw else []
        for _ in range(room):
            for name, templates in spare:  # a long book with few memories borrows quiet lines
                # one sentence opens a page: a second opener is not picked (nor counted as told)
                line, template = self._pick_template(name, templates, slots, scenes, opener=not start)
                if line is not None:
                    break
            if line is None:
                break
            (start if template.get("at") == "start" else end).append(line)
        sentences = start + core + end
        for extra in beats[1:]:
            if extra == "comfort" and self.event in ("lost", "precious"):
                line = self._resolution(slots, scenes)
            else:
                line, _ = self._pick_template(extra, self.book[extra], slots, scenes)
            sentences += [line] if line else []
        tone_line = P.TONE_LINES["ko" if self.ko else "en"].get(self.req.tone)
        if tone_line and main == "opening":
            sentences.insert(min(1, len(sentences)), render(tone_line[0], slots, self.rng))
        if main == "closing":  # the book always ends by naming the loved one
            if tone_line:
                sentences.append(render(tone_line[1], slots, self.rng))
        text = " ".join(self._in_level(s) for s in sentences if s)
        if not self.ko:
            text = name_before_pronoun(text, self.slots, {self.req.subject_name.strip(), self.req.relation.strip()})
        if main == "closing":  # the child speaks to the elder: 해요체 at every level of the book
            text += " " + render(self.book["farewell"][0], slots, self.rng)
        mood = self.rng.choice(P.MOODS[main])
        pose = beat_pose(main, text, self.rng)  # what the page says they do is what is drawn
        setting = self._setting(main, plan, scenes)
        alone = main == "trouble"
        return PageDraft(
            text=text, illustration_prompt=self._prompt(alone, pose, setting, mood),
            characters=[self.child_name] if alone else [self.character_name, self.child_name],
            setting=setting, mood=mood, pose_hint=pose if pose in POSE_HINTS else "standing",
        )

    def _filler_keyword(self, index: int, plan: Plan) -> str:
        """The keyword a borrowed line may name: one this page does not already say ("지금도 된장찌개
        냄새가 나면…" then "된장찌개 냄새를 떠올릴 때마다…" reads as a machine repeating itself);
        none when every keyword is on the page already."""
        if not self.keywords:
            return ""
        on_page = plan.keywords + plan.many
        if not on_page:
            return self.rng.choice(self.keywords)
        others = [k for k in self.keywords if k not in on_page and not any(k in a for a in plan.anecdotes)]
        return others[index % len(others)] if others and not plan.many else ""

    def _kw_slots(self, kw: str) -> dict[str, str]:
        if self.ko:
            return {}
        return dict(kw_the=_the(kw), Kw_the=_cap(_the(kw)))

    def _retell(self, anecdote: str) -> str:
        if self.ko:
            return " ".join(ks.retell(s, self.level, self.cast) for s in ks.sentences(anecdote))
        return es.retell(anecdote, self.child_name, f"{self.child_name}'s")

    def _in_level(self, text: str) -> str:
        """Phrase-book lines are written in 해요체; another speech level converts each sentence."""
        if not self.ko or self.level == "haeyo":
            return text
        return " ".join(s if s.startswith(("\"", "“")) and s.endswith(("\"", "”")) else ks.retell(s, self.level)
                        for s in ks.sentences(text))

    def _keyword_line(self, keyword: str, scenes: list[str], now: bool = False) -> str:
        kinds = self.book["kinds"]
        kind = kind_of(keyword, kinds, self.ko)
        slots = dict(self.slots, kw=keyword, **self._kw_slots(keyword))
        pool = [(f"kw.{kind}", self.book["kw"][kind]), ("kw.any", self.book["kw"]["any"])]
        tries = [(name, templates, True) for name, templates in pool] if now else []
        for name, templates, only_now in tries + [(name, templates, False) for name, templates in pool]:
            line, _ = self._pick_template(name, templates, slots, scenes, now=only_now)
            if line:
                scenes += scene_words(keyword, self.ko)
                return line
        return ""

    def _many_line(self, keywords: list[str]) -> str:
        if self.ko:
            listed = ", ".join(keywords[:-1]) + f", 그리고 {keywords[-1]}" if len(keywords) > 1 else keywords[0]
        else:
            listed = ", ".join(_cap(_the(k)) if i == 0 else _the(k) for i, k in enumerate(keywords[:-1]))
            listed = f"{listed} and {_the(keywords[-1])}" if len(keywords) > 1 else _cap(_the(keywords[0]))
        line, _ = self._pick_template("kw.many", self.book["kw"]["many"], dict(self.slots, kws=listed), [])
        return line or ""

    def _trait_lines(self, traits: list[str]) -> list[str]:
        lines: list[str] = []
        for trait in traits:
            if self.ko:
                line = ks.trait_sentence(trait, self.cast, self.level)
            else:
                line = es.trait_sentence(trait, self.slots["Full"], self.slots["was"])
            if line is None:
                line, _ = self._pick_template("trait_noun", self.book["trait_noun"], dict(self.slots, trait=trait), [])
            if line:
                lines.append(line)
        if self.ko and len(lines) > 2:  # many traits: two to a sentence, like a person would say them
            paired = []
            for i in range(0, len(lines), 2):
                pair = lines[i:i + 2]
                if len(pair) == 2 and pair[1].startswith(self.cast.full):
                    paired.append(ks.join_two(pair[0], pair[1][len(self.cast.full):].lstrip("은는 ")))
                else:
                    paired += pair
            lines = paired
        return lines

    def _pick(self, name: str, templates: list, slots: dict, scenes: list[str]) -> str | None:
        return self._pick_template(name, templates, slots, scenes)[0]

    def _resolution(self, slots: dict, scenes: list[str]) -> str | None:
        """The comfort line that puts the trouble right: the lost thing found, the lost child found."""
        if self.event not in ("lost", "precious"):
            return None
        return self._pick_template("comfort", self.book["comfort"], slots, scenes, resolves=self.event)[0]

    def _pick_template(self, name: str, templates: list, slots: dict, scenes: list[str],
                       event: bool = False, now: bool = False, resolves: str = "",
                       opener: bool = True) -> tuple[str | None, dict]:
        """An unused phrase-book line (seeded choice), rendered; None when every line is used.
        ``event`` asks for a line that makes something happen (a trouble); other picks never take one,
        and a line marked ``after`` fits only the trouble that happened ("dried her wet hair" after rain)."""
        order = list(range(len(templates)))
        self.rng.shuffle(order)
        fresh = [i for i in order if (name, i) not in self.used_templates]
        for i in fresh + [i for i in order if i not in fresh]:
            template = templates[i] if isinstance(templates[i], dict) else {"t": templates[i]}
            need = template.get("needs")
            if bool(template.get("event")) != event or (template.get("at") == "start" and not opener):
                continue
            if (now and not template.get("now")) or (resolves and template.get("resolves") != resolves):
                continue
            if (need == "day" and not self.day_told) or (template.get("tells") == "day" and self.habit):
                continue
            if template.get("after") and self.event not in template["after"].split():
                continue
            if (need == "rel" and not self.req.relation.strip()) or (need == "kw" and not slots.get("kw")):
                continue
            line = render(template["t"], slots, self.rng)
            if any(s in self.used_lines for s in ks.sentences(line)):
                continue
            self.used_templates.add((name, i))
            self.used_lines.update(ks.sentences(line))
            self.day_told = self.day_told or bool(ONE_DAY.search(line))
            if template.get("scene"):
                scenes.append(template["scene"])
            return line, template
        return None, {}

    def _setting(self, beat: str, plan: Plan, scenes: list[str]) -> str:
        words: list[str] = []
        for text in plan.anecdotes:
            words += scene_words(self._retell(text) if not self.ko else text, self.ko)
        for text in plan.keywords + plan.many:
            words += scene_words(text, self.ko)
        words += scenes
        words = list({w.lower(): w for w in reversed(words) if w}.values())[::-1]
        return ", ".join(words[:4]) or self.rng.choice(P.DEFAULT_SETTINGS[beat])

    def _prompt(self, alone: bool, pose: str, setting: str, mood: str) -> str:
        who = self.look.split(",")[0]
        people_on_page = "a small child alone" if alone else f"{who} and a small child, {pose}"
        tone = P.TONE_WORDS.get(self.req.tone, "soft watercolor")
        return f"{people_on_page}, {setting}, {mood} mood, {tone} picture book illustration"


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
