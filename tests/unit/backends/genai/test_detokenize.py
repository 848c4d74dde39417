"""Incremental detokenization on a real GenAI tokenizer: the streamed pieces add up to the text."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import genai_models
import openvino_genai as ov_genai
import pytest

from ovserve.backends.genai.detokenize import WINDOW, IncrementalText, KeepSpecial, Pieces, decode_all
from ovserve.backends.genai.handover import encode_prompts

TEXT = "héllo wörld — ünïcode: 日本語, how are you?"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> ov_genai.Tokenizer:
    directory: Path = tmp_path_factory.mktemp("tok")
    genai_models._bpe_tokenizer(directory)
    return ov_genai.Tokenizer(str(directory))


def test_token_by_token_pieces_add_up_and_never_split_a_character(tokenizer: ov_genai.Tokenizer) -> None:
    ids = list(tokenizer.encode(TEXT, add_special_tokens=False).input_ids.data[0])
    assert len(ids) > len(TEXT.encode()) // 2  # byte-level: multi-byte characters span tokens
    text = IncrementalText()
    pieces = [text.feed(tokenizer, [token]) for token in ids]
    assert "".join(pieces) == TEXT
    assert all("\ufffd" not in piece for piece in pieces)
    assert max(len(window) for window in text.windows()) <= WINDOW + 1  # windows stay short


def test_decode_all_batches_windows(tokenizer: ov_genai.Tokenizer) -> None:
    ids = list(tokenizer.encode("abc def", add_special_tokens=False).input_ids.data[0])
    assert decode_all(tokenizer, [[ids[:1], ids], [[]], [ids[1:]]]) == [
        [tokenizer.decode(ids[:1]), tokenizer.decode(ids)],
        [""],
        [tokenizer.decode(ids[1:])],
    ]


def test_plain_tokens_skip_the_detokenizer_and_add_up_to_the_text(tokenizer: ov_genai.Tokenizer) -> None:
    ids = list(tokenizer.encode(TEXT, add_special_tokens=False).input_ids.data[0])
    pieces, text = Pieces(tokenizer), IncrementalText()
    out, taken = [], 0
    for token in ids:
        piece = text.take([token], pieces)
        taken += piece is not None
        out.append(piece if piece is not None else text.feed(tokenizer, [token]))
    assert "".join(out) == TEXT
    assert all("\ufffd" not in piece for piece in out)
    ascii_tokens = [t for t in ids if tokenizer.decode([t]).isascii()]
    assert taken >= len(ascii_tokens) > 0  # the ASCII tokens (the first one too) came without decoding
    assert pieces.text([ids[0]]) is not None and pieces.text([]) == ""


def test_a_first_token_takes_its_text_alone_as_the_windows_would(tokenizer: ov_genai.Tokenizer) -> None:
    """A text's first token (and plain tokens with it) skips the detokenizer once its start is
    learnt, and gives what the window path gives; a start that is empty or ends inside a
    character is not taken."""
    pieces = Pieces(tokenizer)
    for sample in ("hello world", " how are you?", "wörld", "日本語 ok", "? yes"):
        ids = list(tokenizer.encode(sample, add_special_tokens=False).input_ids.data[0])
        for first in (ids[:1], ids[:2]):  # a first read of one token, or of two
            by_windows = IncrementalText()
            expected = by_windows.feed(tokenizer, first)
            taken = IncrementalText().take(first, pieces)
            assert taken is None or taken == expected, (sample, first)
        quick = IncrementalText()
        head = quick.take(ids[:1], pieces)
        rest = [quick.take([t], pieces) for t in ids[1:]]
        if head is not None and None not in rest:
            assert head + "".join(rest) == str(tokenizer.decode([ids])[0])  # type: ignore[arg-type]
    assert pieces.start(ids[0]) is not None
    special = tokenizer.get_eos_token_id()
    assert str(tokenizer.decode([[special]])[0]) == "" and pieces.start(special) is None


def test_special_tokens_keep_their_text_through_keep_special(tokenizer: ov_genai.Tokenizer) -> None:
    """KeepSpecial decodes with the special tokens' text (a parser's markers), by the windows and
    by the plain-token cache alike; the pieces add up to the whole decode."""
    eos = tokenizer.get_eos_token_id()
    ids = list(tokenizer.encode("hello world", add_special_tokens=False).input_ids.data[0])
    answer = [*ids[:2], eos, *ids[2:]]
    keep = KeepSpecial(tokenizer)
    whole = str(tokenizer.decode(answer, skip_special_tokens=False))
    assert keep.decode([answer]) == [whole] and "<eos>" in whole
    by_windows, quick, pieces = IncrementalText(), IncrementalText(), Pieces(keep)
    assert "".join(by_windows.feed(keep, [token]) for token in answer) == whole
    assert pieces.start(eos) == "<eos>"
    taken = [quick.take([token], pieces) for token in answer]
    assert None not in taken and "".join(taken) == whole  # type: ignore[arg-type]
    assert decode_all(keep, [[answer]]) == [[whole]]


def test_prompts_encoded_together_get_the_ids_each_would_get_alone(tokenizer: ov_genai.Tokenizer) -> None:
    """The engine encodes the prompts that came together in one call per kind: each prompt's ids
    (padding dropped) are those of encoding it alone, with and without special tokens."""
    prompts = ["x", TEXT, "", "the quick brown fox " * 9, "x", "日本語"]
    requests = [
        SimpleNamespace(prompt=prompt, special_tokens=index % 2 == 0)
        for index, prompt in enumerate(prompts * 2)
    ]
    calls: list[type] = []

    class Counting:
        def encode(self, text: Any, add_special_tokens: bool) -> Any:
            calls.append(type(text))
            return tokenizer.encode(text, add_special_tokens=add_special_tokens)

    found = encode_prompts(Counting(), requests)  # type: ignore[arg-type]
    assert calls == [list, list]  # one call per kind
    for request in requests:
        alone = tokenizer.encode(request.prompt, add_special_tokens=request.special_tokens).input_ids
        ids = found[id(request)]
        assert ids.get_shape() == alone.get_shape() and ids.data.tolist() == alone.data.tolist()
