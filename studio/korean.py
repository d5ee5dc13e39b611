"""Korean particles (조사) chosen by the sound of the word they follow.

A Hangul syllable is ``0xAC00 + (initial * 21 + medial) * 28 + final``; ``final`` 0 means the
syllable ends in a vowel. 으로/로 is the one pair with an extra rule: a final ㄹ takes 로
("서울로", "연필로"), like a vowel. Words that end in digits or Latin letters are read aloud
the Korean way ("3" = 삼 has a final consonant, "Anna" ends in a vowel).
"""
from __future__ import annotations

import re

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_RIEUL = 8  # index of ㄹ among the 28 finals

# Final consonant of each digit as read in Sino-Korean: 영 일 이 삼 사 오 육 칠 팔 구.
_DIGIT_FINAL = {"0": 21, "1": 8, "2": 0, "3": 16, "4": 0, "5": 0, "6": 1, "7": 8, "8": 8, "9": 0}
# English letter names read in Korean that end in a consonant: 엘, 엠, 엔, 알.
_LETTER_FINAL = {"l": 8, "m": 16, "n": 4, "r": 8}
# Words ending like these are usually read with a final consonant ("book" 북, "bed" 베드 is a vowel).
_ENGLISH_CONSONANT_ENDINGS = ("ck", "k", "m", "n", "ng", "l", "p", "b", "t")

# (with a final consonant, without) — the form written after the word.
PAIRS: dict[str, tuple[str, str]] = {
    "은/는": ("은", "는"),
    "이/가": ("이", "가"),
    "을/를": ("을", "를"),
    "과/와": ("과", "와"),
    "아/야": ("아", "야"),
    "이에요/예요": ("이에요", "예요"),
    "이랑/랑": ("이랑", "랑"),
    "이나/나": ("이나", "나"),
    "이라고/라고": ("이라고", "라고"),
    "이었어요/였어요": ("이었어요", "였어요"),
    "으로/로": ("으로", "로"),
    "이/": ("이", ""),  # the friendly 이 after a consonant-final given name: 영숙이가, 순자가
}
_ALIASES = {"는": "은/는", "은": "은/는", "가": "이/가", "이": "이/가", "를": "을/를", "을": "을/를",
            "와": "과/와", "과": "과/와", "야": "아/야", "아": "아/야", "로": "으로/로", "으로": "으로/로",
            "예요": "이에요/예요", "이에요": "이에요/예요", "랑": "이랑/랑", "이랑": "이랑/랑",
            "나": "이나/나", "이나": "이나/나", "라고": "이라고/라고", "이라고": "이라고/라고",
            "였어요": "이었어요/였어요", "이었어요": "이었어요/였어요"}
_TRAILING = re.compile(r"[\s\"'’”)\]}.,!?~…]+$")


def final_consonant(word: str) -> int | None:
    """Index (1-27) of the final consonant of the last spoken syllable, 0 for a vowel ending,
    None when the word has nothing readable at the end."""
    word = _TRAILING.sub("", word or "")
    if not word:
        return None
    last = word[-1]
    code = ord(last)
    if _HANGUL_FIRST <= code <= _HANGUL_LAST:
        return (code - _HANGUL_FIRST) % 28
    if last in _DIGIT_FINAL:
        return _DIGIT_FINAL[last]
    if last.isascii() and last.isalpha():
        lower = word.lower()
        if len(word) == 1 or word.isupper():  # read letter by letter: "TV", "A"
            return _LETTER_FINAL.get(last.lower(), 0)
        if lower.endswith("l"):
            return _RIEUL
        return 1 if lower.endswith(_ENGLISH_CONSONANT_ENDINGS) else 0
    return None


def has_final_consonant(word: str) -> bool:
    return bool(final_consonant(word))


def particle(word: str, pair: str) -> str:
    """The particle form that follows ``word``: particle("순자", "은/는") -> "는"."""
    pair = _ALIASES.get(pair, pair)
    try:
        with_final, without = PAIRS[pair]
    except KeyError:
        raise ValueError(f"Unknown particle pair {pair!r}") from None
    final = final_consonant(word)
    if final is None:  # unreadable ending (an emoji, a symbol): the written form both ways
        return f"{with_final}({without})" if without else with_final
    if pair == "으로/로" and final == _RIEUL:
        return without
    return with_final if final else without


def attach(word: str, pair: str) -> str:
    """``word`` followed by its particle: attach("영숙", "이/가") -> "영숙이"."""
    return f"{word}{particle(word, pair)}"
