"""Who owns what: one family locally, a server-made secret (or HF login) per public visitor."""
from types import SimpleNamespace

from app import owner_for


def test_local_mode_is_one_family():
    assert owner_for("local", None, None)[0] == "local"


def test_public_visitor_gets_a_secret_token_and_keeps_it():
    owner, token = owner_for("public", None, None)
    assert owner.startswith("anon:") and len(token) == 64
    assert owner_for("public", token, None) == (owner, token)  # returning visitor, same books
    other, other_token = owner_for("public", None, None)
    assert other != owner and other_token != token


def test_forged_or_malformed_tokens_are_replaced():
    for bad in ("local", "../x", "a" * 63, "A" * 64, "session-hash-1234"):
        owner, token = owner_for("public", bad, None)
        assert token != bad and owner.startswith("anon:")


def test_logged_in_visitor_is_their_account_and_kiosk_visitors_start_fresh():
    assert owner_for("public", None, SimpleNamespace(username="soonja"))[0] == "hf:soonja"
    _, token = owner_for("public", None, None)
    assert owner_for("kiosk", token, None)[1] != token
