"""Numbers in Korean text, written out the way a person reads them aloud.

Korean has two sets of numerals and the word after a number decides which one is read:
native numerals count things, people, ages and hours (세 살, 다섯 개, 두 번, 열한 시), Sino-Korean
numerals name dates, years, money, minutes and measures (1998년 → 천구백구십팔 년, 6월 → 유월,
3,000원 → 삼천 원). eSpeak NG reads every digit string as Sino-Korean, so "3살" came out as
"삼 살"; the narration reads the page through :func:`read_numbers` first.

    >>> read_numbers("할머니는 3살 손녀와 1998년 6월에 감 5개를 땄어요.")
    '할머니는 세 살 손녀와 천구백구십팔 년 유월에 감 다섯 개를 땄어요.'
"""
from __future__ import annotations

import re

_SINO_DIGITS = ["", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"]
_SINO_SMALL_UNITS = ["", "십", "백", "천"]
_SINO_LARGE_UNITS = ["", "만", "억", "조", "경"]

_NATIVE_ONES = ["", "하나", "둘", "셋", "넷", "다섯", "여섯", "일곱", "여덟", "아홉"]
_NATIVE_TENS = ["", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔"]
# before a counter the first four (and twenty) shorten: 한 개, 두 번, 세 살, 네 명, 스무 살
_NATIVE_BEFORE_COUNTER = {"하나": "한", "둘": "두", "셋": "세", "넷": "네", "스물": "스무"}

# counters read with native numerals (1–99; larger numbers are read in Sino-Korean: 백 살)
NATIVE_COUNTERS = (
    "살", "개", "번째", "번", "명", "마리", "시간", "시", "권", "장", "잔", "그릇", "송이", "그루",
    "채", "켤레", "벌", "대", "병", "통", "사람", "달", "가지", "곳", "군데", "쪽", "줄", "알", "척",
    "포기", "조각", "봉지", "상자", "걸음", "밤", "해", "끼", "방울", "식구", "자루", "살배기",
)
# months whose names drop a final consonant when read: 6월 유월, 10월 시월
_MONTHS = {6: "유월", 10: "시월"}

_NUMBER = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\d,]*\d)")
_COUNTER = re.compile(r"\s?(" + "|".join(sorted(NATIVE_COUNTERS, key=len, reverse=True)) + r"|월|%)")


def sino(n: int) -> str:
    """Sino-Korean reading of a whole number: 1998 → 천구백구십팔, 10000 → 만, 0 → 영."""
    if n < 0:
        return "마이너스 " + sino(-n)
    if n == 0:
        return "영"
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    if len(groups) > len(_SINO_LARGE_UNITS):
        return " ".join(_SINO_DIGITS[int(d)] or "영" for d in str(n))
    words = []
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            continue
        text = _sino_below_10000(group)
        if index == 1 and group == 1:  # 10,000 is 만, not 일만 (but 1억, 1조 keep 일)
            text = ""
        words.append(text + _SINO_LARGE_UNITS[index])
    return "".join(words)


def _sino_below_10000(n: int) -> str:
    out = []
    for place in range(3, -1, -1):
        digit = n // 10 ** place % 10
        if digit == 0:
            continue
        # 십, 백, 천 on their own; 일 only in the ones place
        out.append(("" if digit == 1 and place > 0 else _SINO_DIGITS[digit]) + _SINO_SMALL_UNITS[place])
    return "".join(out)


def native(n: int, before_counter: bool = False) -> str:
    """Native Korean reading of 1–99 (셋, 스물하나); before a counter the short forms (세, 스물한,
    스무). Other numbers fall back to Sino-Korean, as people read them (백 살)."""
    if not 1 <= n <= 99:
        return sino(n)
    tens, ones = divmod(n, 10)
    if ones == 0:
        word = _NATIVE_TENS[tens]
        return _NATIVE_BEFORE_COUNTER.get(word, word) if before_counter else word
    last = _NATIVE_ONES[ones]
    if before_counter:
        last = _NATIVE_BEFORE_COUNTER.get(last, last)
    return _NATIVE_TENS[tens] + last


def _decimal(digits: str) -> str:
    return "".join(_SINO_DIGITS[int(d)] or "영" for d in digits)


def read_number(whole: str, fraction: str | None, counter: str) -> str:
    """One number (digits as written, optional decimals) with the counter that follows it."""
    n = int(whole.replace(",", ""))
    if fraction:
        spoken = sino(n) + " 점 " + _decimal(fraction)
        return spoken + (" 퍼센트" if counter == "%" else (" " + counter if counter else ""))
    if counter == "%":
        return sino(n) + " 퍼센트"
    if counter == "월":
        return _MONTHS.get(n) or sino(n) + "월"
    if counter == "번째":
        return ("첫" if n == 1 else native(n, before_counter=True)) + " 번째"
    if counter in NATIVE_COUNTERS:
        return native(n, before_counter=True) + " " + counter
    return sino(n)


def read_numbers(text: str) -> str:
    """Every number in ``text`` written out in Hangul, with the counter after it decides how.

    Numbers followed by another word (년, 원, 분, 일, 층 ...) or by nothing are read in
    Sino-Korean and keep the word after them, separated by a space."""
    out, pos = [], 0
    for match in _NUMBER.finditer(text):
        out.append(text[pos:match.start()])
        counter_match = _COUNTER.match(text, match.end())
        counter = counter_match.group(1) if counter_match and _ends_word(text, counter_match) else ""
        spoken = read_number(match.group(1), match.group(2), counter)
        end = counter_match.end() if counter else match.end()
        if not counter and end < len(text) and _is_hangul(text[end]):
            spoken += " "  # 1998년 → 천구백구십팔 년 (a pause-free space reads more naturally)
        out.append(spoken)
        pos = end
    out.append(text[pos:])
    return "".join(out)


# words that begin like a native counter but are read in Sino-Korean: 3개월, 12번지, 2대학
_NOT_COUNTERS = {"개": ("월",), "번": ("지", "호"), "대": ("학", "문", "째"), "시": ("절", "즌", "경"),
                 "장": ("관", "군"), "통": ("령",)}


def _ends_word(text: str, match: re.Match) -> bool:
    """A counter must not be the start of another word (3개월 is 삼 개월, not 세 개 + 월)."""
    following = text[match.end(): match.end() + 1]
    return following not in _NOT_COUNTERS.get(match.group(1), ())


def _is_hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3"
