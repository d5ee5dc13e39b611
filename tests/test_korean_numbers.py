"""Korean numbers read aloud: native numerals with counters, Sino-Korean for dates and money."""
from __future__ import annotations

import pytest

from studio.korean_numbers import native, read_numbers, sino


@pytest.mark.parametrize("n,expected", [(0, "영"), (1, "일"), (10, "십"), (11, "십일"), (20, "이십"), (100, "백"),
                                        (110, "백십"), (1000, "천"), (1998, "천구백구십팔"), (2026, "이천이십육"),
                                        (10000, "만"), (15000, "만오천"), (20000, "이만"), (100000000, "일억"),
                                        (123456789, "일억이천삼백사십오만육천칠백팔십구")])
def test_sino_korean(n, expected):
    assert sino(n) == expected


@pytest.mark.parametrize("n,alone,before", [(1, "하나", "한"), (2, "둘", "두"), (3, "셋", "세"), (4, "넷", "네"),
                                            (5, "다섯", "다섯"), (10, "열", "열"), (11, "열하나", "열한"),
                                            (20, "스물", "스무"), (21, "스물하나", "스물한"), (99, "아흔아홉", "아흔아홉"),
                                            (100, "백", "백")])
def test_native_korean(n, alone, before):
    assert native(n) == alone and native(n, before_counter=True) == before


@pytest.mark.parametrize("text,spoken", [
    ("순자 할머니는 3살 손녀와 살았어요.", "순자 할머니는 세 살 손녀와 살았어요."),
    ("감 5개를 땄어요.", "감 다섯 개를 땄어요."),
    ("2번 불렀어요.", "두 번 불렀어요."),
    ("1998년에 태어났어요.", "천구백구십팔 년에 태어났어요."),
    ("6월과 10월", "유월과 시월"),
    ("3,000원이에요.", "삼천 원이에요."),
    ("2시 30분에", "두 시 삼십 분에"),
    ("20살 생일", "스무 살 생일"),
    ("1번째 이야기", "첫 번째 이야기"),
    ("4명이 모였어요.", "네 명이 모였어요."),
    ("5개월 동안", "오 개월 동안"),  # 개월 is Sino-Korean even though 개 is a native counter
    ("100살까지", "백 살까지"),
    ("3.5%", "삼 점 오 퍼센트"),
    ("3시간 동안 걸었어요", "세 시간 동안 걸었어요"),
    ("숫자가 없는 문장이에요.", "숫자가 없는 문장이에요."),
])
def test_read_numbers_in_sentences(text, spoken):
    assert read_numbers(text) == spoken
