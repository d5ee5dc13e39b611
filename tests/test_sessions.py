"""Who owns what: one family locally, a server-made signed token (or HF login) per public visitor."""
from types import SimpleNamespace

import pytest

from app import owner_for
from studio import visitors

SECRET = b"s" * 64


def test_local_mode_is_one_family():
    assert owner_for("local", None, None, SECRET) == "local"


def test_public_visitor_is_their_server_made_token():
    token = visitors.mint_token(SECRET)
    owner = owner_for("public", token, None, SECRET)
    assert owner.startswith("anon:") and owner == owner_for("public", token, None, SECRET)
    other = owner_for("public", visitors.mint_token(SECRET), None, SECRET)
    assert other != owner


def test_forged_malformed_or_foreign_tokens_are_refused():
    real = visitors.mint_token(SECRET)
    raw = real.split(".")[0]
    forged = [None, "", "local", "../x", raw, raw + "." + "0" * 32, real.upper(),
              visitors.mint_token(b"another studio's secret")]
    for bad in forged:
        with pytest.raises(visitors.VisitorError):
            owner_for("public", bad, None, SECRET)


def test_logged_in_visitor_is_their_account():
    assert owner_for("public", None, SimpleNamespace(username="soonja"), SECRET) == "hf:soonja"
    token = visitors.mint_token(SECRET)
    assert owner_for("kiosk", token, None, SECRET).startswith("anon:")


def test_owner_matches_only_its_own_token_or_login():
    token, other = visitors.mint_token(SECRET), visitors.mint_token(SECRET)
    owner = visitors.anon_owner(token)
    assert visitors.owner_matches(owner, token, None)
    assert not visitors.owner_matches(owner, other, None)
    assert not visitors.owner_matches(owner, None, None)
    assert visitors.owner_matches("hf:soonja", None, "soonja")
    assert not visitors.owner_matches("hf:soonja", token, "mallory")
    assert not visitors.owner_matches("hf:soonja", token, None)
