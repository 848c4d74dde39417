"""Incremental detokenization: each new token costs the decoding of a few tokens, not of the whole text.

A choice keeps its token ids and two offsets (as vLLM and TGI do): ``prefix`` marks where the
window of tokens to decode starts (a few tokens back, so a tokenizer that reads a token
differently after another one, such as SentencePiece's leading space, sees its context) and
``read`` the end of what was already sent. The new text is what ``ids[prefix:]`` decodes to
beyond ``ids[prefix:read]``; it is held back while it ends inside a UTF-8 sequence (U+FFFD)
unless the choice is finished. GenAI's detokenizer is an OpenVINO model: :func:`decode_all`
decodes the windows of every choice of a step in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_REPLACEMENT = "\ufffd"


class IncrementalText:
    """One choice's text as its tokens arrive (used by one thread)."""

    __slots__ = ("ids", "prefix", "read")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.prefix = 0
        self.read = 0

    def windows(self) -> tuple[list[int], list[int]]:
        """The two token windows to decode: what was sent's tail, and the same with the new tokens."""
        return self.ids[self.prefix : self.read], self.ids[self.prefix :]

    def advance(self, before: str, after: str, final: bool) -> str:
        """The new text, given the two windows decoded; moves the offsets when text is released."""
        if len(after) <= len(before) or (after.endswith(_REPLACEMENT) and not final):
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return after[len(before) :]

    def feed(self, tokenizer: Any, new_ids: Sequence[int], *, final: bool = False) -> str:
        """Add ``new_ids`` and return the text they release (one decode call)."""
        self.ids.extend(new_ids)
        before, after = decode_all(tokenizer, [self.windows()])[0]
        return self.advance(before, after, final)


def decode_all(tokenizer: Any, windows: Sequence[tuple[list[int], list[int]]]) -> list[tuple[str, str]]:
    """Decode many window pairs in one detokenizer call (empty windows skip it)."""
    flat = [window for pair in windows for window in pair]
    texts: list[str] = [""] * len(flat)
    wanted = [i for i, window in enumerate(flat) if window]
    if wanted:
        decoded = tokenizer.decode([flat[i] for i in wanted])
        for i, text in zip(wanted, decoded, strict=True):
            texts[i] = str(text)
    return [(texts[2 * k], texts[2 * k + 1]) for k in range(len(windows))]
