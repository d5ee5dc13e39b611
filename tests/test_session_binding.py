"""A replayed ``session_hash`` without the visitor's server-made token gets nothing of theirs.

Gradio keeps ``gr.State`` (the owner id, the open book) under the browser-chosen session hash;
the session guard binds that hash to the visitor's signed HttpOnly cookie, and ``require_owner``
checks the owner against the call's own token on every call."""
from __future__ import annotations

import json
from types import SimpleNamespace

import httpx
import pytest
from gradio_client import Client

from studio import visitors
from studio.session_guard import SessionBindings


def _book_of(drop) -> list:
    return [value for _, value in (drop.get("choices") or [])]


@pytest.fixture
def public_app(launch_app, client_for):
    url, services = launch_app(mode="public")
    alice = client_for(url)
    drop, *_ = alice.predict("Alice's persimmon tree", "", "en", 4, api_name="/create_book")
    book_id = drop["value"]
    return url, services, alice, book_id


def test_visitor_gets_a_signed_httponly_cookie(public_app):
    url, services, alice, _ = public_app
    page = httpx.get(url)
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(visitors.COOKIE + "=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    token = page.cookies[visitors.COOKIE]
    assert visitors.valid_token(token, visitors.load_secret(services.settings.data_dir))
    # a returning visitor keeps their token; a forged one is replaced by a server-made one
    again = httpx.get(url, cookies={visitors.COOKIE: token})
    assert "set-cookie" not in again.headers
    forged = httpx.get(url, cookies={visitors.COOKIE: "0" * 64 + "." + "0" * 32})
    assert forged.cookies[visitors.COOKIE] != "0" * 64 + "." + "0" * 32


def test_replayed_session_hash_through_gradio_client_gets_nothing(public_app):
    url, services, alice, book_id = public_app
    mallory = Client(url, verbose=False, download_files=False)  # her own cookie, Alice's session hash
    mallory.session_hash = alice.session_hash
    for args, api in [((), "/list_books"), ((book_id,), "/open_book"), ((book_id,), "/export_book"),
                      ((book_id,), "/duplicate_book"), ((book_id, "x"), "/rename_book")]:
        with pytest.raises(Exception) as caught:
            result = mallory.predict(*args, api_name=api)
            pytest.fail(f"{api} answered a replayed session: {result!r}")
        assert "Alice" not in str(caught.value)
    # Alice is unaffected and her book is untouched
    drop, _ = alice.predict(api_name="/list_books")
    assert _book_of(drop) == [book_id]
    assert [b.title for b in services.store.list(visitors.anon_owner(alice.cookies[visitors.COOKIE]))] == ["Alice's persimmon tree"]


def test_replayed_session_hash_over_raw_http_is_refused(public_app):
    url, services, alice, book_id = public_app
    config = httpx.get(f"{url}config").json()
    fn_index = next(i for i, dep in enumerate(config["dependencies"]) if dep.get("api_name") == "list_books")
    body = {"data": [None], "fn_index": fn_index, "session_hash": alice.session_hash, "event_data": None,
            "trigger_id": None}
    join = httpx.post(f"{url}gradio_api/queue/join", json=body)  # no cookie: the server mints a new one
    assert join.status_code == 403
    assert "reload" in join.json()["detail"].lower()
    # the result stream of Alice's session cannot be read either
    stream = httpx.get(f"{url}gradio_api/queue/data", params={"session_hash": alice.session_hash})
    assert stream.status_code == 403
    # with Alice's own cookie the same raw call is served
    join = httpx.post(f"{url}gradio_api/queue/join", json=body, cookies=alice.cookies)
    assert join.status_code == 200, join.text
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": alice.session_hash},
                      cookies=alice.cookies, timeout=30) as stream:
        events = []
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("msg") == "process_completed":
                    break
    assert book_id in json.dumps(events[-1])


def test_require_owner_checks_the_calls_own_token():
    """The second line of defence: the owner in the state must be this request's visitor."""
    from gradio.context import LocalContext

    from tabs.common import Refused, require_owner

    token, other = visitors.mint_token(b"k" * 32), visitors.mint_token(b"k" * 32)
    owner = visitors.anon_owner(token)

    def request(cookie_token, session=None):
        return SimpleNamespace(headers={"accept-language": "ko"}, cookies={visitors.COOKIE: cookie_token},
                               request=SimpleNamespace(scope={"session": session or {}}))

    LocalContext.request.set(request(token))
    assert require_owner(owner) == owner
    LocalContext.request.set(request(other))
    with pytest.raises(Refused) as refused:
        require_owner(owner)
    assert refused.value.key == "spaces.session_taken" and "새로 고쳐" in refused.value.render("ko")
    LocalContext.request.set(None)  # no request at all: refused, never assumed
    with pytest.raises(Refused):
        require_owner(owner)
    login = {"oauth_info": {"userinfo": {"preferred_username": "soonja"}, "expires_at": None}}
    LocalContext.request.set(request(other, login))
    assert require_owner("hf:soonja") == "hf:soonja"
    with pytest.raises(Refused):
        require_owner("hf:someone-else")
    LocalContext.request.set(None)


def test_bindings_first_token_wins_and_idle_entries_age_out():
    bindings = SessionBindings(max_entries=2, idle_s=100)
    a, b = visitors.mint_token(b"x"), visitors.mint_token(b"x")
    assert bindings.allow("h1", a, now=0) and bindings.allow("h1", a, now=50)
    assert not bindings.allow("h1", b, now=60)
    assert bindings.allow("h1", b, now=200)  # Alice idle past the window: Gradio dropped her state too
    bindings.allow("h2", a, now=201), bindings.allow("h3", a, now=202)
    assert len(bindings) == 2  # bounded
