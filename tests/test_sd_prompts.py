"""Long page prompts keep the style and the character sheet (tiny CLIP through the real loading code)."""
from __future__ import annotations

import logging

import pytest

from studio import illustrate
from studio.backends.sd_prompts import MAX_PROMPT_TOKENS, fit_prompt, plain_words, to_compel_syntax
from studio.book import Character, ImageSpec, Page
from studio.config import Settings
from studio.services import build_services
from tiny_sd import tiny_models  # noqa: F401  (session fixture)

# 300 single-token words (the tiny tokenizer merges each of these into one token)
PAGE_WORDS = ("the cat in the garden under a red sky " * 40).split()[:300]


@pytest.fixture
def sd(tiny_models, tmp_path):  # noqa: F811
    services = build_services(Settings(data_dir=tmp_path / "data", sd_model=str(tiny_models.sd)))
    book = services.store.create("local", "Tiny", page_count=4)

    def fill(b):
        b.style = "pencil"
        b.characters = [Character(name="Halmeoni", description="grandmother with a red book")]
        b.pages = [Page(text="p", illustration_prompt=" ".join(PAGE_WORDS), characters=["Halmeoni"],
                        image=ImageSpec(width=64, height=64, steps=2, seed=3, seed_locked=True, style="pencil"))]

    book = services.store.update("local", book.id, fill)
    yield services, book
    services.close()


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids


def _contains(seq: list[int], sub: list[int]) -> bool:
    return any(seq[i:i + len(sub)] == sub for i in range(len(seq) - len(sub) + 1))


def _record_text_encoder_inputs(pipe) -> list[list[int]]:
    seen: list[list[int]] = []
    pipe.text_encoder.register_forward_pre_hook(
        lambda module, args, kwargs: seen.extend(row.tolist() for row in (args[0] if args else kwargs["input_ids"])),
        with_kwargs=True)
    return seen


@pytest.mark.parametrize("weighted", [False, True])
def test_style_and_characters_reach_the_text_encoder_of_a_300_token_prompt(sd, weighted, caplog):
    services, book = sd
    if weighted:
        services.store.update("local", book.id, lambda b: setattr(
            b.characters[0], "description", "(grandmother:1.4) with a (red book:0.8)"))
        book = services.store.get("local", book.id)
    ill = services.backends.active("illustrator")
    page = book.pages[0]
    spec = illustrate.final_spec(book, page, page.image, 3)
    assert spec.prompt.startswith("soft pencil sketch") and len(_ids(ill_tokenizer(ill), spec.prompt)) > 300

    ill._ensure_loaded()
    seen = _record_text_encoder_inputs(ill._base)
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.enable_propagation()  # diffusers' own "...was truncated" warning reaches caplog
    try:
        with caplog.at_level(logging.WARNING):
            variant = illustrate.generate_variants(services, "local", book.id, page.id, spec)[0]
    finally:
        diffusers_logging.disable_propagation()
    assert "truncated" not in caplog.text  # nothing cut silently by the pipeline any more

    tok = ill._base.tokenizer
    read = [i for row in seen for i in row]
    assert len(seen) >= 3  # the prompt went through in several 77-token windows, not one truncated one
    for words in ("soft pencil sketch, light watercolor wash, picture book, white background",
                  "grandmother with a red book"):
        assert _contains(read, _ids(tok, words)), words
    assert not _contains(read, _ids(tok, ":1.4"))  # the weight is applied, not read as words
    dropped = variant.params["dropped_words"]
    assert dropped and dropped == PAGE_WORDS[-len(dropped):]  # only the end of the page prompt goes
    assert dropped[0] in illustrate.dropped_words_note([variant], "en")
    assert "반영되지 않았어요" in illustrate.dropped_words_note([variant], "ko")


def ill_tokenizer(ill):
    ill._ensure_loaded()
    return ill._base.tokenizer


def test_weights_change_the_embeddings_and_long_prompts_are_not_cut(sd):
    services, _ = sd
    ill = services.backends.active("illustrator")
    encoder = ill._prompt_encoder()
    plain = encoder.encode("a grandmother in the garden", "", 7.0).kwargs
    weighted = encoder.encode("a (grandmother:1.5) in the garden", "", 7.0).kwargs
    same = encoder.encode("a (grandmother)1.5 in the garden", "", 7.0).kwargs
    assert plain["prompt_embeds"].shape == weighted["prompt_embeds"].shape
    assert (plain["prompt_embeds"] - weighted["prompt_embeds"]).abs().max() > 1e-3
    assert (same["prompt_embeds"] - weighted["prompt_embeds"]).abs().max() < 1e-6  # A1111 == compel syntax
    long = encoder.encode(" ".join(PAGE_WORDS[:100]), "blurry", 7.0)
    assert long.dropped == [] and long.kwargs["prompt_embeds"].shape[1] >= 2 * 77
    assert long.kwargs["negative_prompt_embeds"].shape == long.kwargs["prompt_embeds"].shape
    assert "negative_prompt_embeds" not in encoder.encode("a cat", "blurry", 1.0).kwargs  # no guidance


def test_fit_prompt_drops_whole_units_from_the_end(tiny_models):  # noqa: F811
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(tiny_models.sd / "tokenizer", local_files_only=True)
    text = "style words, (grandmother:1.2), " + " ".join(["cat"] * 300) + " (red sky:1.3)"
    kept, dropped = fit_prompt(tok, text)
    assert kept.startswith("style words, (grandmother:1.2), cat") and len(_ids(tok, plain_words(kept))) <= MAX_PROMPT_TOKENS
    assert dropped[-1] == "red sky" and dropped.count("cat") + kept.count("cat") == 300
    assert fit_prompt(tok, "a short prompt") == ("a short prompt", [])
    assert to_compel_syntax("(a b:1.2), c") == "(a b)1.2, c" and plain_words("(a b:1.2), c++") == "a b , c"
