"""What the studio does around a remote picture: the server's PNG is kept as it compressed it
(chunks rewritten, pixels untouched), a control map is made and encoded once per content, and
a picture from a service that does not promise the same picture twice says so in its
parameters and when the visitor asks to make it again."""
from __future__ import annotations

import base64
import io

import pytest
from PIL import Image, ImageDraw

from studio import illustrate, page_inputs, poses
from studio.config import Settings
from studio.control_maps import MAPS
from studio.image_params import NOT_DETERMINISTIC, parse_a1111
from studio.images import to_png_bytes
from studio.png_chunks import _chunks, remember_png
from studio.services import build_services
from tests.remote_fakes import FakeA1111, FakeHF, remote_book


@pytest.fixture
def webui():
    fake = FakeA1111(full_size=True)
    yield fake
    fake.close()


def _services(tmp_path, url, **extra):
    lora_dir = tmp_path / "loras"
    lora_dir.mkdir(parents=True, exist_ok=True)
    (lora_dir / "watercolor.safetensors").write_bytes(b"x")
    return build_services(Settings(data_dir=tmp_path / "data", illustrator="a1111", a1111_urls=url,
                                   a1111_controlnets="openpose=control_openpose", lora_dir=str(lora_dir),
                                   remote_retries=0, remote_timeout_s=10, **extra))


def _idat(data: bytes) -> bytes:
    return b"".join(body for kind, body in _chunks(data) if kind == b"IDAT")


def test_the_servers_png_is_stored_with_our_parameters_and_its_pixels_untouched(tmp_path, webui):
    services = _services(tmp_path, webui.url)
    book = remote_book(services, width=320, height=192)
    page = book.pages[0]
    [variant] = illustrate.generate_variants(services, "local", book.id, page.id, page.image)
    sent = base64.b64decode(webui._pictures[(320, 192)])
    stored = services.store.media_for("local").read_bytes(variant.image)
    assert _idat(stored) == _idat(sent)  # not compressed a second time
    kinds = [kind for kind, _ in _chunks(stored)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and set(kinds) <= {b"IHDR", b"tEXt", b"iTXt", b"IDAT", b"IEND"}
    with Image.open(io.BytesIO(stored)) as mine, Image.open(io.BytesIO(sent)) as theirs:
        assert mine.tobytes() == theirs.convert("RGB").tobytes()
        assert mine.info["parameters"] == variant.params["parameters"]  # the server's own note is gone
        assert "fake webui" not in stored.decode("latin-1")
    same, identical = illustrate.reproduce(services, "local", book.id, page.id, variant.id)
    assert identical and same.id == variant.id
    services.close()


def test_a_picture_changed_after_it_arrived_is_encoded_afresh():
    picture = Image.new("RGB", (40, 30), (10, 120, 200))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    remember_png(picture, buffer.getvalue())
    assert _idat(to_png_bytes(picture, "a")) == _idat(buffer.getvalue())
    ImageDraw.Draw(picture).rectangle((0, 0, 5, 5), fill=(255, 0, 0))  # changed in place
    with Image.open(io.BytesIO(to_png_bytes(picture, "a"))) as again:
        assert again.getpixel((1, 1)) == (255, 0, 0) and again.info["parameters"] == "a"
    rgba = Image.new("RGBA", (8, 8))
    remember_png(rgba, b"not used")  # only plain RGB pictures keep their bytes
    assert Image.open(io.BytesIO(to_png_bytes(rgba))).mode == "RGBA"


def test_a_control_map_is_made_and_encoded_once_per_content(tmp_path, webui):
    services = _services(tmp_path, webui.url)
    book = remote_book(services, width=256, height=256)
    MAPS.clear()
    before = MAPS.made
    for page in (book.pages[0], book.pages[0], book.pages[1]):  # same pose and size on both pages
        illustrate.generate_variants(services, "local", book.id, page.id, page.image)
    assert MAPS.made == before + 1
    book = services.store.get("local", book.id)
    refs = {v.params["spec"]["control"]["map_image"] for p in book.pages[:2] for v in p.variants}
    assert len(refs) == 1
    wire = {unit["image"] for body in webui.bodies() for unit in body["alwayson_scripts"]["controlnet"]["args"]}
    assert len(wire) == 1  # sent as the very bytes stored
    assert base64.b64decode(wire.pop()) == services.store.media_for("local").read_bytes(refs.pop())

    shown = page_inputs.control_map(services, book.pages[0], book.pages[0].image, "local")
    ImageDraw.Draw(shown).rectangle((0, 0, 255, 255), fill=(255, 255, 255))  # a caller scribbles on its copy
    again = page_inputs.control_map(services, book.pages[0], book.pages[0].image, "local")
    assert again.getpixel((0, 0)) == (0, 0, 0) and MAPS.made == before + 1

    page = page_inputs.edit_pose(services, "local", book.id, book.pages[0].id,
                                 lambda p: poses.move_joint(p, 0, 4, 0.3, 0.2))  # an edited pose: a new map
    illustrate.generate_variants(services, "local", book.id, page.id, page.image)
    assert MAPS.made == before + 2
    services.close()


@pytest.fixture
def hf(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_spaceSSSSsecret555")
    fake = FakeHF({"stabilityai/sdxl": "text-to-image"})
    fake.varies = True  # like a provider: the same settings, another picture
    yield fake
    fake.close()


def test_a_picture_from_a_service_that_is_not_deterministic_says_so(launch_app, client_for, hf, caplog):
    import logging

    from studio.book import ImageSpec, Page

    caplog.set_level(logging.DEBUG)
    url, services = launch_app(illustrator="hf", hf_base_url=hf.url, hf_image_model="stabilityai/sdxl",
                               remote_retries=0)
    client = client_for(url)
    drop, *_ = client.predict("Persimmons", "", "en", 4, api_name="/create_book")
    book_id = drop["value"]
    services.store.update("local", book_id, lambda b: setattr(b, "pages", [
        Page(text="p1", illustration_prompt="grandmother in the garden", image=ImageSpec(width=192, height=128))]))
    pages, _, _ = client.predict(None, api_name="/list_pages")
    page_id = pages["choices"][0][1]
    form = [v["value"] if isinstance(v, dict) and v.get("__type__") == "update" else v
            for v in client.predict(page_id, api_name="/show_page")[2:24]]
    _, variant, _, status, _ = client.predict(page_id, 1, *form, api_name="/generate_variants")
    first = variant["value"]
    owner = services.store.owners()[0].owner
    made = services.store.get(owner, book_id).pages[0].variants[0]
    params = parse_a1111(made.params["parameters"])
    assert params["Note"] == NOT_DETERMINISTIC and params["Backend"] == "hf"
    with Image.open(services.store.media_for(owner).existing_path(made.image)) as png:
        assert NOT_DETERMINISTIC in png.info["parameters"]  # in the file too, for other tools
    _, variant, note = client.predict(page_id, first, api_name="/reproduce")
    assert "Hugging Face does not promise the same picture twice" in note and "Both are kept" in note
    assert len(variant["choices"]) == 2
    assert "hf_spaceSSSSsecret555" not in repr([status, variant, note])  # nor in logs or stored files:
    stored = [p.read_bytes().decode("latin-1") for p in services.settings.data_dir.rglob("*") if p.is_file()]
    assert all("hf_spaceSSSSsecret555" not in text for text in [caplog.text, *stored])
    assert hf.authorizations()[-1] == "Bearer hf_spaceSSSSsecret555"  # it was used, all the same


def test_the_gallery_file_is_the_stored_picture_without_its_text(tmp_path, webui):
    from tabs.common import picture

    services = _services(tmp_path, webui.url)
    book = remote_book(services, width=256, height=192)
    [variant] = illustrate.generate_variants(services, "local", book.id, book.pages[0].id, book.pages[0].image)
    stored = services.store.media_for("local").read_bytes(variant.image)
    assert variant.params["spec"]["control"]["map_image"] in stored.decode("latin-1")  # a storage ref, inside
    shown = open(picture(services, "local", variant.image), "rb").read()
    assert _idat(shown) == _idat(stored) and b"tEXt" not in shown and b"iTXt" not in shown
    assert variant.params["spec"]["control"]["map_image"][:16] not in shown.decode("latin-1")
    with Image.open(io.BytesIO(shown)) as a, Image.open(io.BytesIO(stored)) as b:
        assert a.tobytes() == b.tobytes()
    services.close()


def test_only_a_sound_plain_rgb_png_is_kept_as_it_came():
    from studio.backends.remote.common import image_from_bytes
    from studio.png_chunks import remembered_png, with_text

    def png(image, **options):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", **options)
        return buffer.getvalue()

    rgb = png(Image.new("RGB", (16, 16), (30, 90, 160)))
    assert remembered_png(image_from_bytes(rgb, "WebUI")) == rgb
    for other in (Image.new("RGBA", (16, 16), (30, 90, 160, 200)),
                  Image.new("RGB", (16, 16), (30, 90, 160)).quantize(4)):
        assert remembered_png(image_from_bytes(png(other), "WebUI")) is None  # decoded, then encoded by the studio
    broken = bytearray(rgb)
    idat = bytes(broken).index(b"IDAT")
    length = int.from_bytes(broken[idat - 4:idat], "big")
    broken[idat + 4 + length] ^= 0xFF  # the IDAT checksum no longer matches
    assert with_text(bytes(broken), "parameters", "x") is None
    assert with_text(b"not a png", "parameters", "x") is None
    jpeg = io.BytesIO()
    Image.new("RGB", (16, 16), (30, 90, 160)).save(jpeg, format="JPEG")
    assert remembered_png(image_from_bytes(jpeg.getvalue(), "WebUI")) is None  # encoded by the studio
