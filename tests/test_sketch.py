"""The offline illustrator draws what the page says: night is dark with a moon and no sun, snow
falls on white ground, rain falls from a grey sky, and the page's characters — as many as the
page names — look like their character sheets. Measured on the pixels."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from studio.backends.base import CancelToken, Cancelled, IllustrationRequest
from studio.backends.offline_art.words import read_look, read_scene
from studio.backends.sketch import SketchIllustrator
from studio.book import ImageSpec, Page

GRANDMA = {"name": "순자 할머니", "relation": "할머니",
           "description": "an elderly Korean grandmother, short silver permed hair, round glasses, "
                          "wearing a rose-colored blouse and a navy skirt"}
CHILD = {"name": "아이", "description": "a small child of about six with two little pigtails, wearing a yellow raincoat"}
HAROLD = {"name": "Grandpa Harold", "relation": "grandfather",
          "description": "an elderly grandfather, short white hair, a white beard, wearing a brown cardigan"}


def draw(text="", setting="", mood="", characters=(), seed=7, size=(384, 384), pose_hint="standing", **extra):
    context = {"text": text, "setting": setting, "mood": mood, "pose_hint": pose_hint,
               "characters": list(characters), **extra}
    request = IllustrationRequest(spec=ImageSpec(seed=seed, width=size[0], height=size[1]), prompt=extra.pop("prompt", ""),
                                  page_context=context)
    return SketchIllustrator().illustrate(request)


def pixels(image) -> np.ndarray:
    return np.asarray(image).astype(int)


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def sun_pixels(rgb: np.ndarray) -> int:
    """Warm, bright, saturated yellow: a sun disc (the moon is a pale cream)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((r > 225) & (g > 190) & (b < 170) & (r - b > 80)).sum())


def small_white_blobs(rgb: np.ndarray, max_area: int = 250) -> int:
    """Small white specks standing out from what is around them (flakes; not bits of a cloud)."""
    mask = (rgb.min(axis=-1) > 232).astype(np.uint8)
    lum = luminance(rgb)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    found = 0
    for i in range(1, count):
        if not 2 <= stats[i, cv2.CC_STAT_AREA] <= max_area:
            continue
        blob = (labels == i).astype(np.uint8)
        ring = cv2.dilate(blob, np.ones((7, 7), np.uint8)) - cv2.dilate(blob, np.ones((3, 3), np.uint8))
        if ring.any() and lum[ring > 0].mean() < lum[blob > 0].mean() - 25:
            found += 1
    return found


def test_a_night_page_has_a_dark_sky_a_moon_and_no_sun():
    night = pixels(draw("눈 내리는 숲의 밤, 할머니는 아이의 손을 잡고 걸으셨어요.", characters=[GRANDMA, CHILD]))
    day = pixels(draw("A sunny summer day in the garden.", characters=[GRANDMA, CHILD]))
    sky = night[: int(night.shape[0] * 0.3)]
    assert luminance(sky).mean() < 90
    assert sun_pixels(night) == 0
    assert (luminance(night[:120]) > 225).sum() > 30  # the moon and the stars are there
    assert sun_pixels(day) > 200 and luminance(day[:115]).mean() > 170  # a day page does have its sun
    english = pixels(draw("They looked at the stars every night.", prompt="moonlit night sky"))
    assert luminance(english[:115]).mean() < 90 and sun_pixels(english) == 0


def test_a_snow_page_has_falling_flakes_and_white_ground():
    snow = pixels(draw("첫눈이 오는 날, 마당에 눈사람을 만들었어요.", characters=[CHILD], people=[]))
    clear = pixels(draw("A summer afternoon in the garden.", characters=[CHILD]))
    h = snow.shape[0]
    assert small_white_blobs(snow[: int(h * 0.45)]) >= 15  # flakes in the sky
    assert small_white_blobs(clear[: int(h * 0.45)]) <= 3
    ground = np.concatenate([snow[int(h * 0.8):, :60], snow[int(h * 0.8):, -60:]], axis=1)
    assert luminance(ground).mean() > 205 and (ground.max(-1) - ground.min(-1)).mean() < 40  # white, not green
    night = pixels(draw("눈 내리는 숲의 밤", characters=[]))
    assert luminance(night[int(h * 0.85):]).mean() > luminance(night[: int(h * 0.3)]).mean() + 60  # snow glows


def test_a_rain_page_has_a_grey_sky_drops_and_puddles():
    rain = pixels(draw("비가 오는 날, 아이는 우산을 쓰고 웅덩이를 건넜어요.", characters=[CHILD]))
    clear = pixels(draw("A clear summer day.", characters=[CHILD]))
    sky = rain[:100]
    assert (sky.max(-1) - sky.min(-1)).mean() < 35 and 100 < luminance(sky).mean() < 200  # grey, not blue
    assert (clear[:100, :, 2] - clear[:100, :, 0]).mean() > 30  # a clear sky is blue
    streaks = ((rain[..., 2] - rain[..., 0] > 8) & (luminance(rain) > 175)).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(streaks[:250])
    assert sum(1 for i in range(1, count) if stats[i, cv2.CC_STAT_HEIGHT] >= 4) >= 20


@pytest.mark.parametrize("characters", [[CHILD], [GRANDMA, CHILD], [HAROLD, GRANDMA, CHILD]])
def test_the_figures_are_the_pages_characters(characters):
    image = draw("할머니와 감나무 아래에서 놀았어요.", characters=characters, pose_hint="waving")
    empty = draw("할머니와 감나무 아래에서 놀았어요.", characters=[], people=[], pose_hint="waving")
    figures = image.info["figures"]
    assert [f["name"] for f in figures] == [c["name"] for c in characters]
    changed = np.abs(pixels(image) - pixels(empty)).sum(-1) > 40
    inside = np.zeros_like(changed)
    for figure in figures:
        x0, y0, x1, y1 = figure["box"]
        inside[max(0, y0):y1, max(0, x0):x1] = True
        column = changed[max(0, y0):y1, (x0 + x1) // 2 - 3:(x0 + x1) // 2 + 3]
        assert column.mean() > 0.35  # someone really stands in each box
    assert changed[~inside].mean() < 0.01 and changed[inside].sum() > 0.95 * changed.sum()
    centres = sorted((f["box"][0] + f["box"][2]) / 2 for f in figures)
    assert all(b - a > 40 for a, b in zip(centres, centres[1:]))  # side by side, not on top of each other


def test_two_characters_with_different_sheets_look_different():
    image = draw("마당에서", characters=[GRANDMA, CHILD], pose_hint="waving")
    empty = pixels(draw("마당에서", characters=[], people=[], pose_hint="waving"))
    rgb = pixels(image)
    changed = np.abs(rgb - empty).sum(-1) > 40
    measured = []
    for figure in image.info["figures"]:
        x0, y0, x1, y1 = figure["box"]
        mask = changed[y0:y1, x0:x1]
        ys, xs = np.nonzero(mask)
        body = rgb[y0:y1, x0:x1][mask]
        top = ys.min()
        hair = rgb[y0:y1, x0:x1][(ys.min() <= np.arange(y1 - y0)[:, None]) & (np.arange(y1 - y0)[:, None] < top + 8) & mask]
        measured.append({"height": ys.max() - ys.min(), "colour": body.mean(0), "hair": luminance(hair).mean()})
    grandma, child = measured
    assert child["height"] < 0.75 * grandma["height"]  # a child is small
    assert np.abs(grandma["colour"] - child["colour"]).sum() > 60  # rose and navy vs yellow
    assert grandma["hair"] > child["hair"] + 40  # silver hair vs black pigtails


def test_character_sheets_are_read_in_korean_and_english():
    harold = read_look("Grandpa Harold", HAROLD["description"], "grandfather")
    assert (harold.age, harold.sex, harold.beard, harold.hair_style) == ("elder", "m", True, "short")
    assert min(harold.hair_colour) > 200 and harold.top == (150, 106, 76)  # white hair, brown cardigan
    grandma = read_look("순자 할머니", "분홍 저고리와 파란 치마를 입고, 쪽진 흰머리에 안경을 쓰신 할머니")
    assert (grandma.age, grandma.sex, grandma.hanbok, grandma.dress, grandma.glasses) == ("elder", "f", True, True, True)
    assert grandma.top == (238, 160, 176) and grandma.bottom == (104, 140, 200) and grandma.hair_style == "bun"
    rose = read_look("Nan", "gray hair in a neat bun, wearing a rose-colored blouse")
    assert rose.top == (222, 132, 150)  # "colored" holds no "red"
    child = read_look("아이", "a small child of about six with a bowl haircut, wearing a sky-blue jumper")
    assert child.age == "child" and child.hair_style == "bowl" and child.top == (150, 196, 232)


def test_scene_words_in_korean_and_english():
    assert read_scene("눈을 감고 할머니의 목소리를 들었어요.").weather == "clear"  # eyes, not snow
    assert read_scene("특별한 날이었어요.").time == "day"  # 특별 is not a star
    assert read_scene("강아지와 우산 없이 산책했어요.").place == "garden"  # no river, no mountain...
    assert read_scene("강아지와 우산 없이 산책했어요.").weather == "rain"  # ...but 우산 is rain
    night = read_scene("눈 내리는 숲의 밤")
    assert (night.time, night.weather, night.place, night.season) == ("night", "snow", "forest", "winter")
    autumn = read_scene("할머니의 감나무", setting="마당")
    assert autumn.persimmon and autumn.season == "autumn"
    kitchen = read_scene("된장찌개 냄새가 났어요.")
    assert kitchen.place == "kitchen" and kitchen.indoor
    assert read_scene("On spring nights Grandpa read to Sam in his bedroom.").place == "room"
    assert read_scene("On spring nights Grandpa read to Sam in his bedroom.").time == "night"
    assert read_scene("We walked along the beach.").place == "sea"


def test_autumn_persimmons_and_spring_blossoms():
    autumn = pixels(draw("가을이면 할머니와 감나무 아래에서 감을 땄어요.", characters=[GRANDMA, CHILD]))
    orange = (autumn[..., 0] > 190) & (autumn[..., 1] > 90) & (autumn[..., 1] < 150) & (autumn[..., 2] < 90)
    assert orange.sum() > 150
    spring = pixels(draw("봄에는 벚꽃이 피었어요.", characters=[CHILD]))
    pink = (spring[..., 0] > 220) & (spring[..., 1] > 160) & (spring[..., 1] < 215) & (spring[..., 2] > 170)
    assert pink.sum() > 500


def test_an_indoor_page_is_a_room_with_a_window():
    image = draw("부엌에서 된장찌개 냄새가 솔솔 났어요.", characters=[GRANDMA])
    assert image.info["scene"]["place"] == "kitchen"
    rgb = pixels(image)
    assert (rgb[:30, :, 2] - rgb[:30, :, 0]).mean() < 0  # a warm wall, not a sky


def test_same_seed_same_picture_and_no_badge():
    a, b = pixels(draw("마당", characters=[CHILD], seed=3)), pixels(draw("마당", characters=[CHILD], seed=3))
    assert (a == b).all()
    assert not (a == pixels(draw("마당", characters=[CHILD], seed=4))).all()
    corner = a[-60:, -120:]
    assert (np.abs(corner - np.array([255, 250, 240])).sum(-1) == 0).mean() < 0.01  # no "sketch" label card


def test_fast_enough_for_a_whole_book_and_cancellable():
    start = time.perf_counter()
    for seed in range(4):
        draw("눈 내리는 숲의 밤", characters=[GRANDMA, CHILD], seed=seed, size=(512, 512))
    assert (time.perf_counter() - start) / 4 < 1.0
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        SketchIllustrator().illustrate(IllustrationRequest(spec=ImageSpec(), prompt=""), cancel=token)


def test_pose_people_are_drawn_when_the_page_names_no_characters(services):
    page = Page(text="할머니와 감을 땄어요", setting="마당", mood="따뜻한", pose_hint="carrying a child",
                image=ImageSpec(width=256, height=192, seed=3))
    ill = services.backends.get("illustrator", "sketch")
    img = ill.illustrate(IllustrationRequest(spec=page.image, prompt="", page_context={
        "setting": page.setting, "mood": page.mood, "text": page.text, "pose_hint": page.pose_hint}))
    assert img.size == (256, 192) and img.mode == "RGB" and len(img.info["figures"]) == 2
    assert services.backends.active("illustrator").name == "sketch"  # no model set: the default


def test_the_book_flow_passes_the_character_sheet(services):
    from studio import illustrate
    from studio.book import Character

    book = services.store.create("local", "감나무", "", "ko", 4)
    book = services.store.update("local", book.id, lambda b: (
        b.pages.append(Page()),
        b.characters.extend([Character(name="순자 할머니", description=GRANDMA["description"]),
                             Character(name="아이", description=CHILD["description"])]),
        setattr(b.pages[0], "characters", ["순자 할머니", "아이"]),
        setattr(b.pages[0], "text", "눈 내리는 밤")))
    page = book.pages[0]
    spec = illustrate.final_spec(book, page, ImageSpec(width=256, height=256), seed=5)
    image, _ = illustrate.render(services, book, page, spec, services.backends.get("illustrator", "sketch"))
    assert len(image.info["figures"]) == 2 and image.info["scene"]["time"] == "night"
    assert illustrate.page_context(book, page, spec)["characters"][0]["description"].startswith("an elderly")


def test_a_book_about_a_pet_draws_the_pet_not_a_person():
    dog = {"name": "바둑이", "relation": "강아지", "description": "a small fluffy white dog"}
    assert read_look("바둑이", dog["description"], "강아지").kind == "dog"
    assert read_look("나비", "고양이, an orange tabby").kind == "cat"
    assert read_look("아이", "개나리처럼 노란 옷을 입은 아이").kind == "person"  # 개나리 is a flower
    image = draw("봄날 마당에서 아이는 바둑이와 꽃잎을 쫓았어요.", characters=[CHILD, dog])
    child, pet = image.info["figures"]
    assert pet["box"][3] - pet["box"][1] < 0.8 * (child["box"][3] - child["box"][1])  # a small animal beside the child


def _boxes(image) -> dict[str, tuple[int, int, int, int]]:
    return {figure["name"]: figure["box"] for figure in image.info["figures"]}


def test_sitting_together_sits_them_on_a_bench_and_hugging_brings_them_together():
    """"sitting together" lowers both onto a bench (a small child's feet leave the ground); "hugging"
    brings them close enough to overlap, arms round each other — not two people standing apart."""
    people = (GRANDMA, CHILD)
    standing = _boxes(draw("공원에서", "a park", characters=people, pose_hint="standing", size=(512, 512)))
    sitting_image = draw("공원에서", "a park", characters=people, pose_hint="sitting together", size=(512, 512))
    sitting = _boxes(sitting_image)
    hugging = _boxes(draw("공원에서", "a park", characters=people, pose_hint="hugging", size=(512, 512)))
    grandma, child = GRANDMA["name"], CHILD["name"]
    assert sitting[grandma][1] - standing[grandma][1] > 512 * 0.06  # her head came down: she sits
    assert standing[child][3] - sitting[child][3] > 512 * 0.04  # the child's feet dangle above the ground
    wood = pixels(sitting_image)
    bench = (abs(wood[..., 0] - 176) < 8) & (abs(wood[..., 1] - 128) < 8) & (abs(wood[..., 2] - 86) < 8)
    assert bench.sum() > 512 * 512 * 0.01  # a wooden bench behind them

    def centre(box):
        return (box[0] + box[2]) / 2

    def overlap(a, b):
        return max(0, min(a[2], b[2]) - max(a[0], b[0])) / (b[2] - b[0])

    assert abs(centre(hugging[grandma]) - centre(hugging[child])) < 0.6 * abs(centre(standing[grandma]) - centre(standing[child]))
    assert overlap(hugging[grandma], hugging[child]) > 0.6 > overlap(standing[grandma], standing[child])


def test_a_windy_page_under_dark_clouds_has_a_grey_sky_and_no_sun():
    """The trouble page "차가운 바람이 불어오고 아이는 길을 잃고" is a windy day under dark clouds, not sunshine."""
    scene = read_scene("그런데 어느 날, 차가운 바람이 불어오고 아이는 길을 잃고 말았어요.", "", "", "worried")
    assert scene.weather == "storm" and read_scene("", "a windy path under dark clouds", "", "").weather == "storm"
    rgb = pixels(draw("그런데 어느 날, 차가운 바람이 불어오고 아이는 길을 잃고 말았어요.", characters=(CHILD,)))
    sky = rgb[: int(rgb.shape[0] * 0.3)]
    assert sun_pixels(sky) == 0 and sky.std(axis=-1).mean() < 12  # grey: red, green and blue close together
    clear = pixels(draw("햇살 좋은 날 아이는 정원에서 놀았어요.", characters=(CHILD,)))
    assert clear[: int(clear.shape[0] * 0.3)].std(axis=-1).mean() > sky.std(axis=-1).mean() + 8


def test_the_garment_named_first_is_the_one_drawn_on_top():
    """The sheet's "a blue hanbok vest over a white blouse" is a grandmother in blue, not in white."""
    look = read_look("순자 할머니", "an elderly Korean grandmother, short white curly hair, round glasses, "
                                  "wearing a blue hanbok vest over a white blouse, warm smile")
    other = read_look("순자 할머니", "an elderly Korean grandmother wearing a white blouse under a blue vest")
    assert look.top[2] > look.top[0] + 40 and other.top[0] > 200 and other.top[2] > 200  # blue / white
    assert read_look("민준", "a boy in blue overalls and a yellow raincoat").bottom[2] > 150  # overalls, blue


@pytest.mark.parametrize("pose_hint", ["standing", "walking hand in hand", "hugging", "sitting together"])
def test_snowflakes_never_fall_across_a_face(pose_hint):
    """Flakes in front of a face read as white spots on a cheek or a lens: they are left out there,
    while the sky keeps its flakes (the count the snow page test asks for)."""
    text = "눈 내리는 숲의 밤, 할머니와 아이는 함께 걸었어요."
    spotted = []
    for seed in range(8):
        image = draw(text, characters=[GRANDMA, CHILD], seed=seed, size=(512, 512), pose_hint=pose_hint)
        rgb = pixels(image)
        assert small_white_blobs(rgb[: int(rgb.shape[0] * 0.3)]) >= 8  # still snowing
        for figure in image.info["figures"]:
            x0, y0, x1, y1 = figure["face"]
            yy, xx = np.mgrid[y0:y1, x0:x1]
            inside = (xx - (x0 + x1) / 2) ** 2 + (yy - (y0 + y1) / 2) ** 2 <= ((x1 - x0) / 2) ** 2
            face = rgb[y0:y1, x0:x1][inside]  # heads stand well inside the page
            white = np.zeros(inside.shape, np.uint8)
            white[inside] = face.min(axis=-1) > 240
            count, _, stats, _ = cv2.connectedComponentsWithStats(white, connectivity=8)
            # a flake is a white disc of 10+ pixels; the eyes' catchlights are a few pixels each
            spotted += [(seed, figure["name"]) for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= 10]
    assert spotted == []
