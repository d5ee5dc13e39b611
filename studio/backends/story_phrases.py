"""The offline storyteller's phrase book: sentence templates per story beat live in
``assets/story/<lang>.json`` (data a writer edits); here are the loader, moods/poses/settings and a
small glossary that turns remembered words into English scene words for the illustrator.

Template syntax (rendered by ``storyteller.render``):
  ``{slot}``          a value (the loved one's name, a keyword, an anecdote...)
  ``{slot:은/는}``     the value followed by the particle its last sound needs (Korean only)
  ``[a|b|c]``         one of the alternatives, picked by the seeded random generator
Slots: full (순자 할머니 / Grandma Sunja), name, rel, call (순자 할머니 / 영숙아), child, kw, anecdote, traits,
and in English she/her/Her/She (pronouns from the relation).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

PHRASES_DIR = Path(__file__).resolve().parent.parent.parent / "assets" / "story"


@lru_cache(maxsize=None)
def phrases(language: str) -> dict:
    """The sentence material of one language (``assets/story/<lang>.json``), loaded once."""
    return json.loads((PHRASES_DIR / f"{language}.json").read_text(encoding="utf-8"))


MOODS = {
    "opening": ["peaceful", "warm", "gentle"],
    "memory": ["joyful", "playful", "tender"],
    "together": ["cozy", "tender", "calm"],
    "trouble": ["worried", "stormy", "lonely"],
    "comfort": ["reassuring", "tender", "warm"],
    "closing": ["nostalgic", "hopeful", "gentle"],
}
POSES = {
    "opening": ["standing", "waving"],
    "memory": ["walking hand in hand", "sitting together", "reading together"],
    "together": ["sitting together", "reading together", "walking hand in hand"],
    "trouble": ["looking at the sky", "standing"],
    "comfort": ["hugging", "carrying a child"],
    "closing": ["looking at the sky", "waving", "sitting together"],
}
# What the page's own words say the two are doing wins over the beat's usual poses: a page about
# walking a forest path is not drawn on a bench. Stems, so every ending matches (걸었어요, 걷다가);
# the first sentence that names one decides.
POSE_WORDS = (
    ("hugging", ("안아", "안았", "안기", "품에", "hug")),
    ("carrying a child", ("업어", "업고", "업혀", "carried", "piggyback")),
    ("reading together", ("읽어", "읽었", "책을", "옛날이야기", "이야기를 들려", "read", "book", "told stories", "bedtime stor")),
    ("walking hand in hand", ("걸었", "걷", "걸어", "산책", "walk", "stroll")),
    ("sitting together", ("앉아", "앉았", "앉은", "sat ", "sitting", "bench")),
    ("looking at the sky", ("하늘을", "밤하늘", "별을", "별이", "달을", "the sky", "the stars", "the moon")),
    ("standing", ("서 있", "stood", "standing")),
)


DEFAULT_SETTINGS = {
    "opening": ["a small village with an old wooden house", "a quiet lane at the edge of a village"],
    "memory": ["a sunny garden", "a village path"],
    "together": ["a cozy room with a warm lamp", "a wooden porch"],
    "trouble": ["a windy path under dark clouds", "a shadowy forest path in the rain"],
    "comfort": ["a warm room with a soft lamp", "a path home under the evening sky"],
    "closing": ["a hill under a starry night sky", "a garden at sunset"],
}
TONE_WORDS = {
    "gentle fairy tale": "soft watercolor fairy tale",
    "adventure": "bright adventurous",
    "lullaby": "dreamy moonlit lullaby",
    "funny": "playful cheerful",
    "everyday": "quiet everyday slice of life",
}

# Remembered words -> English scene words (Korean input still gets an English prompt).
GLOSSARY = {
    "감나무": "a persimmon tree with orange fruit in autumn", "감": "persimmons", "곶감": "dried persimmons hanging under the eaves",
    "숲": "a forest", "밤": "night, dark sky with the moon and stars", "된장찌개": "a steaming pot of doenjang stew on a low table",
    "냄새": "a cozy kitchen", "아랫목": "a warm heated floor in a traditional room", "옛날이야기": "storytelling",
    "눈사람": "a snowman", "숲길": "a forest path",
    "바다": "the seaside", "해변": "a beach", "부엌": "a cozy kitchen", "김치": "making kimchi",
    "꽃": "flowers", "시장": "a busy market", "텃밭": "a vegetable garden", "밭": "a field",
    "뜨개": "knitting", "비": "rain", "봄": "spring blossoms", "여름": "summer", "가을": "autumn leaves",
    "겨울": "winter", "달": "the moon", "별": "stars", "산": "mountains", "강": "a river",
    "나무": "a big tree", "고양이": "a cat", "강아지": "a puppy", "자전거": "a bicycle",
    "우산": "an umbrella", "떡": "rice cakes", "찌개": "a steaming pot of stew", "노래": "singing",
    "책": "a picture book", "연": "a kite", "호수": "a lake", "다리": "a small bridge",
    "마당": "a courtyard", "마루": "a wooden veranda", "창문": "a window", "기차": "a train",
    "버스": "a country bus", "밥": "a warm meal", "국수": "noodles", "만두": "dumplings",
    "정원": "a garden", "공원": "a park",
    "논": "rice paddies", "바람": "a gentle wind", "구름": "clouds", "무지개": "a rainbow",
    "오두막": "a little cabin", "화분": "flower pots", "사진": "old photographs", "편지": "a letter",
    "눈사람": "a snowman", "썰매": "a sled", "모래": "sand", "조개": "seashells", "빵": "fresh bread",
}
# One line for the opening and one before the farewell, so the tone is heard, not only seen.
TONE_LINES = {
    "ko": {
        "adventure": ("이건 {full:과/와} {child:이/가} 함께 떠난 작은 모험 이야기예요.",
                      "{child:은/는} 다음 모험을 기다리며 씩씩하게 웃었어요."),
        "lullaby": ("[쉿,|가만가만,] 눈을 감고 들어 보렴.", "이제 잘 자렴, 아가. {full:이/가} 꿈속에서도 곁에 있을 거야."),
        "funny": ("{full:은/는} 웃음 많은 [장난꾸러기였어요|재주꾼이었어요].",
                  "{child:은/는} 그때를 생각만 해도 [킥킥|깔깔] 웃음이 나요."),
        "everyday": ("이건 아주 평범하고 소중한 하루하루의 이야기예요.",
                     "오늘도 {child:은/는} 평범한 하루 속에서 {full:을/를} 만나요."),
    },
    "en": {
        "adventure": ("This is the story of a small adventure {full} and {child} set out on together.",
                      "{child_cap} grinned, ready for the next adventure."),
        "lullaby": ("[Hush now|Shh], close your eyes and listen.",
                    "Sleep tight, little one. {full_cap} is with you, even in your dreams."),
        "funny": ("{full_cap} was the [silliest|funniest] person in the whole village.",
                  "Just thinking about it still makes {child} [giggle|laugh out loud]."),
        "everyday": ("This is a story of ordinary, precious days.",
                     "Even today, on an ordinary day, {child} finds {full} everywhere."),
    },
}
