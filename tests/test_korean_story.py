"""Korean books the offline storyteller writes, checked with the morphological analyser itself:
one speech level on every sentence, the child in the third person, the elder honoured, every
keyword placed, no sentence twice, particles right after vowel- and consonant-final names."""
from __future__ import annotations

import pytest

from studio import korean_style as ks
from studio.backends.base import StoryRequest
from studio.backends.storyteller import OfflineStoryteller

teller = OfflineStoryteller()
FAMILIES = {
    "순자": StoryRequest("순자", "할머니", ["웃음이 많으셨음", "손이 따뜻하셨음"],
                         ["눈 내리는 숲의 밤", "할머니의 감나무", "된장찌개 냄새"],
                         ["눈 오는 밤이면 아랫목에 나를 눕히고 옛날이야기를 들려주셨다",
                          "가을마다 감을 따서 곶감을 만들어 주셨다", "내가 넘어지면 할머니가 제일 먼저 달려왔다"]),
    "영숙": StoryRequest("영숙", "외할머니", ["노래를 잘 부르셨음", "부지런함", "유머 감각"], ["시장", "팥죽", "빗소리"],
                         ["제가 아플 때면 팥죽을 쑤어 주셨어요", "저를 업고 시장에 가셨어요"]),
    "민준": StoryRequest("민준", "할아버지", ["다정하심"], ["바닷가", "낚싯대", "파도 소리"],
                         ["할아버지는 나와 함께 낚시를 갔다", "내 자전거를 고쳐 주셨다", "우리는 바닷가에서 조개를 주웠다"]),
    "지우": StoryRequest("지우", "이모", ["잘 웃음"], ["공원", "딸기 케이크", "자장가"],
                         ["이모가 나에게 자장가를 불러 주었어요", "우리는 매일 공원에서 놀았다"]),
}


def book(family: str, pages: int, **changes) -> list[str]:
    request = StoryRequest(**{**FAMILIES[family].__dict__, "page_count": pages, "language": "ko", **changes})
    return [p.text for p in teller.write_story(request).pages]


def narrative_sentences(texts: list[str]) -> list[str]:
    """Every sentence of the book that is narration (a sentence of quoted speech alone is not)."""
    out = []
    for text in texts:
        for sentence in ks.sentences(text):
            if ks.narration(sentence).strip(" .!?"):
                out.append(sentence)
    return out


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("pages", [4, 6, 12, 24])
def test_every_sentence_in_haeyo_no_first_person_every_keyword_no_repeat(family, pages):
    texts = book(family, pages)
    assert len(texts) == pages
    sentences = narrative_sentences(texts)
    for sentence in sentences:
        ending = ks.final_ending(sentence)
        assert ending is not None and ks.in_level(ending.form, "haeyo"), sentence
        assert ks.first_person(sentence) == [], sentence
    joined = " ".join(texts)
    for keyword in FAMILIES[family].keywords:
        assert keyword in joined
    all_sentences = [s for t in texts for s in ks.sentences(t)]
    assert len(all_sentences) == len(set(all_sentences)), [s for s in all_sentences if all_sentences.count(s) > 1]
    for text in texts:  # a picture-book page: a few short sentences
        assert 2 <= len(ks.sentences(text)) <= 6, text


@pytest.mark.parametrize("family", ["순자", "민준"])
def test_elder_as_subject_is_always_honoured(family):
    request = FAMILIES[family]
    cast = ks.Cast(f"{request.subject_name} {request.relation}",
                   (f"{request.subject_name} {request.relation}", request.subject_name, request.relation))
    checked = 0
    for sentence in narrative_sentences(book(family, 12)):
        if ks.main_subject(sentence, cast) == "elder":
            checked += 1
            assert ks.honoured(sentence), sentence
    assert checked >= 3


@pytest.mark.parametrize("level", ["haera", "hapsyo"])
def test_other_speech_levels_on_request(level):
    texts = book("순자", 6, speech_level=level)
    farewell = texts[-1].rsplit("순자 할머니,", 1)[0]  # the child's own words to her stay 해요체
    for sentence in narrative_sentences(texts[:-1] + [farewell]):
        ending = ks.final_ending(sentence)
        assert ending is not None and ks.in_level(ending.form, level), sentence


def test_first_person_anecdotes_are_retold_in_the_third_person():
    joined = " ".join(book("순자", 6))
    assert "아랫목에 아이를 눕히고 옛날이야기를 들려주셨어요" in joined
    assert "나를" not in joined and "들려주셨다" not in joined
    assert "웃음이 많으셨어요" in joined and ":" not in joined  # traits are sentences, not lists
    assert "된장찌개 냄새를 보" not in joined and "냄새를 바라보" not in joined  # a smell is smelled
    young = " ".join(book("영숙", 6))
    assert "아이가 아플 때면" in young and "아이를 업고" in young and "저를" not in young


EXPECTED = {"JKS": ("이", "가"), "JKO": ("을", "를"), "JKV": ("아", "야"), "JKB": ("과", "와"), "JC": ("과", "와")}


@pytest.mark.parametrize("name, final", [("지우", False), ("순자", False), ("민준", True), ("영숙", True)])
def test_particles_after_names_follow_the_analysed_final_sound(name, final):
    texts = []
    for seed in range(3):
        request = StoryRequest(name, "", ["잘 웃으심"], ["바다", "솔방울"], ["나와 함께 바다에서 조개를 주웠다"],
                               page_count=12, seed=seed, language="ko")
        texts += [p.text for p in teller.write_story(request).pages]
    toks = ks.tokens(" ".join(texts))
    seen = set()
    for before, after in zip(toks, toks[1:]):
        if before.form != name or after.start != before.start + before.len or not after.tag.startswith("J"):
            continue
        if after.tag == "JX" and after.form in ("은", "는"):
            assert after.form == ("은" if final else "는")
            seen.add("JX")
        elif after.tag in EXPECTED and after.form in EXPECTED[after.tag]:
            assert after.form == EXPECTED[after.tag][0 if final else 1], (name, after.form)
            seen.add(after.tag)
    assert {"JX", "JKS", "JKO"} <= seen


def test_same_request_same_book_and_speech_level_defaults_to_haeyo():
    assert book("지우", 6) == book("지우", 6)
    assert book("지우", 6) != book("지우", 6, seed=3)


def test_a_memory_of_what_the_elder_did_names_her_when_the_family_left_her_out():
    """"가을마다 감을 따서 곶감을 만들어 주셨다" (-시-: the elder did it) opens a page: the book says who."""
    joined = " ".join(book("순자", 6))
    assert "순자 할머니는 가을마다 감을 따서 곶감을 만들어 주셨어요." in joined
    cast = ks.Cast("순자 할머니", ("순자 할머니", "순자", "할머니"))
    assert ks.retell("가을마다 감을 따서 곶감을 만들어 주셨다", "haeyo", cast).startswith("순자 할머니는 ")
    assert ks.retell("가을마다 감을 땄다", "haeyo", cast) == "가을마다 감을 땄어요."  # no -시-: nobody is guessed


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("pages", [4, 6, 12, 24])
def test_a_keyword_is_said_once_on_a_page(family, pages):
    """"지금도 된장찌개 냄새가 나면 … 이제 된장찌개 냄새를 떠올릴 때마다 …": one page, one mention."""
    for text in book(family, pages):
        for keyword in FAMILIES[family].keywords:
            assert sum(keyword in s for s in ks.sentences(text)) <= 1, text


def test_a_time_of_day_or_year_is_not_a_place():
    """"눈 내리는 숲의 밤은 둘만 아는 비밀 장소 같았어요" / "밤에 데려가 주셨어요": a night is not a place."""
    from studio.backends import story_phrases as P
    from studio.backends.story_plan import kind_of

    kinds = P.phrases("ko")["kinds"]
    assert kind_of("눈 내리는 숲의 밤", kinds, True) == "time" and kind_of("숲", kinds, True) == "scene"
    assert kind_of("snowy winter nights", P.phrases("en")["kinds"], False) == "time"
    for seed in range(8):
        joined = " ".join(book("순자", 12, seed=seed))
        assert "밤은 둘만 아는 비밀 장소" not in joined and "밤에 데려가" not in joined and "밤에 가면" not in joined


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_first_page_opens_on_the_elder_not_on_the_child(family):
    """"아이는 눈 내리는 숲의 밤을 손꼽아 기다렸어요." was the book's first sentence: a picture book
    opens by bringing in the one it is about."""
    request = FAMILIES[family]
    cast = ks.Cast(f"{request.subject_name} {request.relation}",
                   (f"{request.subject_name} {request.relation}", request.subject_name, request.relation))
    for seed in range(4):
        first = ks.sentences(book(family, 6, seed=seed)[0])[0]
        assert ks.main_subject(first, cast) != "child", first
