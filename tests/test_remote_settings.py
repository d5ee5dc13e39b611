"""The Settings tab's remote section in the running app: configured servers, the test button,
whose quota pays; no token or password in any API answer."""
from __future__ import annotations

import json

import pytest

from tests.remote_fakes import FakeA1111, FakeHF, refuse_connections_url

SPACE_TOKEN = "hf_spaceSSSSsecret444"


@pytest.fixture
def servers(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", SPACE_TOKEN)
    webui, hf = FakeA1111(), FakeHF({"stabilityai/sdxl": "text-to-image"})
    hf.users[SPACE_TOKEN] = "studio-space"
    yield webui, hf
    webui.close()
    hf.close()


def test_remote_section_lists_tests_and_never_shows_a_secret(launch_app, client_for, servers):
    webui, hf = servers
    secret_url = webui.url.replace("http://", "http://kiosk:pa55word@")
    url, services = launch_app(a1111_urls=f"{secret_url},{refuse_connections_url()}", hf_base_url=hf.url,
                               hf_image_model="stabilityai/sdxl")
    client = client_for(url)
    note, table = client.predict(api_name="/remote_status")
    table = table.get("value", table)  # an update carrying the headers in the visitor's language
    assert table["headers"] == ["Engine", "Address", "Status"]
    engines = [row[0] for row in table["data"]]
    assert engines == ["Stable Diffusion WebUI (A1111/Forge)", "Hugging Face inference (pictures)"]
    assert "this studio's own account" in note
    assert "does not promise the same picture twice" in table["data"][1][2]  # HF providers: say so
    note, table = client.predict(api_name="/remote_test")
    table = table.get("value", table)
    statuses = [row[2] for row in table["data"]]
    assert statuses[0] == "reachable" and "cannot be reached" in statuses[1] and statuses[2] == "reachable"
    assert hf.authorizations() == [f"Bearer {SPACE_TOKEN}"] and webui.requests_to("/sdapi/v1/sd-models")
    answers = json.dumps([note, table, client.predict(api_name="/backend_status")])
    assert SPACE_TOKEN not in answers and "pa55word" not in answers and "127.0.0.1" in answers
    from ui_helpers import client_in

    korean = client_in(url, "ko-KR").predict(api_name="/remote_status")[1]
    assert korean.get("value", korean)["headers"] == ["엔진", "주소", "상태"]
    hf.users.clear()  # the token was revoked: the button says so, in words
    _, table = client.predict(api_name="/remote_test")
    table = table.get("value", table)
    assert "did not accept the sign-in" in table["data"][-1][2]
