"""Text for a character-level language model: a shipped corpus, a vocabulary, blocks.

A language model learns p(next character | the characters before it). The
text becomes a sequence of integer ids (one per character,
:class:`CharVocabulary`); its end is held out to measure what the model
learned (:func:`split_text`); training reads random *blocks* of it
(:func:`random_blocks`): ``block_size`` characters as the input and the same
characters shifted by one as the targets, so each block holds ``block_size``
predictions, from a context of 1 character up to ``block_size``.

:func:`load_shakespeare` gives the corpus that ships with the package: two
plays of Shakespeare, public domain (``SHAKESPEARE_LICENSE.txt`` says where
it comes from).
"""

from __future__ import annotations

import gzip
from importlib import resources

import torch

from minigrad.data.loader import _make_generator
from minigrad.errors import ArgumentError, DTypeError, OutOfRangeError, ShapeError
from minigrad.nn.checks import check_between, check_count

_FILE = "shakespeare.txt.gz"


def load_shakespeare() -> str:
    """Macbeth and Julius Caesar, 219,648 characters of plain ASCII text.

    >>> text = load_shakespeare()
    >>> len(text), text[:7]
    (219648, 'MACBETH')
    """
    source = resources.files("minigrad.data").joinpath(_FILE)
    try:
        with source.open("rb") as raw, gzip.open(raw, "rt", encoding="ascii") as text:
            return text.read()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise FileNotFoundError(
            f"load_shakespeare: could not read minigrad/data/{_FILE}: {error}\n"
            "help: the text ships with the package; reinstall minigrad so that package "
            "data is included"
        ) from error


class CharVocabulary:
    """The characters of a text, each with an id: 0, 1, ... in sorted order.

    >>> vocab = CharVocabulary("hello")
    >>> vocab.chars, len(vocab)
    (['e', 'h', 'l', 'o'], 4)
    >>> vocab.encode("hole").tolist(), vocab.decode([1, 3, 2, 0])
    ([1, 3, 2, 0], 'hole')
    """

    def __init__(self, text: str):
        if not isinstance(text, str) or not text:
            raise ArgumentError(
                "CharVocabulary: expected a non-empty str, got "
                f"{type(text).__name__} {text!r:.40}\nhelp: pass the whole text the model "
                "will read, e.g. CharVocabulary(load_shakespeare())"
            )
        self.chars = sorted(set(text))
        self.ids = {char: i for i, char in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """The ids of the characters of ``text``, as an int64 tensor."""
        try:
            return torch.tensor([self.ids[char] for char in text], dtype=torch.int64)
        except KeyError as missing:
            raise ArgumentError(
                f"CharVocabulary.encode: expected characters of the vocabulary, got "
                f"{missing.args[0]!r}, which the text it was built from does not hold\n"
                "help: build the vocabulary from all the text you will encode"
            ) from None

    def decode(self, ids) -> str:
        """The text of a sequence of ids (a tensor, a list, or a Variable)."""
        ids = getattr(ids, "value", ids)
        if isinstance(ids, torch.Tensor):
            if ids.is_floating_point():
                raise DTypeError(
                    "CharVocabulary.decode: expected integer ids, got dtype "
                    f"{ids.dtype}\nhelp: pick ids first, e.g. logits.argmax(-1)"
                )
            ids = ids.reshape(-1).tolist()
        chars = []
        for i in ids:
            if not 0 <= i < len(self.chars):
                raise OutOfRangeError(
                    f"CharVocabulary.decode: expected ids in [0, {len(self.chars)}), got {i}\n"
                    "help: the ids must come from this vocabulary (its size is the model's "
                    "number of outputs)"
                )
            chars.append(self.chars[i])
        return "".join(chars)

    def __repr__(self) -> str:
        return f"CharVocabulary({len(self.chars)} characters: {''.join(self.chars)!r})"


def split_text(ids: torch.Tensor, validation_fraction: float = 0.1):
    """``(train, validation)``: the sequence cut in two, the last ``validation_fraction`` held out.

    Held out by position, not at random: neighbouring blocks share characters,
    so a random split would let the model see the validation text.
    """
    fraction = check_between(
        "split_text", "validation_fraction", validation_fraction, 0.0, 1.0,
        "the share of the text held out, e.g. 0.1", open_low=True,
    )  # fmt: skip
    ids = _sequence("split_text", ids)
    cut = len(ids) - round(len(ids) * fraction)
    if cut < 2 or len(ids) - cut < 2:
        raise ShapeError(
            f"split_text: expected both parts to hold at least 2 ids, got {cut} and "
            f"{len(ids) - cut} of {len(ids)}\nhelp: a validation_fraction between 0.05 and 0.5 "
            "suits a text of some thousands of characters"
        )
    return ids[:cut], ids[cut:]


def random_blocks(ids: torch.Tensor, block_size: int, batch_size: int, generator=None):
    """``(x, y)``, each (batch_size, block_size): blocks at random places, y = x shifted by one.

    ``generator`` is a ``torch.Generator`` or an int seed (None draws one from
    torch's global generator, so ``torch.manual_seed`` makes it repeatable).
    """
    ids = _sequence("random_blocks", ids)
    block_size = _block_size("random_blocks", ids, block_size)
    batch_size = check_count("random_blocks", "batch_size", batch_size, 1, "e.g. 32 blocks")
    generator = _make_generator(generator)
    starts = torch.randint(0, len(ids) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size + 1)
    windows = ids[starts.unsqueeze(1) + offsets]
    return windows[:, :-1], windows[:, 1:]


def blocks(ids: torch.Tensor, block_size: int):
    """``(x, y)``: the whole sequence cut into consecutive blocks, y = x shifted by one.

    Every id but the first is a target exactly once, except for the end that
    does not fill a block: what an evaluation of the whole held-out text needs.
    """
    ids = _sequence("blocks", ids)
    block_size = _block_size("blocks", ids, block_size)
    count = (len(ids) - 1) // block_size
    x = ids[: count * block_size].reshape(count, block_size)
    y = ids[1 : count * block_size + 1].reshape(count, block_size)
    return x, y


def _sequence(where: str, ids) -> torch.Tensor:
    ids = getattr(ids, "value", ids)
    if not isinstance(ids, torch.Tensor) or ids.ndim != 1 or ids.is_floating_point():
        what = (
            f"a tensor of shape {tuple(ids.shape)} and dtype {ids.dtype}"
            if isinstance(ids, torch.Tensor)
            else type(ids).__name__
        )
        raise ArgumentError(
            f"{where}: expected a 1-D tensor of integer ids, got {what}\n"
            "help: encode the text first: vocab.encode(text)"
        )
    return ids


def _block_size(where: str, ids: torch.Tensor, block_size) -> int:
    block_size = check_count(where, "block_size", block_size, 1, "e.g. 64 characters")
    if block_size >= len(ids):
        raise ShapeError(
            f"{where}: expected a block_size below the sequence's length {len(ids)}, got "
            f"{block_size}\nhelp: a block needs block_size + 1 ids (inputs and targets "
            "shifted by one)"
        )
    return block_size
