"""DistributedSampler: disjoint, covering, deterministic shards; torch's sampler is the oracle."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.data import DistributedSampler as TorchSampler

import minigrad as mg
from minigrad.data import DataLoader, DistributedSampler

pytestmark = pytest.mark.timeout(60)


def shards(n: int, world_size: int, **kwargs) -> list[list[int]]:
    return [list(DistributedSampler(n, world_size, rank, **kwargs)) for rank in range(world_size)]


@pytest.mark.parametrize(
    "n, world_size, shuffle, drop_last, epoch",
    [
        (n, w, shuffle, drop_last, epoch)
        for n, w in [(10, 2), (11, 2), (10, 3), (7, 4), (3, 5), (1437, 2), (100, 8)]
        for shuffle, drop_last in itertools.product((True, False), repeat=2)
        for epoch in (0, 3)
    ],
)
def test_the_same_indices_as_torchs_distributed_sampler(n, world_size, shuffle, drop_last, epoch):
    for rank in range(world_size):
        mine = DistributedSampler(n, world_size, rank, shuffle, seed=17, drop_last=drop_last)
        theirs = TorchSampler(range(n), world_size, rank, shuffle, seed=17, drop_last=drop_last)
        mine.set_epoch(epoch)
        theirs.set_epoch(epoch)
        assert list(mine) == list(theirs)
        assert len(mine) == len(theirs)


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_shards_are_disjoint_and_cover_the_data_set(world_size):
    parts = shards(12, world_size, seed=5)
    flat = [i for part in parts for i in part]
    assert sorted(flat) == list(range(12))  # covering, and no index twice
    assert len({len(part) for part in parts}) == 1


def test_the_order_is_deterministic_and_set_epoch_reshuffles():
    first, again = DistributedSampler(50, 2, 0, seed=3), DistributedSampler(50, 2, 0, seed=3)
    assert list(first) == list(again)
    epoch0 = list(first)
    first.set_epoch(1)
    assert list(first) != epoch0
    first.set_epoch(0)
    assert list(first) == epoch0  # an epoch's order is a function of seed + epoch alone
    other_seed = DistributedSampler(50, 2, 0, seed=4)
    assert list(other_seed) != epoch0
    unshuffled = DistributedSampler(50, 2, 0, shuffle=False)
    unshuffled.set_epoch(5)
    assert list(unshuffled) == list(range(0, 50, 2))


def test_the_epoch_order_does_not_depend_on_the_number_of_processes():
    orders = []
    for world_size in (1, 2, 5):
        sampler = DistributedSampler(100, world_size, 0, seed=9)
        sampler.set_epoch(4)
        orders.append(sampler.epoch_order().tolist())
    assert orders[0] == orders[1] == orders[2]


def test_the_ranks_batches_together_are_one_process_batch_of_the_global_size():
    x = torch.arange(40.0).reshape(40, 1)
    y = torch.arange(40)
    one = DataLoader((x, y), 8, sampler=DistributedSampler(40, 1, 0, seed=2))
    ranks = [DataLoader((x, y), 4, sampler=DistributedSampler(40, 2, r, seed=2)) for r in (0, 1)]
    for epoch in (0, 1):
        for sampler in [one.sampler] + [loader.sampler for loader in ranks]:
            sampler.set_epoch(epoch)
        for whole, *parts in zip(one, *ranks):
            assert sorted(torch.cat([p[1] for p in parts]).tolist()) == sorted(whole[1].tolist())
            assert torch.equal(parts[0][0][:, 0].long(), parts[0][1])  # x and y stay paired


def test_an_uneven_data_set_is_padded_with_the_first_samples_of_the_order():
    parts = shards(11, 4, seed=1)
    assert [len(p) for p in parts] == [3, 3, 3, 3]  # ceil(11 / 4) each
    flat = [i for p in parts for i in p]
    assert sorted(set(flat)) == list(range(11))  # every sample is read
    order = DistributedSampler(11, 4, 0, seed=1).epoch_order().tolist()
    assert order[11:] == order[:1]  # 12 - 11 = 1 sample read twice: the order's first
    assert len(flat) - len(set(flat)) == 1


def test_drop_last_leaves_out_the_end_of_the_order():
    parts = shards(11, 4, seed=1, drop_last=True)
    assert [len(p) for p in parts] == [2, 2, 2, 2]  # floor(11 / 4) each
    order = DistributedSampler(11, 4, 0, seed=1, drop_last=True).epoch_order().tolist()
    flat = [i for p in parts for i in p]
    assert sorted(flat) == sorted(order) and len(set(flat)) == 8
    full = torch.randperm(11, generator=torch.Generator().manual_seed(1)).tolist()
    assert set(range(11)) - set(flat) == set(full[8:])  # the last 11 mod 4 = 3 of the order


def test_more_processes_than_samples_still_gives_each_the_same_count():
    parts = shards(3, 5, shuffle=False)
    assert parts == [[0], [1], [2], [0], [1]]


def test_the_loader_reads_the_samplers_indices_in_batches():
    x = torch.arange(10.0) * 10
    y = torch.arange(10)
    sampler = DistributedSampler(10, 3, 1, seed=4)
    loader = DataLoader((x, y), 2, sampler=sampler)
    batches = list(loader)
    assert len(loader) == len(batches) == 2  # ceil(10 / 3) = 4 samples, 2 batches
    assert torch.cat([b[1] for b in batches]).tolist() == list(sampler)
    assert all(torch.equal(bx, by * 10.0) for bx, by in batches)

    class Samples:  # any data set with __getitem__ goes through the stacking path
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return x[i], y[i]

    stacked = DataLoader(Samples(), 2, sampler=sampler)
    assert [b[1].tolist() for b in stacked] == [b[1].tolist() for b in batches]


def test_a_loaders_state_moves_between_numbers_of_processes():
    x, y = torch.randn(20, 3), torch.arange(20)
    saved = DataLoader((x, y), 4, sampler=DistributedSampler(20, 2, 1, seed=6))
    saved.sampler.set_epoch(3)
    state = saved.state_dict()
    assert state == {
        "generator": None,
        "sampler": {"seed": 6, "epoch": 3, "shuffle": True, "drop_last": False},
    }
    alone = DataLoader((x, y), 8, sampler=DistributedSampler(20, 1, 0, seed=6))
    alone.load_state_dict(state)
    assert alone.sampler.epoch == 3

    other_seed = DataLoader((x, y), 8, sampler=DistributedSampler(20, 1, 0, seed=7))
    with pytest.raises(mg.CheckpointError, match="seed=6.*seed=7"):
        other_seed.load_state_dict(state)
    assert other_seed.sampler.epoch == 0  # a refused load changes nothing
    shuffled = DataLoader((x, y), 8, shuffle=True, generator=0)
    with pytest.raises(mg.CheckpointError, match="DistributedSampler"):
        shuffled.load_state_dict(state)
    with pytest.raises(mg.CheckpointError, match="DistributedSampler"):
        alone.load_state_dict(shuffled.state_dict())


def test_bad_samplers_and_arguments_are_refused_in_words():
    x, y = torch.randn(6, 2), torch.arange(6)
    with pytest.raises(mg.HyperParameterError, match="shuffle=True and a sampler"):
        DataLoader((x, y), 2, shuffle=True, sampler=DistributedSampler(6))
    with pytest.raises(mg.ArgumentTypeError, match="sampler must give indices"):
        DataLoader((x, y), 2, sampler=3)
    with pytest.raises(mg.HyperParameterError, match="rank 2 does not exist among 2"):
        DistributedSampler(6, num_replicas=2, rank=2)
    with pytest.raises(mg.HyperParameterError, match="seed"):
        DistributedSampler(6, seed=-1)
    with pytest.raises(mg.ArgumentTypeError, match="number of samples"):
        DistributedSampler(object())
    sampler = DistributedSampler(6)
    with pytest.raises(mg.HyperParameterError, match="epoch"):
        sampler.set_epoch(-1)
    with pytest.raises(mg.CheckpointError, match="expected a dict"):
        sampler.load_state_dict({"seed": 0})
    assert (sampler.num_replicas, sampler.rank) == (1, 0)  # outside a group: one process


def test_a_tuple_of_tensors_counts_its_samples():
    assert len(DistributedSampler((torch.zeros(9, 2), torch.zeros(9)), 2, 0)) == 5
