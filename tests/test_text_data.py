"""The shipped corpus and the character-level loader: vocabulary, split, blocks."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
import torch

import minigrad as mg
from minigrad.data import CharVocabulary, blocks, load_shakespeare, random_blocks, split_text

DATA = Path(mg.data.__file__).parent


def test_the_corpus_ships_with_its_licence_note_and_is_what_the_note_says():
    text = load_shakespeare()
    note = (DATA / "SHAKESPEARE_LICENSE.txt").read_text()
    assert "public domain" in note and "Macbeth" in note and "Julius Caesar" in note
    assert f"{len(text):,} characters" in note and f"{len(set(text))} distinct" in note
    assert text.startswith("MACBETH") and "JULIUS CAESAR" in text
    assert text.isascii()
    assert (DATA / "shakespeare.txt.gz").stat().st_size < 300_000  # a few hundred KB at most
    # the two plays are the package's files unchanged, joined by four empty lines
    start = text.index("JULIUS CAESAR")
    macbeth, caesar = text[: start - 4], text[start:-1]
    assert text[start - 4 : start] == "\n" * 4 and text.endswith("THE END\n")
    for play in (macbeth, caesar):
        assert hashlib.sha256(play.encode()).hexdigest() in note
    assert gzip.decompress((DATA / "shakespeare.txt.gz").read_bytes()).decode() == text


def test_the_package_data_pattern_ships_the_corpus():
    pyproject = (DATA.parents[1] / "pyproject.toml").read_text()
    assert '"data/*.txt.gz"' in pyproject


def test_the_vocabulary_round_trips_the_whole_text():
    text = load_shakespeare()
    vocab = CharVocabulary(text)
    assert len(vocab) == len(set(text)) and vocab.chars == sorted(vocab.chars)
    ids = vocab.encode(text)
    assert ids.dtype == torch.int64 and ids.shape == (len(text),)
    assert int(ids.min()) == 0 and int(ids.max()) == len(vocab) - 1
    assert vocab.decode(ids) == text
    assert vocab.decode(mg.tensor(ids[:5])) == text[:5]


def test_the_vocabulary_refuses_what_it_cannot_encode_or_decode():
    vocab = CharVocabulary("abc")
    with pytest.raises(mg.ArgumentError, match="'z'"):
        vocab.encode("abz")
    with pytest.raises(mg.OutOfRangeError, match=r"\[0, 3\)"):
        vocab.decode([0, 3])
    with pytest.raises(mg.DTypeError, match="integer ids"):
        vocab.decode(torch.zeros(2))
    with pytest.raises(mg.ArgumentError, match="non-empty str"):
        CharVocabulary("")


def test_split_holds_out_the_end():
    ids = torch.arange(100)
    train, validation = split_text(ids, 0.1)
    assert train.tolist() == list(range(90)) and validation.tolist() == list(range(90, 100))
    with pytest.raises(mg.HyperParameterError, match="validation_fraction"):
        split_text(ids, 0.0)
    with pytest.raises(mg.ShapeError, match="at least 2"):
        split_text(torch.arange(5), 0.9)
    with pytest.raises(mg.ArgumentError, match="1-D tensor of integer ids"):
        split_text(torch.zeros(10), 0.1)


def test_random_blocks_are_windows_of_the_text_shifted_by_one():
    ids = torch.arange(1000) * 7 % 1009  # every id tells where it was
    x, y = random_blocks(ids, block_size=16, batch_size=8, generator=3)
    assert x.shape == y.shape == (8, 16) and x.dtype == torch.int64
    position = {int(v): i for i, v in enumerate(ids)}
    for row_x, row_y in zip(x, y):
        start = position[int(row_x[0])]
        assert row_x.tolist() == ids[start : start + 16].tolist()
        assert row_y.tolist() == ids[start + 1 : start + 17].tolist()
    again, _ = random_blocks(ids, 16, 8, generator=3)
    assert torch.equal(x, again)  # one seed, one batch
    starts = {position[int(r[0])] for _ in range(50) for r in random_blocks(ids, 16, 8)[0]}
    assert max(starts) > 900 and min(starts) < 100  # from all over the text
    assert max(starts) <= 1000 - 17


def test_blocks_cover_the_sequence_once():
    ids = torch.arange(103)
    x, y = blocks(ids, 10)
    assert x.shape == (10, 10)
    assert x.reshape(-1).tolist() == list(range(100))
    assert y.reshape(-1).tolist() == list(range(1, 101))
    with pytest.raises(mg.ShapeError, match="block_size below"):
        blocks(torch.arange(10), 10)
    with pytest.raises(mg.HyperParameterError, match="block_size"):
        random_blocks(ids, 0, 4)
