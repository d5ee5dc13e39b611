"""Korean narration with a real morphological analyser (kiwipiepy, whose model ships as a package).

A family writes memories as they speak: "눈 오는 밤이면 아랫목에 나를 눕히고 옛날이야기를 들려주셨다".
A picture book for a small child needs one speech level on every page, the elder honoured with -시-
when she is the subject, and the child in the third person. Working on morphemes (not on strings)
lets us change only the ending, the pronoun or the honorific, and let the analyser's ``join`` put
the word back together with its correct form (들려주셨다 → 들려주셨어요, 나를 → 아이를).

Speech levels: ``haeyo`` (해요체, the default for 3–8 year olds), ``haera`` (해라체, 한다체 of
written stories) and ``hapsyo`` (합쇼체, formal). The analyser is imported lazily and built once.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from studio.korean import final_consonant

LEVELS = ("haeyo", "haera", "hapsyo")
_lock = threading.Lock()
_kiwi = None
QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|'[^']*'|‘[^’]*’")
_SENTENCE = re.compile(r"(?:\"[^\"]*\"|“[^”]*”|[^.!?…\"“])+(?:[.!?…]+|$)|\"[^\"]*\"|“[^”]*”")
FIRST_PERSON = {"나", "저"}  # NP forms; 내 = 나+의, 제 = 저+의 in the analyser's tokens
FIRST_PLURAL = {"우리", "저희"}
_HONORIFIC_STEMS = {"먹": "드시", "자": "주무시", "말하": "말씀하시"}  # verbs with their own honorific
_PREDICATE = ("VV", "VA", "VX", "VCP", "VCN", "XSV", "XSA")


def kiwi():
    """The shared analyser (about a second to build; thread-safe to use once built)."""
    global _kiwi
    if _kiwi is None:
        with _lock:
            if _kiwi is None:
                from kiwipiepy import Kiwi  # lazy: only a Korean story loads the model

                _kiwi = Kiwi()
    return _kiwi


def tokens(text: str):
    return kiwi().tokenize(text)


def join(morphs) -> str:
    return kiwi().join([(m[0], m[1]) for m in morphs])


@dataclass
class Cast:
    """Who the narration talks about: the elder (honoured) and the child (third person)."""
    full: str                      # 순자 할머니
    elder_words: tuple[str, ...]   # words that name the elder: 순자, 할머니, 순자 할머니
    child: str = "아이"            # 아이 or the child's name
    both: str = ""                 # 순자 할머니와 아이
    rel: str = ""

    def __post_init__(self):
        if not self.both:
            self.both = f"{self.full}{'과' if final_consonant(self.full) else '와'} {self.child}"


def sentences(text: str) -> list[str]:
    """Sentences, with a quotation standing alone kept as its own sentence."""
    return [m.group(0).strip() for m in _SENTENCE.finditer(text or "") if m.group(0).strip()]


def narration(text: str) -> str:
    """The text with quoted speech blanked out (same length, so analyser offsets still match)."""
    return QUOTED.sub(lambda m: " " * len(m.group(0)), text)


# -- endings --------------------------------------------------------------------------------------
def in_level(ending: str, level: str) -> bool:
    """Whether a sentence-final ending (EF form) belongs to a speech level."""
    if level == "haeyo":
        return ending.endswith("요") or ending == "죠"
    if level == "hapsyo":
        return ending.endswith(("니다", "니까", "시오", "ㅂ시다"))
    return ending.endswith(("다", "니", "냐", "자", "라", "구나", "렴")) and not ending.endswith("니다")


def final_ending(sentence: str):
    """The analyser's last sentence-final ending (EF) of the narration, or None."""
    toks = [t for t in tokens(narration(sentence)) if t.tag not in ("SF", "SP", "SS", "SSO", "SSC", "SE", "SW")]
    return toks[-1] if toks and toks[-1].tag == "EF" else None


def _copula(noun: str, past: bool, level: str, question: bool) -> str:
    vowel = not final_consonant(noun)
    if past:
        stem = "였" if vowel else "이었"
        return stem + {"haeyo": "어요", "haera": "니" if question else "다",
                       "hapsyo": "습니까" if question else "습니다"}[level]
    return {"haeyo": "예요" if vowel else "이에요", "haera": ("니" if vowel else "이니") if question else
            ("다" if vowel else "이다"), "hapsyo": "입니까" if question else "입니다"}[level]


def _ending_for(stem_tag: str, stem_form: str, past: bool, level: str, question: bool) -> str:
    if level == "haeyo":
        return "어요"
    if level == "hapsyo":
        return "습니까" if question else "습니다"
    if question:
        return "니"
    if past or not stem_tag.startswith(("VV", "XSV")) or stem_form.endswith("있"):
        return "다"
    return "는다" if final_consonant(stem_form) not in (0, 8) else "ᆫ다"


def retell(sentence: str, level: str, cast: Cast | None = None, honour: bool | None = None) -> str:
    """One family sentence as the book says it: first person → the child, the final predicate in
    ``level``, -시- added when the elder is its subject (``honour`` forces it either way)."""
    text = sentence.strip()
    if not text:
        return text
    if cast is not None:
        text, subject = _third_person(text, cast)
        if honour is None:
            honour = subject == "elder"
    return _end(text, level, honour)


def _end(text: str, level: str, honour: bool | None) -> str:
    """Rebuild the final predicate of the narration with the chosen ending (and -시- when asked);
    everything before the predicate's stem stays exactly as written."""
    masked = narration(text)
    stop = len(masked.rstrip().rstrip(".!?…~").rstrip())
    if stop == 0:
        return text
    question = masked.rstrip().endswith("?")
    word_start = masked.rfind(" ", 0, stop) + 1
    toks = [t for t in tokens(masked[:stop]) if t.start >= word_start]
    if not toks:
        return _closing_mark(text)
    last = toks[-1]
    if last.tag == "EF" and in_level(last.form, level) and not honour:
        return _closing_mark(text)
    end = last.start + last.len
    if last.tag.startswith(("NN", "NP", "NR", "XSN", "SL", "SN", "SH")):  # a sentence ending in a noun
        noun = text[word_start:end]
        return _closing_mark(text[:end] + _copula(noun, False, level, question) + text[end:])
    keep = toks[:-1] if last.tag in ("EF", "EC", "ETN") else toks
    stem_i = max((i for i, t in enumerate(keep) if t.tag.startswith(_PREDICATE)), default=None)
    if stem_i is None:
        return _closing_mark(text)
    stem = keep[stem_i]
    morphs = [(t.form, t.tag) for t in keep[stem_i:]]
    past = any(m[1] == "EP" and m[0] in ("었", "았", "였", "ᆻ") for m in morphs)
    has_si = any(m[1] == "EP" and m[0] in ("시", "으시") for m in morphs)
    start = stem.start
    if stem.tag == "VCP" and not has_si and not honour:
        noun = text[word_start:start]
        rebuilt = _copula(noun or "이", past, level, question)
    else:
        if honour and not has_si:
            replacement = _HONORIFIC_STEMS.get(stem.form)
            if replacement and stem.tag.startswith("VV"):
                morphs[0] = (replacement, "VV")
            else:
                morphs.insert(1, ("시", "EP"))
        ending = _ending_for(stem.tag, stem.form, past, level, question)
        rebuilt = join(morphs) + "니" if ending == "니" else join(morphs + [(ending, "EF")])
    return _closing_mark(text[:start] + rebuilt + text[end:])


def _closing_mark(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "!", "?", "…", "\"", "”")) else text + "."


# -- people ---------------------------------------------------------------------------------------
def _third_person(text: str, cast: Cast) -> tuple[str, str]:
    """Replace 나/저/우리 (as the analyser tags them) with the child / both, outside quotes, and say
    whose sentence it is: 'elder', 'child', 'both' or ''."""
    masked = narration(text)
    toks = tokens(masked)
    edits: list[tuple[int, int, str]] = []
    first_elsewhere = False
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.tag == "NP" and t.form in FIRST_PERSON | FIRST_PLURAL:
            plural = t.form in FIRST_PLURAL
            j = i + 1
            while j < len(toks) and toks[j].tag.startswith("J") and toks[j].start <= toks[j - 1].start + toks[j - 1].len:
                j += 1
            particles = [(p.form, p.tag) for p in toks[i + 1:j]]
            subject = any(p[1] in ("JKS",) or (p[1] == "JX" and p[0] in ("은", "는")) for p in particles)
            nxt = toks[j] if j < len(toks) else None
            if plural and not particles and nxt is not None and nxt.tag.startswith("NN"):
                word = "" if any(w in nxt.form for w in cast.elder_words) else f"{cast.rel or cast.full}네 "
                end = nxt.start
            else:
                who = cast.both if plural else cast.child
                word = join([(who, "NNP"), *particles]) if particles else who
                end = toks[j - 1].start + toks[j - 1].len
            edits.append((t.start, end, word))
            first_elsewhere |= not plural and not subject
            i = j
            continue
        i += 1
    for start, end, word in reversed(edits):
        text = text[:start] + word + text[end:]
    named = main_subject(text, cast)
    if named:
        return text, named
    if first_elsewhere:  # "나를 안아 주었다": someone held the child, the elder in these memories
        return _with_subject(text, cast.full), "elder"
    if re.search(r"함께|같이|둘이", text):
        return _with_subject(text, cast.both, both=True), "both"
    if _final_has_si(text):  # "가을마다 곶감을 만들어 주셨다": -시- says the elder did it; the book names her
        return _with_subject(text, cast.full), "elder"
    return text, ""


def _final_predicate(text: str):
    """The narration's tokens (punctuation left out) from its final predicate's stem on; [] if none."""
    toks = [t for t in tokens(narration(text)) if not t.tag.startswith("S")]
    stem = max((i for i, t in enumerate(toks) if t.tag.startswith(_PREDICATE)), default=None)
    return [] if stem is None else toks[stem:]


def _final_has_si(text: str, predicate=None) -> bool:
    """Whether the final predicate of the narration carries -시- itself (as the analyser tags it;
    a stem that merely ends in 시, like 마시-, does not count)."""
    rest = _final_predicate(text) if predicate is None else predicate
    return bool(rest) and (any(t.tag == "EP" and t.form in ("시", "으시") for t in rest)
                           or rest[0].form in _HONORIFIC_STEMS.values())


def _with_subject(text: str, who: str, both: bool = False) -> str:
    topic = "은" if final_consonant(who) else "는"
    return f"{who}{topic} {text}"


def main_subject(text: str, cast: Cast) -> str:
    """Whose sentence it is, from the analyser's subject/topic marks: the first topic (은/는), else
    the last subject (이/가/께서) that is not inside a relative clause."""
    masked = narration(text)
    toks = tokens(masked)
    marked = []
    for i, t in enumerate(toks):
        if i and (t.tag == "JKS" or (t.tag == "JX" and t.form in ("은", "는"))):
            start = masked.rfind(" ", 0, t.start) + 1
            while start > 1:  # "할머니와 아이는": the phrase takes in the words joined by 와/과
                before = masked.rfind(" ", 0, start - 1) + 1
                if not masked[before:start - 1].endswith(("와", "과", "랑")):
                    break
                start = before
            relative = any(s.tag == "ETM" for s in toks[i + 1:i + 4])
            marked.append((t.tag == "JX", masked[start:t.start], relative))
    topics = [p for is_topic, p, _ in marked if is_topic]
    subjects = [p for is_topic, p, rel in marked if not is_topic and not rel]
    phrase = topics[0] if topics else (subjects[-1] if subjects else "")
    if not phrase:
        return ""
    if cast.both and (phrase.startswith(cast.both) or phrase in ("둘", "둘이", "두 사람")):
        return "both"
    if cast.child and phrase.endswith(cast.child):
        return "child"
    if any(phrase.endswith(w) for w in cast.elder_words):
        return "elder"
    return "other"


def honoured(sentence: str) -> bool:
    """Whether the final predicate of the narration carries the honorific -시- (here a stem the
    analyser keeps whole with its 시, like 계시-, counts too)."""
    rest = _final_predicate(sentence)
    return _final_has_si(sentence, rest) or bool(rest) and rest[0].form.endswith("시")


def first_person(text: str) -> list[str]:
    """First-person pronouns the analyser finds in the narration (quotes excluded)."""
    return [t.form for t in tokens(narration(text)) if t.tag == "NP" and t.form in FIRST_PERSON]


# -- traits -------------------------------------------------------------------------------------
def trait_sentence(trait: str, cast: Cast, level: str) -> str | None:
    """'웃음이 많으셨음' → '순자 할머니는 웃음이 많으셨어요.'; None when the trait is a bare noun
    phrase (the caller gives it a sentence of its own)."""
    trait = trait.strip().rstrip(".")
    toks = [t for t in tokens(trait) if not t.tag.startswith("S")]
    if not toks or not toks[-1].tag.startswith(("E", "V", "XS")):
        return None
    has_subject = main_subject(trait, cast) == "elder"
    text = trait if has_subject else _with_subject(trait, cast.full)
    text = _past(text)
    return _end(text, level, honour=True)


def _past(text: str) -> str:
    """Put the final predicate of a trait in the past (a memory book remembers)."""
    toks = [t for t in tokens(text) if not t.tag.startswith("S")]
    stem = max((i for i, t in enumerate(toks) if t.tag.startswith(_PREDICATE)), default=None)
    if stem is None or any(t.tag == "EP" and t.form in ("었", "았", "였", "ᆻ") for t in toks[stem:]):
        return text
    morphs = [(t.form, t.tag) for t in toks[stem:] if t.tag not in ("EF", "ETN", "EC")]
    return text[:toks[stem].start] + join(morphs + [("었", "EP"), ("다", "EF")])


def join_two(first: str, second: str) -> str:
    """'A했어요.' + 'B했어요.' → 'A했고, B했어요.' (two traits in one sentence)."""
    toks = [t for t in tokens(first) if not t.tag.startswith("S")]
    stem = max((i for i, t in enumerate(toks) if t.tag.startswith(_PREDICATE)), default=None)
    if stem is None or toks[-1].tag != "EF":
        return f"{first} {second}"
    morphs = [(t.form, t.tag) for t in toks[stem:-1]]
    return first[:toks[stem].start] + join(morphs + [("고", "EC")]) + ", " + second
