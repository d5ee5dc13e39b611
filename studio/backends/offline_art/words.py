"""Reading a page and a character sheet the way an illustrator would: which time, weather, place
and season the words describe (Korean and English), and how each person looks.

Korean needs care: a bare "눈" is snow *or* an eye, "별" hides in "특별", "산" in "우산" and
"산책", "강" in "강아지", "감" in "감사". So Korean cues are whole phrases or words with their
particle, and English cues are matched as words.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

# -- the scene ---------------------------------------------------------------------------------
_CUES: dict[str, tuple[str, ...]] = {
    "night": ("night", "moon", "moonlight", "stars", "starry", "starlight", "midnight", "bedtime",
              "밤이", "밤에", "밤하늘", "밤새", "밤길", "의 밤", "한밤", "달빛", "달님", "보름달", "초승달", "달이 ",
              "별빛", "별이", "별을", "별들", "별님", "잠자리", "자장가", "깜깜", "캄캄", "어두운 밤"),
    "dusk": ("evening", "sunset", "dusk", "twilight", "저녁", "노을", "해 질", "해질"),
    "snow": ("snow", "snowy", "snowing", "snowflake", "snowflakes", "snowman", "snowfall",
             "눈이", "눈 내리", "눈 오", "눈오", "눈내리", "눈사람", "눈송이", "눈밭", "눈길", "하얀 눈", "함박눈",
             "첫눈", "눈싸움", "눈 덮인", "눈덮인", "눈꽃", "흰 눈", "눈 쌓인", "쌓인 눈", "눈 내린"),
    "rain": ("rain", "rainy", "raining", "raindrops", "umbrella", "puddle", "puddles", "storm", "drizzle",
             "비가", "비 오", "비오", "비 내리", "빗방울", "빗소리", "장마", "우산", "소나기", "빗길", "웅덩이"),
    "storm": ("dark clouds", "dark cloud", "cloudy", "overcast", "grey sky", "gray sky", "windy", "gusty",
              "먹구름", "흐린", "흐렸", "바람이 불", "바람이 세", "세찬 바람", "찬바람이", "어두워지", "구름이 잔뜩"),
    "sea": ("sea", "beach", "ocean", "seaside", "shore", "waves", "바다", "해변", "바닷가", "파도", "모래사장"),
    "river": ("river", "lake", "stream", "pond", "brook", "강가", "강물", "강변", "냇가", "시냇물", "개울", "호수", "연못"),
    "forest": ("forest", "woods", "wood", "pine", "pines", "숲", "소나무", "나무들"),
    "mountain": ("mountain", "mountains", "hill", "hills", "산에", "산길", "뒷산", "산속", "산 위", "산꼭대기",
                 "언덕", "산을", "산이", "높은 산"),
    "kitchen": ("kitchen", "cooking", "cook", "stew", "soup", "pot", "stove", "dinner", "breakfast", "meal",
                "부엌", "주방", "찌개", "된장", "국을", "밥을", "냄비", "요리", "밥상", "부침개", "김치", "반찬"),
    "room": ("room", "bedroom", "living room", "indoors", "inside", "home", "house", "bed", "blanket", "sofa",
             "방에", "방 안", "안방", "아랫목", "거실", "집 안", "집에서", "이불", "방바닥", "창가", "방문"),
    "autumn": ("autumn", "fall leaves", "harvest", "persimmon", "persimmons", "maple",
               "가을", "단풍", "감나무", "홍시", "곶감", "낙엽", "추석", "감을", "감이", "감 따", "감따"),
    "spring": ("spring", "blossom", "blossoms", "cherry", "flowers", "flower", "petals",
               "봄", "벚꽃", "꽃이", "꽃을", "꽃잎", "진달래", "개나리", "새싹", "꽃밭"),
    "summer": ("summer", "sunny", "hot day", "watermelon", "여름", "수박", "매미", "더운"),
    "winter": ("winter", "cold", "frost", "겨울", "추운", "찬바람", "군고구마"),
    "persimmon": ("persimmon", "persimmons", "감나무", "홍시", "곶감", "감을", "감이", "감 따", "감따"),
}
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _found(text: str, words: set[str], cue: str) -> bool:
    if cue.isascii():
        return (" " in cue and cue in text) or cue in words or cue + "s" in words
    return cue in text


# "밤" after a modifier or before a particle is night ("눈 내리는 밤", "밤에"); "밤을 구웠다" stays chestnuts
_KO_NIGHT = re.compile(r"(?:^|[는은운인한의던\s])밤(?:$|[이에은,.!\s]|하늘|새|길|중)")


def cues(text: str) -> set[str]:
    """Every scene cue named in the text."""
    low = " " + text.lower() + " "
    words = set(_WORD.findall(low))
    found = {name for name, needles in _CUES.items() if any(_found(low, words, n) for n in needles)}
    if _KO_NIGHT.search(text):
        found.add("night")
    return found


@dataclass(frozen=True)
class Scene:
    time: str  # "day" | "dusk" | "night"
    weather: str  # "clear" | "snow" | "rain" | "storm" (dark clouds and wind, nothing falling)
    place: str  # "garden" | "forest" | "mountain" | "sea" | "river" | "kitchen" | "room"
    season: str  # "spring" | "summer" | "autumn" | "winter"
    persimmon: bool = False

    @property
    def indoor(self) -> bool:
        return self.place in ("kitchen", "room")


def read_scene(text: str, prompt: str = "", setting: str = "", mood: str = "") -> Scene:
    """The page's own words first, then its setting, mood and picture prompt."""
    found = cues(" ".join((text, setting, mood, prompt)))
    time = "night" if "night" in found else "dusk" if "dusk" in found else "day"
    weather = ("snow" if "snow" in found else "rain" if "rain" in found else "storm" if "storm" in found
               else "clear")
    # where: the setting is the most specific, then the text, then the prompt
    place = "garden"
    for source in (setting, text, prompt):
        here = cues(source)
        pick = next((p for p in ("kitchen", "room", "sea", "river", "forest", "mountain") if p in here), None)
        if pick:
            place = pick
            break
    season = next((s for s in ("winter", "autumn", "spring", "summer") if s in found), "")
    if weather == "snow":
        season = "winter"
    season = season or ("autumn" if "persimmon" in found else "summer")
    return Scene(time, weather, place, season, persimmon="persimmon" in found or (season == "autumn" and place == "garden"))


# -- people ------------------------------------------------------------------------------------
COLOURS = {  # soft picture-book versions of the colour words families write
    "rose": (222, 132, 150), "pink": (238, 160, 176), "분홍": (238, 160, 176), "핑크": (238, 160, 176),
    "연분홍": (244, 188, 196), "lavender": (186, 166, 214), "연보라": (196, 176, 222), "purple": (150, 110, 170),
    "보라": (150, 110, 170), "violet": (150, 110, 170), "cream": (244, 232, 204), "크림": (244, 232, 204),
    "beige": (222, 204, 170), "베이지": (222, 204, 170), "ivory": (246, 240, 222), "상아": (246, 240, 222),
    "sky-blue": (150, 196, 232), "sky blue": (150, 196, 232), "light blue": (150, 196, 232), "하늘색": (150, 196, 232),
    "하늘빛": (150, 196, 232), "blue": (104, 140, 200), "파란": (104, 140, 200), "파랑": (104, 140, 200),
    "푸른": (104, 150, 196), "navy": (62, 78, 122), "남색": (62, 78, 122), "곤색": (62, 78, 122),
    "red": (212, 84, 74), "빨간": (212, 84, 74), "빨강": (212, 84, 74), "붉은": (200, 82, 74),
    "crimson": (186, 60, 70), "자주": (160, 70, 110), "orange": (236, 146, 76), "주황": (236, 146, 76),
    "yellow": (244, 206, 92), "노란": (244, 206, 92), "노랑": (244, 206, 92), "mustard": (214, 170, 70),
    "green": (120, 168, 110), "초록": (120, 168, 110), "녹색": (120, 168, 110), "연두": (170, 206, 120),
    "olive": (140, 146, 90), "mint": (170, 220, 196), "민트": (170, 220, 196), "teal": (80, 150, 150),
    "brown": (150, 106, 76), "갈색": (150, 106, 76), "밤색": (130, 86, 62), "tan": (196, 160, 116),
    "camel": (196, 150, 100), "gray": (150, 150, 156), "grey": (150, 150, 156), "회색": (150, 150, 156),
    "잿빛": (150, 150, 156), "charcoal": (84, 84, 92), "white": (246, 244, 238), "흰": (246, 244, 238),
    "하얀": (246, 244, 238), "black": (70, 66, 70), "검은": (70, 66, 70), "검정": (70, 66, 70),
    "까만": (70, 66, 70), "peach": (246, 190, 156), "살구": (246, 190, 156), "coral": (240, 140, 120),
    "gold": (224, 186, 90), "금색": (224, 186, 90), "silver": (200, 200, 206), "은색": (200, 200, 206),
}
HAIR_COLOURS = {
    "white": (236, 234, 230), "흰": (236, 234, 230), "하얀": (236, 234, 230), "백발": (236, 234, 230),
    "silver": (206, 206, 212), "은빛": (206, 206, 212), "은발": (206, 206, 212), "gray": (176, 176, 180),
    "grey": (176, 176, 180), "회색": (176, 176, 180), "희끗": (176, 176, 180), "salt-and-pepper": (140, 140, 144),
    "black": (52, 44, 44), "검은": (52, 44, 44), "까만": (52, 44, 44), "흑발": (52, 44, 44),
    "brown": (110, 74, 50), "갈색": (110, 74, 50), "blonde": (226, 196, 120), "blond": (226, 196, 120),
    "금발": (226, 196, 120), "red": (176, 86, 50), "ginger": (186, 100, 52), "auburn": (146, 70, 50),
}
GARMENTS = {
    "top": ("blouse", "shirt", "sweater", "cardigan", "jumper", "jersey", "coat", "jacket", "raincoat", "vest",
            "hoodie", "top", "t-shirt", "knit", "저고리", "셔츠", "스웨터", "가디건", "카디건", "코트", "외투",
            "조끼", "점퍼", "블라우스", "윗옷", "니트", "티셔츠", "잠바", "재킷", "우비"),
    "bottom": ("skirt", "trousers", "pants", "overalls", "jeans", "shorts", "치마", "바지", "멜빵바지", "청바지"),
    "dress": ("dress", "gown", "원피스", "드레스"),
    "hat": ("hat", "cap", "beanie", "모자", "털모자", "beret"),
    "apron": ("apron", "앞치마"),
    "scarf": ("scarf", "muffler", "목도리", "스카프"),
}
_FEMALE = ("grandmother", "grandma", "granny", "mother", "mom", "mum", "mommy", "woman", "lady", "girl", "aunt",
           "sister", "daughter", "she", "her", "할머니", "엄마", "어머니", "이모", "고모", "여자", "소녀", "누나",
           "언니", "딸아이", "손녀", "외할머니", "숙모", "아주머니")
_MALE = ("grandfather", "grandpa", "father", "dad", "daddy", "man", "gentleman", "boy", "uncle", "brother", "son",
         "he", "his", "할아버지", "아빠", "아버지", "삼촌", "남자", "소년", "오빠", "아들", "손자", "외할아버지",
         "아저씨", "beard", "mustache", "moustache", "수염")
_ELDER = ("grandmother", "grandma", "granny", "grandfather", "grandpa", "elderly", "elder", "aged",
          "할머니", "할아버지", "노인", "어르신", "외할머니", "외할아버지", "백발", "주름")
_CHILD = ("child", "kid", "boy", "girl", "toddler", "baby", "grandchild", "grandson",
          "granddaughter", "아이", "어린", "꼬마", "아기", "손주", "손녀", "손자", "소년", "소녀", "여섯 살", "일곱 살",
          "다섯 살", "네 살")


_YOUNG_AGE = (r"\b(?:about |aged )?(?:[1-9]|1[0-2]|one|two|three|four|five|six|seven|eight|nine|ten)"
              r"(?:[- ]years?[- ]old\b|\s*살)|\babout (?:three|four|five|six|seven|eight|nine)\b")


@dataclass
class Look:
    """How one person is drawn. Colours are RGB."""

    name: str
    kind: str = "person"  # "person" | "dog" | "cat": a family's book can be about a pet
    age: str = "adult"  # "child" | "adult" | "elder"
    sex: str = ""  # "f" | "m" | "" (not said)
    hair_style: str = "short"  # short | bun | long | curly | pigtails | bowl | bald
    hair_colour: tuple[int, int, int] = (62, 50, 46)
    glasses: bool = False
    beard: bool = False
    top: tuple[int, int, int] = (150, 180, 210)
    bottom: tuple[int, int, int] = (110, 110, 130)
    dress: bool = False  # one long garment (dress, hanbok skirt) instead of top + trousers
    hanbok: bool = False
    stripes: bool = False
    hat: tuple[int, int, int] | None = None
    apron: tuple[int, int, int] | None = None
    scarf: tuple[int, int, int] | None = None
    extra: dict = field(default_factory=dict)


def _has(text: str, words: set[str], needles: tuple[str, ...]) -> bool:
    return any(_found(text, words, n) for n in needles)


def _colour_before(text: str, end: int, table: dict) -> tuple[int, int, int] | None:
    """The colour word closest before ``end`` within the same clause ("rose-colored blouse",
    "분홍 저고리"); English colours as whole words ("colored" holds no "red")."""
    window = re.split(r"[,;.]| and | with |와 |과 ", text[max(0, end - 40):end])[-1]
    best, best_key = None, (-1, 0)
    for word, rgb in table.items():
        pattern = rf"(?<![a-z]){re.escape(word)}(?![a-z])" if word.isascii() else re.escape(word)
        for match in re.finditer(pattern, window):
            key = (match.end(), len(word))  # the latest, then the longest ("sky-blue" over "blue")
            if key > best_key:
                best, best_key = rgb, key
    return best


def _garments(text: str) -> dict[str, tuple[int, int, int] | bool]:
    found: dict[str, tuple[int, int, int] | bool] = {}
    for kind, names in GARMENTS.items():
        matches = [m for name in names
                   for m in [re.search(re.escape(name) if not name.isascii() else rf"\b{re.escape(name)}s?\b", text)] if m]
        if matches:  # the first garment named is the one on top: "a blue vest over a white blouse" is blue
            first = min(matches, key=lambda m: (m.start(), -len(m.group(0))))
            found[kind] = _colour_before(text, first.start(), COLOURS) or True
    return found


def darker_fur(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(int(c * 0.72) for c in rgb)  # type: ignore[return-value]


def stable_number(text: str) -> int:
    """The same number for the same text in every process (``hash()`` is salted)."""
    return zlib.crc32(text.encode("utf-8"))


def read_look(name: str, description: str = "", relation: str = "") -> Look:
    """A person's look from their character-sheet description, name and relation word."""
    text = " ".join((description, relation, name)).lower()
    words = set(_WORD.findall(text))
    pick = stable_number(name + description)
    look = Look(name=name)
    if _has(text, words, ("dog", "puppy", "강아지", "멍멍이", "반려견")):
        look.kind = "dog"
    elif _has(text, words, ("cat", "kitten", "고양이", "야옹이")):
        look.kind = "cat"
    if look.kind != "person":
        look.top = _colour_before(text, len(text), COLOURS) or ((232, 206, 160) if pick % 2 else (190, 140, 100))
        look.hair_colour = darker_fur(look.top)
        return look
    look.sex = "f" if _has(text, words, _FEMALE) else "m" if _has(text, words, _MALE) else ""
    if _has(text, words, _ELDER):
        look.age = "elder"
    elif _has(text, words, _CHILD) or re.search(_YOUNG_AGE, text):
        look.age = "child"
    # hair
    hair_at = re.search(r"hair|머리|curls|bun|perm|파마|백발|은발|금발|pigtail|haircut", text)
    colour = _colour_before(text, hair_at.end() if hair_at else len(text), HAIR_COLOURS) if hair_at else None
    if colour is None and look.age == "elder":
        colour = HAIR_COLOURS["gray"] if pick % 2 else HAIR_COLOURS["silver"]
    look.hair_colour = colour or ((52, 44, 44) if pick % 3 else (96, 66, 50))
    styles = (("bald", ("bald", "대머리", "민머리")), ("bun", ("bun", "chignon", "쪽진", "쪽머리", "올림머리", "비녀")),
              ("pigtails", ("pigtail", "pigtails", "braids", "양갈래", "땋은")),
              ("bowl", ("bowl haircut", "bowl cut", "바가지")), ("curly", ("curly", "curls", "perm", "permed", "파마", "곱슬")),
              ("long", ("long hair", "긴 머리", "긴머리", "ponytail", "포니테일", "단발")),
              ("short", ("short hair", "short", "짧은", "crew cut", "스포츠머리")))
    look.hair_style = next((s for s, needles in styles if _has(text, words, needles)), "")
    if not look.hair_style:
        look.hair_style = ("curly" if look.sex == "f" else "short") if look.age == "elder" else \
            ("long" if look.sex == "f" else "short")
    look.glasses = _has(text, words, ("glasses", "spectacles", "안경"))
    look.beard = _has(text, words, ("beard", "mustache", "moustache", "수염"))
    # clothes
    garments = _garments(text)
    look.hanbok = _has(text, words, ("hanbok", "한복", "jeogori", "저고리"))
    look.dress = "dress" in garments or (look.sex == "f" and (look.hanbok or "skirt" in text or "치마" in text))
    palette = list(COLOURS.values())
    fallback_top = palette[pick % len(palette)]
    named = [c for c in (garments.get("dress"), garments.get("top")) if isinstance(c, tuple)]
    any_colour = _colour_before(text, len(text), COLOURS) if not named else None
    look.top = named[0] if named else any_colour or fallback_top
    bottom = garments.get("bottom")
    look.bottom = bottom if isinstance(bottom, tuple) else \
        (look.top if look.dress else ((96, 104, 140) if pick % 2 else (120, 100, 86)))
    if look.hanbok and look.sex == "f" and not isinstance(bottom, tuple):
        look.bottom = (132, 96, 150) if look.top != (132, 96, 150) else (110, 140, 190)
    look.stripes = _has(text, words, ("striped", "stripes", "줄무늬"))
    for kind in ("hat", "apron", "scarf"):
        if kind in garments:
            value = garments[kind]
            setattr(look, kind, value if isinstance(value, tuple) else
                    {"hat": (212, 84, 74), "apron": (150, 186, 140), "scarf": (222, 132, 150)}[kind])
    return look
