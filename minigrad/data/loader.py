"""Batches: TensorDataset, DataLoader and train_test_split.

A DataLoader cuts a data set into mini-batches, in order or shuffled by a
seeded ``torch.Generator``, and yields each batch as a tuple of plain
``torch.Tensor`` s, usually ``(x, y)``::

    loader = DataLoader((x, y), batch_size=64, shuffle=True, generator=0)
    for x, y in loader:
        loss = mg.cross_entropy(model(x), y)

Why plain tensors and not Variables: every minigrad op takes a tensor as an
input that needs no gradient, which is exactly what data is, so ``model(x)``
and ``mg.cross_entropy(logits, y)`` work as they are; and ``y`` stays
directly usable for counting hits (``logits.value.argmax(1) == y``). Wrap
one with ``mg.tensor(x, requires_grad=True)`` when you want its gradient.

Shuffling is reproducible: the same generator seed gives the same batches,
and ``loader.state_dict()`` saves the generator's state so a checkpointed run
resumes with the very batches it would have seen. In data-parallel training
``sampler=DistributedSampler(...)`` gives each process its shard instead.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from minigrad.data.distributed_sampler import check_sampler, check_sampler_state, sampler_state
from minigrad.errors import (
    ArgumentTypeError,
    CheckpointError,
    DeviceError,
    HyperParameterError,
    ShapeError,
)
from minigrad.nn.checks import check_between, check_count, check_flag


def _as_tensor(value, what: str) -> torch.Tensor:
    """A tensor from a tensor, a minigrad Variable or a numpy array."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    inner = getattr(value, "value", None)  # a minigrad Variable
    if isinstance(inner, torch.Tensor):
        return inner.detach()
    if isinstance(value, (list, tuple)):
        hint = (
            "stack the samples first: DataLoader((torch.stack(xs), torch.tensor(ys)))"
            if value and isinstance(value[0], (tuple, list, torch.Tensor))
            else "convert it first: torch.tensor(values) (a list of numbers has no dtype)"
        )
    else:
        hint = "convert the data first, e.g. torch.as_tensor(values)"
    raise ArgumentTypeError(
        f"{what}: expected torch tensors or numpy arrays, got a plain "
        f"{type(value).__name__}\nhelp: {hint}"
    )


class TensorDataset:
    """Tensors that share their first dimension; item i is the tuple of their i-th rows.

    >>> data = TensorDataset(torch.zeros(5, 3), torch.arange(5))
    >>> len(data), [tuple(t.shape) for t in data[1]]
    (5, [(3,), ()])
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ArgumentTypeError(
                "TensorDataset: expected at least one tensor, got none\n"
                "help: e.g. TensorDataset(x, y)"
            )
        self.tensors = tuple(_as_tensor(t, "TensorDataset") for t in tensors)
        sizes = [len(t) if t.dim() > 0 else None for t in self.tensors]
        if None in sizes or len(set(sizes)) != 1:
            shapes = ", ".join(str(tuple(t.shape)) for t in self.tensors)
            raise ShapeError(
                f"TensorDataset: every tensor needs the same first dimension (one row per "
                f"sample), got shapes {shapes}\n"
                "help: x and y must hold the same number of samples, e.g. x (N, 64) and y (N,)"
            )

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def to(self, device) -> TensorDataset:
        """The same data on another device."""
        return TensorDataset(*(t.to(device) for t in self.tensors))


def _make_generator(generator) -> torch.Generator:
    """A CPU generator from a seed or an existing generator; from the global RNG if None.

    Drawing the seed from torch's global generator means ``torch.manual_seed``
    (or ``mg.init_random``) makes an unseeded loader reproducible too.
    """
    if isinstance(generator, torch.Generator):
        return generator
    if generator is None:
        generator = int(torch.randint(0, 2**62, (1,)).item())
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        seed = check_count("DataLoader", "generator", generator, 0, "a seed is a whole number >= 0")
        return torch.Generator().manual_seed(seed)
    raise ArgumentTypeError(
        f"generator must be a torch.Generator, an int seed or None, got "
        f"{type(generator).__name__}\nhelp: e.g. DataLoader(data, 64, shuffle=True, generator=0)"
    )


def _as_device(device) -> torch.device | None:
    if device is None:
        return None
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise DeviceError(
            f"DataLoader: device must be a torch device such as 'cpu' or 'cuda', got "
            f"{device!r} ({str(error).splitlines()[0]})\nhelp: e.g. device='cuda' or "
            "device=torch.device('cpu')"
        ) from None


class DataLoader:
    """Mini-batches of a data set, as tuples of tensors (see the module docstring).

    ``data`` is a tuple of tensors ``(x, y)`` (or numpy arrays), a
    :class:`TensorDataset`, or any object with ``__len__`` and ``__getitem__``
    returning tuples of tensors (those are stacked into batches).

    ``shuffle``: a new random order every epoch, drawn from ``generator`` (a
    ``torch.Generator`` or an int seed). ``drop_last``: leave out a last batch
    smaller than ``batch_size``. ``device``: move each batch there (for data
    kept on the CPU and a model on the GPU; data already on the GPU stays put).
    ``sampler``: the indices to read, in order, e.g. a :class:`DistributedSampler`.
    """

    def __init__(
        self,
        data,
        batch_size: int = 32,
        shuffle: bool = False,
        generator=None,
        drop_last: bool = False,
        device=None,
        sampler=None,
    ):
        hint = "e.g. DataLoader((x, y), batch_size=64)"
        batch_size = check_count("DataLoader", "batch_size", batch_size, 1, hint)
        shuffle = check_flag("DataLoader", "shuffle", shuffle, "shuffle=True for a new order")
        drop_last = check_flag("DataLoader", "drop_last", drop_last, "True drops a short batch")
        if isinstance(data, (tuple, list)):
            data = TensorDataset(*data)
        if isinstance(data, (str, bytes)) or not (
            hasattr(data, "__len__") and hasattr(data, "__getitem__")
        ):
            raise ArgumentTypeError(
                f"DataLoader: expected (x, y) tensors or a data set with __len__ and "
                f"__getitem__, got {type(data).__name__}\n"
                "help: e.g. DataLoader((x, y), batch_size=64)"
            )
        self.dataset = data
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.device = _as_device(device)
        self.generator = _make_generator(generator) if shuffle else None
        self.sampler = check_sampler(sampler, shuffle)

    def __len__(self) -> int:
        """The number of batches in one epoch."""
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        full, rest = divmod(n, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self):
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        if self.sampler is not None:
            order = torch.as_tensor(list(self.sampler), dtype=torch.int64)
        stop = n - n % self.batch_size if self.drop_last else n
        if isinstance(self.dataset, TensorDataset):
            yield from self._tensor_batches(order, stop)
        else:
            yield from self._stacked_batches(order, stop)

    def _tensor_batches(self, order, stop: int):
        """Fast path: reorder each tensor once per epoch, then every batch is a view."""
        tensors = self.dataset.tensors
        if order is not None:
            tensors = [t[order.to(t.device)] for t in tensors]
        if self.device is not None:
            tensors = [t.to(self.device) for t in tensors]
        for start in range(0, stop, self.batch_size):
            yield tuple(t[start : start + self.batch_size] for t in tensors)

    def _stacked_batches(self, order, stop: int):
        """Any data set: fetch samples one by one and stack them into batches."""
        indices = order.tolist() if order is not None else range(stop)
        for start in range(0, stop, self.batch_size):
            samples = [self.dataset[i] for i in indices[start : start + self.batch_size]]
            if not all(isinstance(sample, (tuple, list)) for sample in samples):
                raise ArgumentTypeError(
                    f"DataLoader: the data set's items must be tuples such as (x, y), got "
                    f"{type(samples[0]).__name__}\nhelp: return (x, y) from __getitem__"
                )
            batch = tuple(
                torch.stack([torch.as_tensor(s[k]) for s in samples])
                for k in range(len(samples[0]))
            )
            if self.device is not None:
                batch = tuple(t.to(self.device) for t in batch)
            yield batch

    # -- saving the shuffling state (for checkpoints) -----------------------
    def state_dict(self) -> dict:
        """The generator's state (a uint8 tensor), so a resumed run sees the same batches."""
        state = {"generator": self.generator.get_state() if self.generator is not None else None}
        return {**state, **sampler_state(self.sampler)}  # and the sampler's, if it has one

    def check_state_dict(self, state: dict):
        """Check a saved shuffling state and return the function that restores it."""
        if not isinstance(state, dict) or set(state) - {"sampler"} != {"generator"}:
            raise CheckpointError(
                f"DataLoader.load_state_dict: expected {{'generator': ...}}, got {state!r:.60}\n"
                "help: pass what loader.state_dict() returned"
            )
        load_sampler = check_sampler_state(self.sampler, state.get("sampler"))
        saved = state["generator"]
        if (saved is None) != (self.generator is None):
            raise CheckpointError(
                "DataLoader.load_state_dict: the saved loader "
                f"{'was not' if saved is None else 'was'} shuffled, this one "
                f"{'is' if saved is None else 'is not'}, so its batches would differ\n"
                "help: build the loader with the same shuffle setting as when it was saved"
            )
        if saved is not None:
            try:
                torch.Generator().set_state(saved)  # a scratch generator: does the state fit?
            except (TypeError, RuntimeError) as error:
                raise CheckpointError(
                    f"DataLoader.load_state_dict: the saved generator state is damaged "
                    f"({str(error).splitlines()[0]})\nhelp: use an earlier checkpoint"
                ) from None

        def load() -> None:
            if saved is not None:
                self.generator.set_state(saved)
            load_sampler()

        return load

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved (checked first)."""
        self.check_state_dict(state)()

    def __repr__(self) -> str:
        return (
            f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, {len(self)} batches"
            + (f", {self.sampler!r})" if self.sampler is not None else ")")
        )


def train_test_split(
    x,
    y,
    test_fraction: float = 0.2,
    generator=None,
    seed: int | None = None,
):
    """Shuffle ``x`` and ``y`` together and split off a test set.

    Returns ``x_train, x_test, y_train, y_test`` (scikit-learn's order). The
    test set has ``round(test_fraction * N)`` samples. ``generator`` (a
    ``torch.Generator``) or ``seed`` fixes the shuffle; with neither, torch's
    global generator is used.

    >>> x_train, x_test, y_train, y_test = train_test_split(
    ...     torch.arange(10.0), torch.arange(10), test_fraction=0.3, seed=0)
    >>> len(x_train), len(x_test), sorted((x_train.tolist() + x_test.tolist())) == list(range(10))
    (7, 3, True)
    """
    x = _as_tensor(x, "train_test_split")
    y = _as_tensor(y, "train_test_split")
    if len(x) != len(y):
        raise ShapeError(
            f"train_test_split: x has {len(x)} samples but y has {len(y)}\n"
            "help: pass the inputs and labels of the same samples"
        )
    hint = "e.g. test_fraction=0.2 keeps a fifth of the data for testing"
    test_fraction = check_between(
        "train_test_split", "test_fraction", test_fraction, 0.0, 1.0, hint, open_low=True
    )
    n_test = int(round(test_fraction * len(x)))
    if n_test == 0 or n_test == len(x):
        raise HyperParameterError(
            f"train_test_split: {test_fraction} of {len(x)} samples leaves an empty "
            "training or test set\nhelp: use more data or a test_fraction further from 0 and 1"
        )
    if generator is None and seed is not None:
        seed = check_count("train_test_split", "seed", seed, 0, "a whole number, e.g. seed=0")
        generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=generator).to(x.device)
    test, train = order[:n_test], order[n_test:]
    return x[train], x[test], y[train.to(y.device)], y[test.to(y.device)]
