"""Korean particles chosen by the final sound of the word before them."""
from __future__ import annotations

import pytest

from studio.korean import attach, final_consonant, particle


@pytest.mark.parametrize("word, pair, expected", [
    ("순자", "은/는", "순자는"), ("영숙", "은/는", "영숙은"),
    ("순자", "이/가", "순자가"), ("영숙", "이/가", "영숙이"),
    ("순자", "을/를", "순자를"), ("영숙", "을/를", "영숙을"),
    ("순자", "과/와", "순자와"), ("영숙", "과/와", "영숙과"),
    ("순자", "아/야", "순자야"), ("영숙", "아/야", "영숙아"),
    ("할머니", "이에요/예요", "할머니예요"), ("감나무 아래의 밤", "이에요/예요", "감나무 아래의 밤이에요"),
    ("바다", "으로/로", "바다로"), ("숲", "으로/로", "숲으로"),
    ("서울", "으로/로", "서울로"), ("연필", "으로/로", "연필로"),  # ㄹ takes 로, like a vowel
    ("마을", "을/를", "마을을"), ("할머니", "이라고/라고", "할머니라고"), ("영숙", "라고", "영숙이라고"),
])
def test_particles_follow_the_last_syllable(word, pair, expected):
    assert attach(word, pair) == expected


def test_aliases_and_punctuation():
    assert particle("순자", "는") == "는" and particle("영숙", "가") == "이"
    assert attach("“영숙”", "은/는") == "“영숙”은"  # quotes and dots after the word are skipped
    assert final_consonant("  ") is None


@pytest.mark.parametrize("word, pair, expected", [
    ("3", "이/가", "3이"), ("2", "이/가", "2가"), ("TV", "을/를", "TV를"), ("Anna", "은/는", "Anna는"),
    ("book", "을/를", "book을"), ("Paul", "으로/로", "Paul로"),
])
def test_numbers_and_latin_are_read_aloud(word, pair, expected):
    assert attach(word, pair) == expected


def test_unreadable_endings_show_both_forms_and_bad_pairs_fail():
    assert attach("🌸", "은/는") == "🌸은(는)"
    with pytest.raises(ValueError):
        particle("순자", "에게/께")
