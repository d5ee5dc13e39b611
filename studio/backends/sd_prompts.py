"""Turning a page prompt into text-encoder embeddings without losing what matters.

CLIP reads 77 tokens at a time. The studio's prompts put the style words and the character sheet
first; ``compel`` then encodes the whole prompt in 77-token windows (no silent truncation) and
understands weights, so ``(grandmother:1.3)`` (A1111 syntax, what families paste from the web)
and compel's own ``(grandmother)1.3`` / ``grandmother++`` both work. A prompt longer than
``MAX_PROMPT_TOKENS`` is cut at a word boundary at its end (the page words, never the style or the
characters) and the dropped words are returned so the UI can name them.

SD 1.x/2.x use one text encoder (CLIP skip 1 or 2); SDXL uses two, concatenated on the
feature axis, plus the second one's pooled embedding. compel is imported lazily.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

CACHED_PROMPTS = 8
MAX_PROMPT_TOKENS = 225  # three CLIP windows; beyond this the model attends to the words weakly anyway

# A1111 "(words:1.2)" -> compel "(words)1.2"; compel's own syntax passes through unchanged.
_A1111_WEIGHT = re.compile(r"\(([^():]+?):\s*(\d*\.?\d+)\s*\)")
# A prompt unit that must be kept or dropped whole: a weighted group, or one word.
_UNIT = re.compile(r"\([^()]*\)[\d.+\-]*|\S+")
_SYNTAX = re.compile(r"[()]|:\s*\d*\.?\d+(?=\))|(?<=\))\d*\.?\d+|[+\-]+(?=\s|,|$)")


def to_compel_syntax(text: str) -> str:
    return _A1111_WEIGHT.sub(lambda m: f"({m.group(1).strip()}){m.group(2)}", text)


def plain_words(text: str) -> str:
    """The words of a prompt without weighting syntax (what the tokenizer really sees)."""
    return re.sub(r"\s+", " ", _SYNTAX.sub(" ", to_compel_syntax(text))).strip()


def fit_prompt(tokenizer: Any, text: str, budget: int = MAX_PROMPT_TOKENS) -> tuple[str, list[str]]:
    """(prompt within ``budget`` tokens, words dropped from its end). Unchanged when it fits."""
    units = list(_UNIT.finditer(text or ""))
    used = 0
    for index, unit in enumerate(units):
        words = plain_words(unit.group())
        used += len(tokenizer(words, add_special_tokens=False).input_ids) if words else 0
        if used > budget:
            dropped = [w for u in units[index:] if (w := plain_words(u.group()).strip(" ,"))]
            return text[:unit.start()].rstrip(" ,"), dropped  # cut the original text: its spacing stays
    return text, []


@dataclass
class EncodedPrompt:
    kwargs: dict[str, Any]  # prompt_embeds / negative_prompt_embeds (/ pooled for SDXL) for the pipeline
    dropped: list[str] = field(default_factory=list)


class PromptEncoder:
    """compel set up once for a loaded pipeline's text encoder(s)."""

    def __init__(self, pipe: Any, clip_skip: int = 1) -> None:
        from compel import Compel, ReturnedEmbeddingsType

        self.pipe = pipe
        self.sdxl = getattr(pipe, "text_encoder_2", None) is not None
        device = str(pipe._execution_device)
        if self.sdxl:  # SDXL reads the penultimate layer of both encoders, unnormalised
            kind = ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED
            self._encoders = [
                Compel(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, returned_embeddings_type=kind,
                       truncate_long_prompts=False, device=device),
                Compel(tokenizer=pipe.tokenizer_2, text_encoder=pipe.text_encoder_2, returned_embeddings_type=kind,
                       truncate_long_prompts=False, requires_pooled=True, device=device),
            ]
        else:
            kind = (ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NORMALIZED if clip_skip >= 2
                    else ReturnedEmbeddingsType.LAST_HIDDEN_STATES_NORMALIZED)
            self._encoders = [Compel(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder,
                                     returned_embeddings_type=kind, truncate_long_prompts=False, device=device)]

        self._cache: OrderedDict[tuple, EncodedPrompt] = OrderedDict()

    @property
    def tokenizer(self):
        return self.pipe.tokenizer

    def encode(self, prompt: str, negative: str, guidance: float, state: tuple = ()) -> EncodedPrompt:
        """Embeddings for the pipeline; the last few are kept (variants and pages of a book repeat
        the style and characters). ``state`` names whatever else changes the text encoder (LoRAs)."""
        key = (prompt, negative, guidance > 1.0, state)
        if key not in self._cache:
            self._cache[key] = self._encode(prompt, negative, guidance)
            while len(self._cache) > CACHED_PROMPTS:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return self._cache[key]

    def dropped(self, prompt: str) -> list[str]:
        for (text, *_), encoded in reversed(self._cache.items()):  # usually just encoded
            if text == prompt:
                return list(encoded.dropped)
        return fit_prompt(self.tokenizer, prompt)[1]

    def _encode(self, prompt: str, negative: str, guidance: float) -> EncodedPrompt:
        kept, dropped = fit_prompt(self.tokenizer, prompt)
        kept_negative, _ = fit_prompt(self.tokenizer, negative or "")
        texts = [to_compel_syntax(kept)]
        # Without guidance (turbo, guidance <= 1) the negative prompt is never used. SDXL's own rule:
        # an empty negative prompt means zero embeddings (the pipeline makes them).
        zeros_for_empty = self.sdxl and bool(getattr(self.pipe.config, "force_zeros_for_empty_prompt", False))
        wants_negative = guidance > 1.0 and (bool(kept_negative.strip()) or not zeros_for_empty)
        if wants_negative:
            texts.append(to_compel_syntax(kept_negative))
        if not self.sdxl:
            embeds = self._encoders[0](texts)  # positive and negative padded to the same length
            kwargs = {"prompt_embeds": embeds[:1]}
            if wants_negative:
                kwargs["negative_prompt_embeds"] = embeds[1:]
            return EncodedPrompt(kwargs, dropped)
        import torch

        left = self._encoders[0](texts)
        right, pooled = self._encoders[1](texts)
        left, right = _same_length(left, right, self._encoders)
        embeds = torch.cat([left, right], dim=-1)
        kwargs = {"prompt_embeds": embeds[:1], "pooled_prompt_embeds": pooled[:1]}
        if wants_negative:
            kwargs.update(negative_prompt_embeds=embeds[1:], negative_pooled_prompt_embeds=pooled[1:])
        return EncodedPrompt(kwargs, dropped)


def _same_length(left, right, encoders):
    """The two SDXL tokenizers can chunk a prompt differently; pad the shorter with empty windows."""
    import torch

    if left.shape[1] == right.shape[1]:
        return left, right
    if left.shape[1] < right.shape[1]:
        pad = encoders[0]([""])
        repeats = (right.shape[1] - left.shape[1]) // pad.shape[1]
        return torch.cat([left, pad.repeat(left.shape[0], repeats, 1)], dim=1), right
    pad, _ = encoders[1]([""])
    repeats = (left.shape[1] - right.shape[1]) // pad.shape[1]
    return left, torch.cat([right, pad.repeat(right.shape[0], repeats, 1)], dim=1)
