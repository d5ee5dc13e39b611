"""Which of the family's words go on which page, and what each page's scene looks like.

The plan places every anecdote on a memory page (spares on quiet 'together' pages), every keyword
on some page (memory pages without an anecdote first), and every trait in a sentence, so nothing
the family gave is left out however short the book. It depends only on the family's words and the
page count, so rewriting one page keeps that page's memory.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from studio.backends import story_phrases as P

MAX_KEYWORDS_PER_PAGE = 2
# "그날" / "that day" needs a page that tells one day; a habit ("가을마다", "every summer") is not one.
ONE_DAY = re.compile(r"어느 날|한번은|그러던 날|\b(one day|once|one afternoon)\b", re.I)
HABIT = re.compile(r"마다|면\s|늘\s|언제나|곤\s|\b(every|always|whenever|used to|would)\b", re.I)
# What each trouble looked like on its page, so a rewritten comfort page still answers it.
EVENT_WORDS = {"lost": re.compile(r"길을 잃|lost the way"), "rain": re.compile(r"비가 쏟아|down came the rain"),
               "precious": re.compile(r"소중한 물건을 잃어버|lost something precious")}
# A held book fits only a page that speaks of reading or of stories being told.
READING = re.compile(r"읽|책|옛날이야기|동화|이야기를 들려|\bread(s|ing)?\b|\bbooks?\b|\bstor(y|ies)\b", re.I)
_SNOW = re.compile(r"함박눈|첫눈|눈송이|눈사람|눈싸움|눈밭|눈길|눈\s?(이\s)?(내리|오|쌓|덮)|\bsnow")
_RAIN = re.compile(r"빗소리|비가|비\s?오|장마|소나기|\brain")
_NIGHT = re.compile(r"밤|별빛|달빛|\bnight|\bmoon|\bstars")


@dataclass
class Plan:
    beat: str
    anecdotes: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    traits: list[str] = field(default_factory=list)
    many: list[str] = field(default_factory=list)  # keywords named together in one sentence


def plan_book(beats: list[str], keywords: list[str], anecdotes: list[str], traits: list[str]) -> list[Plan]:
    plans = [Plan(b) for b in beats]
    memory = [p for p in plans if p.beat == "memory"]
    together = [p for p in plans if p.beat == "together"]
    homes = memory or [p for p in plans if p.beat != "closing"] or plans
    for i, anecdote in enumerate(anecdotes):
        if i < len(homes):
            homes[i].anecdotes.append(anecdote)
        elif i - len(homes) < len(together):
            together[i - len(homes)].anecdotes.append(anecdote)
        else:
            homes[(i - len(homes) - len(together)) % len(homes)].anecdotes.append(anecdote)
    told = " ".join(anecdotes)
    pending = [k for k in keywords if k not in told]
    order = ([p for p in memory if not p.anecdotes] + together + [p for p in memory if p.anecdotes]
             + [p for p in plans if p.beat.split("+")[0] in ("opening", "comfort", "closing")]) or plans
    for keyword in pending:  # the least-filled page first; the order above breaks ties
        home = min(order, key=_load)
        if len(home.keywords) < MAX_KEYWORDS_PER_PAGE and _load(home) < 3:
            home.keywords.append(keyword)
        else:
            plans[0].many.append(keyword)
    trait_homes = [plans[0]] + together + memory + [plans[-1]]
    for trait in traits:
        min(trait_homes, key=_load).traits.append(trait)
    return plans


def _load(plan: Plan) -> int:
    return len(plan.anecdotes) + len(plan.keywords) + len(plan.traits) + (1 if plan.many else 0)


def kind_of(keyword: str, kinds: dict[str, list[str]], ko: bool) -> str:
    """smell / sound / taste / time / scene / thing, from the keyword's head noun (the analyser's last
    common noun in Korean, the last word in English)."""
    if ko:
        from studio.korean_style import tokens

        nouns = [t.form for t in tokens(keyword) if t.tag in ("NNG", "NNP")]
        head = nouns[-1] if nouns else keyword
    else:
        words = re.findall(r"[a-z']+", keyword.lower())
        head = words[-1] if words else keyword
    for kind in ("smell", "sound", "taste", "time", "scene"):  # a time (밤, winter) is no place to go
        if any(head == w or (ko and head.endswith(w) and len(w) > 1) for w in kinds.get(kind, [])):
            return kind
    return "thing"


def scene_words(text: str, ko: bool) -> list[str]:
    """English scene words for the illustrator: weather and time first (snow, rain, night), then
    places and things from the glossary (Korean nouns as the analyser finds them) or the English
    words themselves."""
    found: list[str] = []
    if _SNOW.search(text):
        found.append("falling snow, white snowy ground")
    if _RAIN.search(text):
        found.append("rain falling, gray sky")
    if _NIGHT.search(text):
        found.append("night, dark sky with the moon and stars")
    if ko:
        from studio.korean_style import tokens

        for noun in (t.form for t in tokens(text) if t.tag in ("NNG", "NNP")):
            word = P.GLOSSARY.get(noun)
            if word is None:
                word = next((v for k, v in sorted(P.GLOSSARY.items(), key=lambda kv: -len(kv[0]))
                             if len(k) > 1 and k in noun), None)
            if word and noun not in ("눈", "밤", "비") and word not in found:
                found.append(word)
    else:
        found.append(text.strip().rstrip(".!?")[:90])
    return found[:4]


def pose_in_words(text: str) -> str:
    """The pose the page's words describe, or "": the first sentence that names one decides (in
    ``POSE_WORDS`` order within a sentence)."""
    for sentence in re.split(r"(?<=[.!?…])\s+", text.lower()):
        found = next((pose for pose, stems in P.POSE_WORDS if any(_names(sentence, s) for s in stems)), "")
        if found:
            return found
    return ""


def _names(sentence: str, stem: str) -> bool:
    """A Korean stem anywhere (endings follow it); an English one only at a word's start ("read" is
    not in "bread")."""
    if not stem.isascii():
        return stem in sentence
    return re.search(r"\b" + re.escape(stem.strip()), sentence) is not None


def beat_pose(beat: str, text: str, rng: random.Random) -> str:
    """The page's pose: what its words say they do, else one of the beat's usual poses — but never
    a book held up on a page that speaks of no reading or stories (persimmon picking is no reading)."""
    found = pose_in_words(text)
    if found:
        return found
    poses = [p for p in P.POSES[beat] if p != "reading together" or READING.search(text)]
    return rng.choice(poses or ["standing"])


def name_before_pronoun(text: str, slots: dict[str, str], names: set[str]) -> str:
    """A page is read on its own: the elder is named before a pronoun stands for them ("The child
    still remembers the smell of his pipe" opening a page becomes "…of Grandpa Harold's pipe")."""
    she, obj, poss = slots["she"], slots["her_obj"], slots["her"]
    names = (set(names) | {slots["full"]}) - {""}
    named = re.search(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b", text, re.I) if names else None
    outside = re.sub(r"\"[^\"]*\"", lambda m: "\0" * len(m.group()), text)  # speech keeps its own pronouns
    first = re.search(rf"\b({she}|{obj}|{poss})\b", outside, re.I)
    if not first or (named and named.start() < first.start()) or she == "they":
        return text
    word, full = first.group(), slots["full"]
    after = outside[first.end():first.end() + 12]
    if word.lower() == she:
        new = slots["Full"] if first.start() == 0 or outside[:first.start()].rstrip().endswith((".", "!", "?")) else full
    elif word.lower() == poss and (word.lower() != obj or re.match(r"\s+[a-z]", after) and
                                   not re.match(r"\s+(and|to|with|for|up|again|close|in|on|at)\b", after)):
        new = f"{full}'s"
    else:
        new = full
    return text[:first.start()] + new + text[first.end():]
