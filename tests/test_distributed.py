"""Data-parallel training: W processes on shards of a batch train as one process on the batch.

The processes are real: ``mg.distributed.spawn`` starts them (gloo on the CPU)
and runs functions from ``tests/distributed_workers.py`` in them; the test
process computes the one-process references with the same builders. Every
launch has a hard time limit (the launcher's own, and pytest-timeout's), so a
broken collective fails the test instead of hanging CI.

torch is the oracle for the gradients of the global batch (torch.autograd);
minigrad's one-process training is the reference that the processes must
meet within 1e-12 in float64.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

import minigrad as mg
from tests import distributed_workers as workers

pytestmark = pytest.mark.timeout(150)

TOLERANCE = 1e-12  # float64: the processes add their shards' gradients in another order


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


# -- one process: the maths of averaging (no processes needed) ----------------------------


def test_the_mean_of_the_shards_gradients_is_the_global_batchs_gradient():
    model = workers.mlp()
    x, y = workers.global_batches(steps=1, batch=12)[0]
    shard_grads = []
    for k in range(3):
        model.zero_grad()
        mg.cross_entropy(model(workers.shard(x, k, 3)), workers.shard(y, k, 3)).backward()
        shard_grads.append([p.grad.clone() for p in model.parameters()])

    # The oracle: torch.autograd on the same weights and the whole batch.
    weights = [p.value.clone().requires_grad_(True) for p in model.parameters()]
    w1, b1, w2, b2 = weights
    logits = torch.tanh(x @ w1.T + b1) @ w2.T + b2
    expected = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y), weights)

    for i, want in enumerate(expected):
        mean = sum(grads[i] for grads in shard_grads) / 3
        total = sum(grads[i] for grads in shard_grads)
        torch.testing.assert_close(mean, want, atol=1e-14, rtol=1e-12)
        assert not torch.allclose(total, want), "the sum of the shards' gradients is 3x too large"


def test_outside_a_group_averaging_changes_nothing_and_ranks_are_those_of_one_process():
    model = workers.mlp()
    x, y = workers.global_batches(steps=1)[0]
    mg.cross_entropy(model(x), y).backward()
    before = [p.grad.clone() for p in model.parameters()]
    mg.distributed.average_gradients(model)
    assert all(torch.equal(a, p.grad) for a, p in zip(before, model.parameters()))
    assert (mg.distributed.get_rank(), mg.distributed.get_world_size()) == (0, 1)
    assert mg.distributed.is_main_process() and not mg.distributed.is_initialized()


def test_buckets_respect_the_cap_and_run_from_the_last_parameter():
    model = workers.mlp()  # 12*6 + 12 + 4*12 + 4 float64 values
    params = list(model.parameters())
    one_bucket = mg.distributed.GradientAverager(model).buckets
    assert one_bucket == [params[::-1]]
    cap_mb = 64 * 8 / (1024 * 1024)  # 64 float64 numbers: 4 + 48 + 12 fit exactly
    buckets = mg.distributed.averaging.make_buckets(params, cap_mb)
    assert [[p.shape for p in b] for b in buckets] == [
        [torch.Size([4]), torch.Size([4, 12]), torch.Size([12])],
        [torch.Size([12, 6])],  # 72 numbers: larger than the cap, a bucket of its own
    ]


def test_bad_arguments_are_refused_in_words():
    with pytest.raises(mg.HyperParameterError, match="bucket_cap_mb"):
        mg.distributed.GradientAverager(workers.mlp(), bucket_cap_mb=0)
    with pytest.raises(mg.ArgumentTypeError, match="Module or a list of Variables"):
        mg.distributed.average_gradients("model")
    with pytest.raises(mg.SetupError, match="RANK.*torchrun"):
        mg.distributed.init_process_group("gloo")
    with pytest.raises(mg.HyperParameterError, match="rank must lie in"):
        mg.distributed.init_process_group("gloo", rank=2, world_size=2, init_method="file:///x")
    with pytest.raises(mg.HyperParameterError, match="'gloo' or 'nccl'"):
        mg.distributed.init_process_group("mpi", rank=0, world_size=1)
    assert not mg.distributed.is_initialized()


def test_sync_batchnorm_gate_in_one_process_is_batch_norm():
    """The gate's own maths, with no one to talk to, against torch's batch norm (the oracle)."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(10, 3, 4, 4, generator=g, dtype=torch.float64)
    w, b = (
        torch.rand(3, generator=g, dtype=torch.float64) + 0.5,
        torch.randn(3, dtype=torch.float64),
    )
    grad_out = torch.randn(x.shape, generator=g, dtype=torch.float64)
    mean, var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    gate = mg.distributed.sync_batchnorm.SyncBatchNormGate(mean, var, momentum=0.1, eps=1e-5)
    xv, wv, bv = (mg.tensor(t, requires_grad=True) for t in (x, w, b))
    y = gate(xv, wv, bv)
    y.backward(grad_out)

    xt, wt, bt = (t.clone().requires_grad_(True) for t in (x, w, b))
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    yt = torch.nn.functional.batch_norm(xt, rm, rv, wt, bt, training=True, momentum=0.1)
    expected = torch.autograd.grad(yt, (xt, wt, bt), grad_out)
    torch.testing.assert_close(y.value, yt.detach(), atol=1e-12, rtol=1e-12)
    for got, want in zip((xv.grad, wv.grad, bv.grad), expected):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(mean, rm, atol=1e-14, rtol=0)
    torch.testing.assert_close(var, rv, atol=1e-14, rtol=0)


def test_convert_sync_batchnorm_keeps_the_same_variables():
    model = workers.batchnorm_mlp()
    before = dict(model.named_state())
    converted = mg.distributed.convert_sync_batchnorm(model)
    assert converted is model
    assert isinstance(model[1], mg.distributed.SyncBatchNorm)
    after = dict(model.named_state())
    assert list(after) == list(before)
    assert all(after[name] is before[name] for name in before)


# -- two processes ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("distributed")


@pytest.fixture(scope="module")
def one_process(folder):
    """The references: one process, the whole global batch; a checkpoint after 2 epochs."""
    runs = {}
    for name, make in workers.OPTIMIZERS.items():
        model = workers.mlp()
        runs[name] = workers.train_on_shards(model, make(model.parameters()), 0, 1)
    model = workers.batchnorm_mlp()
    runs["batchnorm"] = workers.train_on_shards(
        model, workers.OPTIMIZERS["sgd_momentum"](model.parameters()), 0, 1
    )
    trainer, loader = workers.trainer_and_loader()
    trainer.fit(loader, loader, epochs=2)
    trainer.save(folder / "one_process_epoch2.ckpt", loader=loader)
    trainer.fit(loader, epochs=2)
    runs["epoch4"] = workers.snapshot(trainer.model)
    runs["history"] = trainer.history
    return runs


@pytest.fixture(scope="module")
def two_processes(folder, one_process):
    start = time.perf_counter()
    ranks = mg.distributed.spawn(
        workers.everything, 2, args=(str(folder),), timeout=120, group_timeout=30
    )
    print(f"2 processes: {time.perf_counter() - start:.1f} s")
    return ranks


@pytest.mark.parametrize("optimizer", sorted(workers.OPTIMIZERS))
def test_two_processes_on_shards_end_with_the_weights_of_one_on_the_global_batch(
    one_process, two_processes, optimizer
):
    for rank in (0, 1):
        got = two_processes[rank]["equivalence"][optimizer]
        assert max_difference(got, one_process[optimizer]) < TOLERANCE
    # Moving at all: 20 steps changed the weights by far more than the tolerance.
    assert max_difference(one_process[optimizer], workers.snapshot(workers.mlp())) > 1e-2


def test_every_rank_holds_the_very_same_weights(two_processes):
    for name in ("sgd_momentum", "adamw", "sync_batchnorm"):
        zero, one = (two_processes[r]["equivalence"][name] for r in (0, 1))
        assert all(torch.equal(zero[k], one[k]) for k in zero), name


def test_sync_batchnorm_trains_as_one_process_on_the_global_batch(one_process, two_processes):
    for rank in (0, 1):
        got = two_processes[rank]["equivalence"]["sync_batchnorm"]
        assert max_difference(got, one_process["batchnorm"]) < TOLERANCE  # running stats too


def test_plain_batchnorm_normalises_each_shard_by_itself(one_process, two_processes):
    """The documented difference: per-shard statistics, simulated here in one process."""
    copies = [workers.batchnorm_mlp(), workers.batchnorm_mlp()]
    optimizers = [workers.OPTIMIZERS["sgd_momentum"](m.parameters()) for m in copies]
    for x, y in workers.global_batches():
        for rank, model in enumerate(copies):
            model.zero_grad()
            shard_x, shard_y = workers.shard(x, rank, 2), workers.shard(y, rank, 2)
            mg.cross_entropy(model(shard_x), shard_y).backward()
        params = [list(m.parameters()) for m in copies]
        for p0, p1 in zip(*params):
            p0.grad = p1.grad = (p0.grad + p1.grad) / 2
        for optimizer in optimizers:
            optimizer.step()
    for rank, model in enumerate(copies):
        got = two_processes[rank]["equivalence"]["batchnorm"]
        assert max_difference(got, workers.snapshot(model)) < TOLERANCE
    plain = two_processes[0]["equivalence"]["batchnorm"]
    assert max_difference(plain, one_process["batchnorm"]) > 1e-4  # not the global batch's
    stats = [two_processes[r]["equivalence"]["batchnorm"]["1.running_mean"] for r in (0, 1)]
    assert not torch.allclose(stats[0], stats[1])  # each rank's running statistics drift apart


def test_the_trainer_on_two_processes_trains_as_on_one(one_process, two_processes):
    for rank in (0, 1):
        result = two_processes[rank]["trainer"]
        assert max_difference(result["epoch4"], one_process["epoch4"]) < TOLERANCE
        for mine, theirs in zip(result["history"], one_process["history"]):
            assert mine["epoch"] == theirs["epoch"] and mine["lr"] == theirs["lr"]
            for key in ("loss", "train_accuracy"):
                assert abs(mine[key] - theirs[key]) < 1e-12, key
        for key in ("test_loss", "test_accuracy"):  # the sharded test set, added up
            first = result["history"][0][key]
            assert abs(first - one_process["history"][0][key]) < 1e-12, key


def test_rank_0_alone_prints_and_writes_checkpoints(folder, two_processes):
    zero, one = (two_processes[r]["trainer"] for r in (0, 1))
    assert "epoch 1/2" in zero["stdout"] and "epoch 2/2" in zero["stdout"]
    assert "batch" in zero["stderr"]  # the progress bar
    assert one["stdout"] == "" and one["stderr"] == ""
    assert zero["exists_after_save"] and one["exists_after_save"]  # the barrier waited
    assert (folder / "probe_rank0.ckpt").exists()
    assert not (folder / "probe_rank1.ckpt").exists()


def test_a_two_process_checkpoint_resumes_on_one_process(folder, one_process, two_processes):
    trainer, loader = workers.trainer_and_loader()
    trainer.load(folder / "two_processes_epoch2.ckpt", loader=loader)
    assert trainer.epoch == 2 and loader.sampler.epoch == 1  # the last epoch it read
    trainer.fit(loader, epochs=2)
    assert loader.sampler.epoch == 3
    assert (
        max_difference(workers.snapshot(trainer.model), two_processes[0]["trainer"]["epoch4"])
        < TOLERANCE
    )
    assert max_difference(workers.snapshot(trainer.model), one_process["epoch4"]) < TOLERANCE


def test_a_one_process_checkpoint_resumes_on_two_processes(one_process, two_processes):
    for rank in (0, 1):
        result = two_processes[rank]["trainer"]
        assert result["one_then_two_epoch"] == 4
        assert max_difference(result["one_then_two"], one_process["epoch4"]) < TOLERANCE


def test_a_nan_batch_on_one_process_is_skipped_by_all_as_by_one_process():
    ranks = mg.distributed.spawn(workers.with_a_nan_sample, 2, timeout=60, group_timeout=20)
    alone = workers.with_a_nan_sample()  # here, one process: global batch 2 holds the NaN
    assert alone["skipped"] == 1
    for result in ranks:
        assert result["skipped"] == 1
        # The callbacks see the global batch's loss, the one a single process sees.
        assert len(result["losses"]) == len(alone["losses"]) == 6
        assert max(abs(a - b) for a, b in zip(result["losses"], alone["losses"])) < 1e-12
        assert max_difference(result["state"], alone["state"]) < TOLERANCE


def test_missing_gradients_average_as_zeros_and_none_stays_none_and_rank_0_sets_weights():
    ranks = mg.distributed.spawn(workers.partial_gradients, 2, timeout=60, group_timeout=20)
    for result in ranks:
        assert result["a"].tolist() == [1.0, 2.0, 3.0]  # (rank 0's + nothing) / 2
        assert result["b"] is None  # no process computed one
        assert result["c"].tolist() == [1.5] * 4
        assert max_difference(result["model"], workers.snapshot(workers.mlp(seed=3))) == 0.0


# -- failures end in a clear error, never in a hang -------------------------------------------


@pytest.mark.timeout(60)
def test_a_process_that_dies_makes_the_others_fail_clearly():
    start = time.perf_counter()
    outcomes = mg.distributed.start_processes(
        workers.fail_during_training, 2, args=("die",), timeout=45, group_timeout=10
    )
    elapsed = time.perf_counter() - start
    zero, one = outcomes
    assert one.exitcode == 3 and one.error_type is None  # died without a word
    assert zero.error_type == "DistributedError", zero.describe()
    assert "rank 0 of 2" in zero.error and "another process stopped" in zero.error
    assert "help:" in zero.error
    assert elapsed < 40


@pytest.mark.timeout(60)
def test_a_process_that_dies_during_a_sync_batchnorm_forward_is_named_too():
    outcomes = mg.distributed.start_processes(
        workers.fail_during_training, 2, args=("die", True), timeout=45, group_timeout=10
    )
    zero = outcomes[0]
    assert zero.error_type == "DistributedError", zero.describe()  # not a ShapeError
    assert "SyncBatchNorm: the all-reduce of the batch sums failed" in zero.error


@pytest.mark.timeout(60)
def test_a_process_that_stops_answering_makes_the_others_time_out():
    outcomes = mg.distributed.start_processes(
        workers.fail_during_training, 2, args=("hang",), timeout=45, group_timeout=1.5
    )
    zero = outcomes[0]
    assert zero.error_type == "DistributedError", zero.describe()
    assert "did not join it within the group's timeout" in zero.error
    assert zero.seconds < 15  # the 1.5 s timeout, not the 4 s sleep times the 50 epochs


@pytest.mark.timeout(60)
def test_processes_with_different_numbers_of_batches_are_refused_before_training():
    with pytest.raises(mg.DistributedError) as caught:
        mg.distributed.spawn(workers.uneven_batches, 2, timeout=45, group_timeout=10)
    for outcome in caught.value.outcomes:
        assert outcome.error_type == "SetupError"
        assert "different numbers of batches per epoch (from 5 to 5" not in outcome.error
        assert "from 5 to 6" in outcome.error and "DistributedSampler" in outcome.error


# -- on GPUs with NCCL ---------------------------------------------------------------------

needs_two_gpus = pytest.mark.skipif(
    not (torch.cuda.is_available() and torch.cuda.device_count() >= 2)
    or not torch.distributed.is_nccl_available(),
    reason="needs CUDA, NCCL and 2 GPUs (NCCL puts one process on each GPU)",
)
needs_a_gpu = pytest.mark.skipif(
    not torch.cuda.is_available() or not torch.distributed.is_nccl_available(),
    reason="needs CUDA and NCCL",
)


@needs_two_gpus
def test_two_processes_on_two_gpus_match_one_process(one_process):
    ranks = mg.distributed.spawn(workers.on_gpus, 2, backend="nccl", timeout=120)
    assert [r["device"] for r in ranks] == ["cuda:0", "cuda:1"]
    for result in ranks:
        assert max_difference(result["state"], one_process["sgd_momentum"]) < 1e-10


@needs_a_gpu
def test_a_group_of_one_on_the_gpu_runs_through_nccl(one_process):
    (result,) = mg.distributed.spawn(workers.on_gpus, 1, backend="nccl", timeout=120)
    assert result["device"] == "cuda:0"
    assert max_difference(result["state"], one_process["sgd_momentum"]) < 1e-10


# -- torchrun, as a learner runs it ----------------------------------------------------------


@pytest.mark.timeout(120)
def test_the_demo_trains_on_two_processes_through_torchrun():
    done = subprocess.run(
        [sys.executable, "-m", "minigrad", "--processes", "2", "--epochs", "2", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "torch.distributed.run --standalone --nproc_per_node=2" in out
    assert out.count("== The engine") == 1  # rank 0 alone prints
    assert "2 processes (gloo): each reads 16 of every global batch of 32" in out
    assert out.count("epoch 2/2") == 1
    accuracy = float(out.split("test accuracy: ")[1].split("%")[0])
    assert accuracy > 90.0
