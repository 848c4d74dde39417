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

That call costs as much as a step of a small model, so most tokens skip it: :class:`Pieces`
learns, once per token id, whether the token's text is the same whatever comes before and
after it (most are; byte pieces of a multi-byte character and tokens whose text depends on
their neighbours are not), and :meth:`IncrementalText.take` appends such tokens' texts without
decoding; a text's first token takes its text alone (also learnt once per id). A token that is
not plain takes the window path above.
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

    def take(self, new_ids: Sequence[int], pieces: Pieces) -> str | None:
        """The text of ``new_ids`` without decoding, when every one of them is plain and nothing
        is held back (None otherwise: use the windows). The first token of a text has no left
        neighbour: it takes its text as a text's start (:meth:`Pieces.start`), what the windows
        would give it alone."""
        if not new_ids or self.read != len(self.ids):
            return None
        if self.ids:
            text = pieces.text(new_ids)
        else:
            head, rest = pieces.start(new_ids[0]), pieces.text(new_ids[1:])
            text = head + rest if head is not None and rest is not None else None
        if text is None:
            return None
        start = len(self.ids)
        self.ids.extend(new_ids)
        if len(self.ids) - self.prefix > WINDOW:
            self.prefix = start  # everything before ``start`` was released: a clean boundary
        self.read, self.before = len(self.ids), None
        return text

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


class Pieces:
    """Each token id's text when it does not depend on its neighbours (learnt once per id).

    A token is *plain* when its text between two anchor tokens ``A`` and ``B`` is the same
    (``decode([A, t])`` and ``decode([B, t])`` add the same text to ``decode([A])`` and
    ``decode([B])``), the token after it changes nothing (``decode([A, t, B])`` is
    ``decode([A, t])`` plus ``B``'s text), and it holds no replacement character (a byte of
    a multi-byte character). The anchors are the single tokens of two letters; a tokenizer
    that has none gets no plain tokens (every token takes the windows).
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer  # what decodes this text: GenAI's tokenizer, or KeepSpecial over it
        self._texts: dict[int, str | None] = {}
        self._starts: dict[int, str | None] = {}
        self._anchors = _anchors(tokenizer)

    def start(self, token: int) -> str | None:
        """``token``'s text at the start of a text (``decode([token])``, learnt once per id), or
        None when that is empty (a special token: the next token's start would change) or ends
        inside a character (the windows hold it back)."""
        starts = self._starts
        if token not in starts:
            text = str(self.tokenizer.decode([[token]])[0])
            starts[token] = text if text and _REPLACEMENT not in text else None
        return starts[token]

    def text(self, ids: Sequence[int]) -> str | None:
        """The joined text of ``ids`` if every one is plain (learning the unknown ones), else None."""
        texts = self._texts
        unknown = [token for token in ids if token not in texts]
        if unknown:
            self.learn(unknown)
        parts = [texts[token] for token in ids]
        return None if None in parts else "".join(parts)  # type: ignore[arg-type]

    def known(self, token: int) -> str | None:
        """``token``'s text if it was learnt plain (None: not plain, or not learnt yet)."""
        return self._texts.get(token)

    def learn(self, ids: Sequence[int]) -> None:
        """Find out (in one detokenizer call) which of ``ids`` are plain."""
        fresh = list(dict.fromkeys(token for token in ids if token not in self._texts))
        if not fresh:
            return
        if self._anchors is None:
            self._texts.update(dict.fromkeys(fresh))
            return
        a, b = self._anchors
        rows = [[a], [b], [a, b]]
        for token in fresh:
            rows += [[a, token], [b, token], [a, token, b]]
        decoded = [str(text) for text in self.tokenizer.decode(rows)]
        text_a, text_b, text_ab = decoded[:3]
        after_a = text_ab[len(text_a) :] if text_ab.startswith(text_a) else None
        for i, token in enumerate(fresh):
            with_a, with_b, around = decoded[3 + 3 * i : 6 + 3 * i]
            piece = with_a[len(text_a) :]
            plain = (
                after_a is not None
                and with_a.startswith(text_a)
                and with_b == text_b + piece
                and around == with_a + after_a
                and _REPLACEMENT not in piece
            )
            self._texts[token] = piece if plain else None


class KeepSpecial:
    """A tokenizer whose ``decode`` keeps the text of special tokens (GenAI's drops it): the
    answer of a tool parser whose markers are special tokens (``[TOOL_CALLS]``, Harmony's
    ``<|channel|>``). :class:`Pieces`, :func:`decode_all` and :class:`IncrementalText` take it
    where they take the tokenizer."""

    __slots__ = ("tokenizer",)

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def decode(self, rows: Sequence[Sequence[int]]) -> list[str]:
        """Rows of one length per call: GenAI pads a batch's shorter rows with the pad token,
        which only the skipping of special tokens takes out again."""
        texts = [""] * len(rows)
        by_length: dict[int, list[int]] = {}
        for index, row in enumerate(rows):
            by_length.setdefault(len(row), []).append(index)
        for indices in by_length.values():
            decoded = self.tokenizer.decode([rows[i] for i in indices], skip_special_tokens=False)
            for index, text in zip(indices, decoded, strict=True):
                texts[index] = str(text)
        return texts

    def encode(self, text: str, add_special_tokens: bool = True) -> Any:
        return self.tokenizer.encode(text, add_special_tokens=add_special_tokens)


class Decodings:
    """A tokenizer's two ways to text, each with its :class:`Pieces` (one thread uses them):
    GenAI's, where special tokens have no text, and :class:`KeepSpecial`'s, made on first use."""

    __slots__ = ("_special", "plain")

    def __init__(self, tokenizer: Any) -> None:
        self.plain = Pieces(tokenizer)
        self._special: Pieces | None = None

    def of(self, keep_special: frozenset[int] | None) -> Pieces:
        """The pieces for a text that keeps special tokens' text (a set of stop ids) or not (None)."""
        if keep_special is None:
            return self.plain
        if self._special is None:
            self._special = Pieces(KeepSpecial(self.plain.tokenizer))
        return self._special


def text_ids(ids: list[int], stops: frozenset[int] | None) -> list[int]:
    """The ids that make text: all of them, but ``stops`` where special tokens keep their text
    (GenAI's detokenizer gives EOS no text; KeepSpecial would)."""
    return ids if not stops else [token for token in ids if token not in stops]


def _anchors(tokenizer: Any) -> tuple[int, int] | None:
    """Two tokens that are one letter each ("a", "b"), or None when the tokenizer has no such tokens."""
    found = []
    for letter in ("a", "b"):
        try:
            ids = [
                int(token) for token in tokenizer.encode(letter, add_special_tokens=False).input_ids.data[0]
            ]
        except (AttributeError, IndexError, TypeError, ValueError, RuntimeError):
            return None
        if len(ids) != 1:
            return None
        found.append(ids[0])
    return found[0], found[1]
