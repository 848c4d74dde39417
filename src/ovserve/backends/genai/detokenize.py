"""Incremental detokenization: a new token costs the decoding of a few tokens, not of the whole text.

A choice keeps its token ids and two offsets (as vLLM and TGI do): ``prefix`` marks where the
window of tokens to decode starts (a few tokens back, so a tokenizer that reads a token
differently after another one, such as SentencePiece's leading space, sees its context) and
``read`` the end of what was already sent. The new text is what ``ids[prefix:]`` decodes to
beyond ``ids[prefix:read]``; it is held back while it ends inside a UTF-8 sequence (U+FFFD)
unless the choice is finished. The decoding of ``ids[prefix:read]`` is kept from the step
before, so most steps decode one window per choice; ``prefix`` moves up once the window
passes :data:`WINDOW` tokens (that step decodes two). GenAI's detokenizer is an OpenVINO
model: :func:`decode_all` decodes the windows of every choice of a step in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_REPLACEMENT = "\ufffd"
#: the longest window (tokens) before ``prefix`` moves up
WINDOW = 8


class IncrementalText:
    """One choice's text as its tokens arrive (used by one thread)."""

    __slots__ = ("before", "ids", "prefix", "read")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.prefix = 0
        self.read = 0
        self.before: str | None = ""  # the decoding of ids[prefix:read], when known

    def windows(self) -> list[list[int]]:
        """The token windows to decode now: ``ids[prefix:]``, after ``ids[prefix:read]`` if not known."""
        after = self.ids[self.prefix :]
        return [after] if self.before is not None else [self.ids[self.prefix : self.read], after]

    def advance(self, decoded: Sequence[str], final: bool) -> str:
        """The new text, given :meth:`windows` decoded; moves the offsets when text is released."""
        before = self.before if self.before is not None else decoded[0]
        after = decoded[-1]
        if len(after) <= len(before) or (after.endswith(_REPLACEMENT) and not final):
            self.before = before
            return ""
        if len(self.ids) - self.prefix > WINDOW:
            self.prefix, self.read, self.before = self.read, len(self.ids), None
        else:
            self.read, self.before = len(self.ids), after
        return after[len(before) :]

    def feed(self, tokenizer: Any, new_ids: Sequence[int], *, final: bool = False) -> str:
        """Add ``new_ids`` and return the text they release (one decode call)."""
        self.ids.extend(new_ids)
        return self.advance(decode_all(tokenizer, [self.windows()])[0], final)


def decode_all(tokenizer: Any, windows: Sequence[list[list[int]]]) -> list[list[str]]:
    """Decode every choice's windows in one detokenizer call (empty windows skip it)."""
    flat = [window for group in windows for window in group]
    texts: list[str] = [""] * len(flat)
    wanted = [i for i, window in enumerate(flat) if window]
    if wanted:
        for i, text in zip(wanted, tokenizer.decode([flat[i] for i in wanted]), strict=True):
            texts[i] = str(text)
    result, at = [], 0
    for group in windows:
        result.append(texts[at : at + len(group)])
        at += len(group)
    return result
