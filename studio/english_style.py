"""English narration: a family's first-person memory retold in the book's third person.

"Grandpa took me fishing and I always caught nothing" → "Grandpa took the child fishing and the
child always caught nothing". Only narration changes: quoted speech keeps its I and my. The tense
the family wrote is kept; a present-tense verb after "I" gets its third-person form.
"""
from __future__ import annotations

import re

QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")
_FIRST = re.compile(r"\b(I'm|I've|I'd|I'll|I|me|my|mine|myself|we're|we've|we'd|we'll|we|us|our|ours|ourselves)\b",
                    re.IGNORECASE)
_ADVERBS = {"still", "always", "often", "never", "really", "just", "sometimes", "usually", "also", "even", "only",
            "so", "truly", "rarely", "ever"}
_NO_S = {"would", "could", "should", "might", "must", "will", "can", "shall", "may", "did", "was", "had", "used",
         "didn't", "couldn't", "wouldn't", "wasn't", "won't", "can't", "never"}
_IRREGULAR_PRESENT = {"am": "is", "have": "has", "do": "does", "don't": "doesn't", "go": "goes", "be": "is"}
_PAST = {"was", "were", "had", "did", "made", "sang", "told", "knew", "took", "gave", "ran", "wore", "saw", "came",
         "went", "ate", "baked", "taught", "brought", "bought", "sat", "stood", "held", "kept", "read", "found",
         "thought", "felt", "heard", "left", "let", "put", "said", "got", "built", "drove", "grew", "swam", "spent",
         "caught", "fed", "fell", "flew", "hid", "hung", "lay", "led", "lit", "met", "paid", "rode", "rang", "rose",
         "sent", "shook", "shone", "slept", "sold", "sought", "spoke", "stuck", "swept", "threw", "understood", "won",
         "wrote", "woke", "used", "loved", "laughed", "smiled", "always", "never", "would", "could", "liked"}


def narration(text: str) -> str:
    return QUOTED.sub(lambda m: " " * len(m.group(0)), text)


def first_person(text: str) -> list[str]:
    """I/me/my left in the narration (quotes excluded)."""
    return re.findall(r"\b(I|me|my|mine|myself)\b", narration(text))


def _third_singular(verb: str) -> str:
    low = verb.lower()
    if low in _IRREGULAR_PRESENT:
        return _IRREGULAR_PRESENT[low]
    if low in _NO_S or low in _PAST or low.endswith(("ed", "s")) or not low.isalpha():
        return verb
    if low.endswith(("sh", "ch", "x", "o", "z")):
        return verb + "es"
    if low.endswith("y") and len(low) > 1 and low[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def retell(sentence: str, child: str = "the child", child_poss: str = "the child's", they: str = "they") -> str:
    """First person outside quotes → the child (singular) / they (we), verbs agreeing."""
    pieces, last = [], 0
    for m in QUOTED.finditer(sentence):
        pieces.append((sentence[last:m.start()], True))
        pieces.append((m.group(0), False))
        last = m.end()
    pieces.append((sentence[last:], True))
    out = "".join(_retell_part(p, child, child_poss, they) if narrate else p for p, narrate in pieces)
    out = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), out.strip())
    return out if out.endswith((".", "!", "?", "\"", "”")) else out + "."


def _retell_part(text: str, child: str, child_poss: str, they: str) -> str:
    def swap(m: re.Match) -> str:
        word = m.group(1)
        low = word.lower()
        rest = text[m.end():]
        if low in ("i", "i'm", "i've", "i'd", "i'll"):
            lead = {"i'm": " is", "i've": " has", "i'd": " would", "i'll": " will"}.get(low, "")
            return child + lead + ("" if lead else _agree_marker(rest))
        if low == "me":
            return child
        if low in ("my", "mine"):
            return child_poss
        if low == "myself":
            return "all alone"
        if low in ("we", "we're", "we've", "we'd", "we'll"):
            return they + {"we're": " are", "we've": " have", "we'd": " would",
                           "we'll": " will"}.get(low, "")
        if low == "us":
            return "them"
        if low in ("our", "ours"):
            return "their" if low == "our" else "theirs"
        return "themselves"

    text = _FIRST.sub(swap, text)
    while "\x00" in text:  # the verb after a singular "the child" agrees: "the child still loves"
        at = text.index("\x00")
        head, tail = text[:at], text[at + 1:]
        words = re.match(r"((?:\s+(?:%s)\b)*)(\s+)([A-Za-z']+)" % "|".join(_ADVERBS), tail, re.IGNORECASE)
        if words:
            verb = _third_singular(words.group(3))
            tail = words.group(1) + words.group(2) + verb + tail[words.end():]
        text = head + tail
    return text


def _agree_marker(rest: str) -> str:
    return "\x00" if rest.startswith(" ") else ""


def trait_sentence(trait: str, full: str, was: str = "was") -> str:
    """'laughed loudly' → 'Grandpa Harold laughed loudly.'; 'kind' → 'Grandpa Harold was kind.';
    'warm hands' → 'Grandpa Harold had warm hands.'"""
    text = trait.strip().rstrip(".")
    if not text:
        return ""
    words = text.split()
    first = words[0].lower()
    if first in _ADVERBS and len(words) > 1:
        second = words[1].lower()
        if second.endswith("ing"):
            body = f"{was} {text}"
        else:
            body = text
    elif first.endswith("ed") or first in _PAST or first in ("loved", "liked"):
        body = text
    elif first in ("a", "an", "the") or (len(words) > 1 and words[-1].endswith("s") and not words[-1].endswith("ss")):
        body = f"had {text}" if first not in ("a", "an", "the") else f"{was} {text}"
    elif first.endswith("s") and len(words) > 1:  # "loves gardening": tense kept
        body = text
    else:
        body = f"{was} {text}"
    return f"{full} {body}."
