"""How a page is read aloud to a child: where the reader breathes, how long each pause is, and
how the voice rises and falls from sentence to sentence. Shared by the offline speakers
(eSpeak NG phrase by phrase, Piper sentence by sentence); the backends only make the sounds.

A page becomes paragraphs → sentences → phrases. Each phrase carries the pause that follows it
and a pitch offset for the reader: a paragraph opens a little higher, a sentence drifts down
phrase by phrase and settles low at its full stop, a question rises at its end, an exclamation
is brighter. Long phrases are split after a connective ending (…고, …는데, …지만) the way a
storyteller takes a breath there.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

COMMA_PAUSE_S = 0.25
BREATH_PAUSE_S = 0.15  # inside a long phrase, after a connective ending
SENTENCE_PAUSE_S = 0.55
PARAGRAPH_PAUSE_S = 0.9
EDGE_PAD_S = 0.03  # kept around each piece when its own leading/trailing silence is trimmed
NEUTRAL_RATE_WPM = 150.0  # the rate knob's "natural pace": neural voices speak at 1.0 there
CHILD_RATE_WPM = 130  # the default for narration: a little slower for children
LONG_PHRASE_CHARS = 22

# a sentence ends at . ! ? … followed by a space (so 3.5 and "..." inside a word stay whole)
_SENTENCE_END = re.compile(r"([.!?…。？！]+[\"'”’」』)]*)\s+")
_PHRASE = re.compile(r"[^,;:，、—]+(?:[,;:，、—]+|$)")
# a breath after these endings when a phrase runs long ("손을 잡고 / 숲길을 걸었어요")
_CONNECTIVE = re.compile(r"(?<=[가-힣])(고|며|면서|는데|은데|지만|아서|어서|해서|니까|으니|자)\s+")


@dataclass(frozen=True)
class Phrase:
    text: str
    pause_after_s: float
    pitch_offset: int  # added to the voice's base pitch (eSpeak's 0–99 scale)
    sentence_end: bool
    question: bool = False


def words_per_minute_factor(rate: float) -> float:
    """The rate knob (words per minute) as a speed factor for voices without a wpm setting."""
    return float(np.clip(float(rate) / NEUTRAL_RATE_WPM, 0.4, 3.0))


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n|\n", text or "") if p.strip()]


def sentences(paragraph: str) -> list[str]:
    parts = _SENTENCE_END.split(paragraph.strip())
    joined = ["".join(parts[i:i + 2]) for i in range(0, len(parts), 2)]  # text + its end mark
    return [s.strip() for s in joined if _has_words(s)]


def phrases(sentence: str, split_long: bool = True) -> list[tuple[str, float]]:
    """(phrase, pause after it) inside one sentence; the last pause is 0 (the sentence decides)."""
    parts = [p.strip() for p in _PHRASE.findall(sentence) if p.strip()]
    out: list[tuple[str, float]] = []
    for part in parts:
        pieces = _breaths(part) if split_long else [part]
        for i, piece in enumerate(pieces):
            last_piece = i == len(pieces) - 1
            out.append((piece, COMMA_PAUSE_S if last_piece else BREATH_PAUSE_S))
    merged: list[tuple[str, float]] = []
    for piece, pause in out:  # punctuation alone ("—", "…") joins the phrase before it
        if merged and not _has_words(piece):
            merged[-1] = (merged[-1][0] + piece, merged[-1][1])
        elif _has_words(piece):
            merged.append((piece, pause))
    if merged:
        merged[-1] = (merged[-1][0], 0.0)
    return merged


def _breaths(phrase: str) -> list[str]:
    if len(phrase) <= LONG_PHRASE_CHARS:
        return [phrase]
    pieces, start = [], 0
    for match in _CONNECTIVE.finditer(phrase):
        if match.end() - start >= 8 and len(phrase) - match.end() >= 8:
            pieces.append(phrase[start:match.end()].strip() + ",")  # a comma: eSpeak's rising "more to come" tune
            start = match.end()
    pieces.append(phrase[start:].strip())
    return pieces


def _has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def plan(text: str, split_phrases: bool = True) -> list[Phrase]:
    """The whole page as phrases with pauses and pitch offsets (see the module docstring)."""
    out: list[Phrase] = []
    paras = paragraphs(text)
    for p_index, paragraph in enumerate(paras):
        sents = sentences(paragraph)
        for s_index, sentence in enumerate(sents):
            question = sentence.rstrip("\"'”’」』) ").endswith(("?", "？"))
            exclaim = sentence.rstrip("\"'”’」』) ").endswith(("!", "！"))
            # a paragraph opens higher; later sentences wander gently around the base pitch
            sentence_offset = 6 if s_index == 0 else (3, -2, 2, -1)[s_index % 4]
            if exclaim:
                sentence_offset += 4
            parts = phrases(sentence, split_phrases) if split_phrases else [(sentence, 0.0)]
            count = len(parts)
            for i, (phrase, pause) in enumerate(parts):
                last = i == count - 1
                declination = round(6 * i / (count - 1)) if count > 1 else 0
                offset = sentence_offset + 3 - declination
                if last:  # (one eSpeak pitch step is about 0.17 semitone)
                    offset += 14 if question else (-1 if exclaim else -4)  # a question lifts, a statement settles
                    end_of_para = s_index == len(sents) - 1
                    pause = PARAGRAPH_PAUSE_S if end_of_para and p_index < len(paras) - 1 else SENTENCE_PAUSE_S
                out.append(Phrase(phrase, pause, offset, last, question and last))
    if out:  # nothing after the last word: the take ends where the voice does
        out[-1] = Phrase(out[-1].text, 0.0, out[-1].pitch_offset, True, out[-1].question)
    return out


def trim_silence(samples: np.ndarray, sr: int, floor_db: float = -45.0) -> np.ndarray:
    """Cut a piece's own leading/trailing silence (keeping ``EDGE_PAD_S``) so the pauses between
    pieces are exactly the planned ones."""
    x = np.asarray(samples, dtype=np.float32)
    if x.size == 0:
        return x
    hop = max(1, int(sr * 0.005))
    n = len(x) // hop
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * hop].astype(np.float64).reshape(n, hop) ** 2, axis=1))
    peak = float(rms.max())
    if peak <= 0:
        return x[:0]
    loud = np.flatnonzero(20 * np.log10(rms / peak + 1e-12) > floor_db)
    pad = int(EDGE_PAD_S * sr)
    return x[max(0, loud[0] * hop - pad): min(len(x), (loud[-1] + 1) * hop + pad)]


def join(pieces: list[np.ndarray], pauses_s: list[float], sr: int) -> np.ndarray:
    """Pieces (already trimmed) with the silence after each one."""
    out: list[np.ndarray] = []
    for piece, pause in zip(pieces, pauses_s):
        out.append(np.asarray(piece, dtype=np.float32))
        if pause > 0:
            out.append(np.zeros(int(round(pause * sr)), dtype=np.float32))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
