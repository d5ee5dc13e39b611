"""English books and character sheets: third person outside quotes, no repeated line, pronouns
from the person's sex; a sheet never gives a man a grandmother's hair or clothes (or the reverse)."""
from __future__ import annotations

import re

import pytest

from studio import english_style as es
from studio import korean_style as ks
from studio import people
from studio.backends.base import StoryRequest
from studio.backends.storyteller import OfflineStoryteller

teller = OfflineStoryteller()
HAROLD = StoryRequest("Harold", "grandpa", ["laughed loudly", "warm hands", "always wore a red flannel shirt"],
                      ["the lake", "pipe smoke smell", "whistling"],
                      ["Grandpa took me fishing at the lake every summer.", "I still remember the smell of his pipe.",
                       "He taught me to whistle, and I practised for weeks."], language="en")
ROSE = StoryRequest("Rose", "grandma", ["kind", "a great baker"], ["tomatoes", "apple pie", "the porch"],
                    ["She let me pick the ripest tomatoes.", "We baked bread on Sundays and my hands got covered in flour."],
                    language="en")
MALE = ["할아버지", "외할아버지", "아빠", "아버지", "삼촌", "이모부", "grandpa", "grandfather", "dad", "father", "uncle"]
FEMALE = ["할머니", "외할머니", "엄마", "이모", "고모", "grandma", "grandmother", "granny", "mom", "aunt"]


@pytest.mark.parametrize("request_, wrong", [(HAROLD, r"\b(she|her|hers|herself)\b"), (ROSE, r"\b(he|him|his|himself)\b")])
@pytest.mark.parametrize("pages", [4, 6, 12, 24])
def test_english_third_person_no_repeats_pronouns_match(request_, wrong, pages):
    draft = teller.write_story(StoryRequest(**{**request_.__dict__, "page_count": pages}))
    texts = [p.text for p in draft.pages]
    sentences = [s for t in texts for s in ks.sentences(t)]
    assert len(sentences) == len(set(sentences))
    joined = " ".join(texts)
    assert es.first_person(joined) == []
    narration = es.narration(joined)
    # the family's own "his pipe" is about Harold; the book's lines about Rose never say he/his
    assert not re.search(wrong, narration.replace("the smell of his pipe", "")), narration
    for keyword in request_.keywords:
        assert keyword.lower() in joined.lower()


def test_harold_reads_in_the_third_person_with_his_traits_as_sentences():
    joined = " ".join(p.text for p in teller.write_story(HAROLD).pages)
    assert "Grandpa took the child fishing at the lake every summer." in joined
    assert re.search(r"The child still remembers the smell of (his|Grandpa Harold's) pipe\.", joined)  # named first on its page
    assert "Grandpa Harold laughed loudly." in joined and "Grandpa Harold had warm hands." in joined


def test_harold_sheet_is_a_grandfather_in_his_own_shirt():
    sheet = teller.write_story(HAROLD).characters[0]
    assert sheet.name == "Grandpa Harold" and "grandfather" in sheet.description
    assert "red flannel shirt" in sheet.description
    assert people.crossed_words(sheet.description, "male") == []
    assert "bun" not in sheet.description and "blouse" not in sheet.description


@pytest.mark.parametrize("relation", MALE)
def test_men_never_get_feminine_hair_or_clothes(relation):
    for seed in range(25):
        person, description = people.describe(relation, [], seed=str(seed))
        assert person.sex == "male"
        assert people.crossed_words(description, "male") == [], description


@pytest.mark.parametrize("relation", FEMALE)
def test_women_never_get_masculine_hair_or_clothes(relation):
    for seed in range(25):
        person, description = people.describe(relation, [], seed=str(seed))
        assert person.sex == "female"
        assert people.crossed_words(description, "female") == [], description


def test_relation_table_longest_word_wins_and_family_words_decide():
    assert people.person_for("외할머니").noun == "grandmother" and people.person_for("외할머니").age == "elder"
    assert people.person_for("grandmother").noun == "grandmother"  # not "mother"
    assert people.person_for("이모부").sex == "male"  # not 이모
    assert people.person_for("친구", "she loved to dance").sex == "female"
    _, look = people.describe("할머니", ["흰 머리를 곱게 쪽지셨음", "늘 빨간 카디건을 입으셨음", "안경을 쓰심"])
    assert "white hair" in look and "a red cardigan" in look and "glasses" in look
    _, grandpa = people.describe("할아버지", ["흰 수염"])
    assert "a beard" in grandpa and "grandfather" in grandpa
    assert people.pronouns("male")["She"] == "He" and people.pronouns("female")["her"] == "her"


def test_korean_sheet_uses_the_relation():
    request = StoryRequest("민준", "할아버지", ["다정하심"], ["바닷가"], ["나와 함께 낚시를 갔다"], language="ko")
    sheet = teller.write_story(request).characters
    assert sheet[0].name == "민준 할아버지" and "Korean grandfather" in sheet[0].description
    assert people.crossed_words(sheet[0].description, "male") == []
    assert sheet[1].name == "아이"


def test_a_writers_grandmother_look_on_a_grandfather_is_replaced(store):
    from studio import story
    from studio.backends.base import CharacterDraft, PageDraft, StoryDraft

    book = store.create("local", "Harold")
    story.save_memories(store, "local", book.id, subject_name="Harold", relation="grandpa",
                        traits="warm hands", keywords="the lake", language="en")
    draft = StoryDraft("t", [PageDraft("Text.", "a lake", ["Grandpa Harold"])],
                       [CharacterDraft("Grandpa Harold", "gray hair in a neat bun, wearing a rose-colored blouse")])
    saved = store.update("local", book.id, lambda b: story.apply_story(b, draft))
    look = saved.characters[0].description
    assert "bun" not in look and "blouse" not in look and "grandfather" in look


@pytest.mark.parametrize("seed", range(6))
def test_harold_book_reads_like_a_person_wrote_it(seed):
    """"Just smelling the pipe smoke smell", "just called him grandpa", "There was this, too.": none of it."""
    joined = " ".join(p.text for p in teller.write_story(
        StoryRequest(**{**HAROLD.__dict__, "page_count": 12, "seed": seed})).pages)
    assert "smell smell" not in joined and "smelling the pipe smoke smell" not in joined
    assert "breathed in the pipe smoke smell" not in joined
    assert "just called him grandpa" not in joined and "There was this, too." not in joined
