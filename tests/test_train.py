"""The training loop: against torch's own training, callbacks, NaN batches, metrics, figures."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import minigrad as mg
from minigrad import nn, training
from minigrad.data import DataLoader, load_digits, train_test_split
from minigrad.training import Callback, LambdaCallback, Trainer, fit

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and a shared machine stays usable."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits()
    return train_test_split(x, y, test_fraction=0.2, seed=0)


def mlp(seed: int, hidden: int = 128):
    g = mg.nn.init_random(seed)
    return nn.Sequential(
        nn.Linear(64, hidden, generator=g), nn.ReLU(), nn.Linear(hidden, 10, generator=g)
    )


def torch_copy(model) -> torch.nn.Sequential:
    """The same MLP in torch.nn, with the same starting weights."""
    first, last = model[0], model[2]
    copy = torch.nn.Sequential(
        torch.nn.Linear(first.in_features, first.out_features),
        torch.nn.ReLU(),
        torch.nn.Linear(last.in_features, last.out_features),
    )
    with torch.no_grad():
        for ours, theirs in ((first, copy[0]), (last, copy[2])):
            theirs.weight.copy_(ours.weight.value)
            theirs.bias.copy_(ours.bias.value)
    return copy


def torch_evaluation(model: torch.nn.Module, x, y, batch_size: int) -> tuple[float, float]:
    """Accuracy and mean cross-entropy by hand: torch, batch by batch, as the loader batches.

    The same batches as minigrad's loader, so each logit is the same float32
    sum and the hit count is exact (no slack of a sample or two).
    """
    hits, loss_sum = 0, 0.0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            out = model(x[start : start + batch_size])
            target = y[start : start + batch_size]
            hits += int((out.argmax(1) == target).sum())
            loss_sum += torch.nn.functional.cross_entropy(out, target).item() * len(target)
    return hits / len(x), loss_sum / len(x)


class WeightsBeforeEachBatch(Callback):
    """Torch copies of the model's weights before every batch of every epoch.

    ``epochs[e][k]`` trained batch k of epoch e; ``epochs[e][-1]`` holds the
    weights at the epoch's end, which its evaluation saw.
    """

    def __init__(self):
        self.epochs: list[list[torch.nn.Sequential]] = []

    def on_epoch_begin(self, trainer, epoch):
        self.epochs.append([torch_copy(trainer.model)])

    def on_batch_end(self, trainer, batch, loss):
        self.epochs[-1].append(torch_copy(trainer.model))


# -- the loop computes what torch computes --------------------------------------------
def test_trainer_trains_like_torch(digits):
    x_train, x_test, y_train, y_test = digits
    model = mlp(1, hidden=32)
    reference = torch_copy(model)
    optimizer = mg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = mg.optim.StepLR(optimizer, step_size=1, gamma=0.5)
    t_optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    t_scheduler = torch.optim.lr_scheduler.StepLR(t_optimizer, step_size=1, gamma=0.5)

    loader = DataLoader((x_train, y_train), 64, shuffle=True, generator=5)
    test_loader = DataLoader((x_test, y_test), 100)
    weights = WeightsBeforeEachBatch()
    trainer = Trainer(
        model, optimizer, scheduler=scheduler, callbacks=[weights], progress=False, verbose=False
    )
    history = trainer.fit(loader, test_loader, epochs=3)

    t_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x_train, y_train), batch_size=64, shuffle=False
    )
    generator = torch.Generator().manual_seed(5)
    for epoch in range(3):
        order = torch.randperm(len(x_train), generator=generator)
        lr = t_optimizer.param_groups[0]["lr"]
        losses, hits, hits_by_hand = [], 0, 0
        for batch, start in enumerate(range(0, len(order), 64)):
            index = order[start : start + 64]
            with torch.no_grad():  # minigrad's own weights for this batch, run by torch
                before = weights.epochs[epoch][batch](x_train[index])
            hits_by_hand += int((before.argmax(1) == y_train[index]).sum())
            out = reference(x_train[index])
            loss = torch.nn.functional.cross_entropy(out, y_train[index])
            t_optimizer.zero_grad()
            loss.backward()
            t_optimizer.step()
            losses.append(loss.item() * len(index))
            hits += int((out.argmax(1) == y_train[index]).sum())
        t_scheduler.step()
        record = history[epoch]
        assert record["epoch"] == epoch and record["lr"] == pytest.approx(lr)
        assert record["loss"] == pytest.approx(sum(losses) / len(x_train), rel=1e-5)
        # Exact: the hits minigrad counted are those of its weights at each batch, and the
        # evaluation is a torch loop over its weights at the epoch's end.
        assert record["train_accuracy"] == hits_by_hand / len(x_train)
        accuracy, test_loss = torch_evaluation(weights.epochs[epoch][-1], x_test, y_test, 100)
        assert record["test_accuracy"] == accuracy
        assert record["test_loss"] == pytest.approx(test_loss, rel=1e-6)
        # Against torch's own training the slack stays: two float32 trainings differ by
        # rounding (summation order in the kernels), about 1e-6 in the weights, which can
        # flip the argmax of a sample whose two best scores are that close.
        assert record["train_accuracy"] == pytest.approx(hits / len(x_train), abs=2 / len(x_train))
        with torch.no_grad():
            test_out = reference(x_test)
        assert record["test_accuracy"] == pytest.approx(
            float((test_out.argmax(1) == y_test).float().mean()), abs=1.5 / len(x_test)
        )
        assert record["test_loss"] == pytest.approx(
            torch.nn.functional.cross_entropy(test_out, y_test).item(), rel=1e-4
        )
    del t_loader
    torch.testing.assert_close(model[0].weight.value, reference[0].weight.detach())
    torch.testing.assert_close(model[2].bias.value, reference[2].bias.detach())
    assert trainer.epoch == 3 and optimizer.lr == pytest.approx(0.05 * 0.5**3)


def test_a_second_fit_continues_the_epoch_count(digits):
    x_train, _, y_train, _ = digits
    model = mlp(2, hidden=16)
    trainer = Trainer(model, mg.optim.SGD(model.parameters(), lr=0.1), progress=False)
    loader = DataLoader((x_train, y_train), 128)
    trainer.fit(loader, epochs=2)
    trainer.fit(loader, epochs=1)
    assert [r["epoch"] for r in trainer.history] == [0, 1, 2]
    assert trainer.history[-1]["test_accuracy"] is None
    assert set(trainer.history[0]) == {
        "epoch", "loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "seconds",
        "skipped",
    }  # fmt: skip


def test_fit_function_returns_the_trainer(digits):
    x_train, x_test, y_train, y_test = digits
    model = mlp(3, hidden=16)
    opt = mg.optim.Adam(model.parameters(), lr=0.01)
    trainer = fit(
        model, opt, None, DataLoader((x_train, y_train), 128), DataLoader((x_test, y_test), 500),
        epochs=2, progress=False, verbose=False,
    )  # fmt: skip
    assert isinstance(trainer, Trainer) and len(trainer.history) == 2
    accuracy, test_loss = torch_evaluation(torch_copy(model), x_test, y_test, 500)
    assert trainer.history[-1]["test_accuracy"] == accuracy
    assert trainer.history[-1]["test_loss"] == pytest.approx(test_loss, rel=1e-6)
    # any batch size counts the same hits
    assert training.accuracy(model, DataLoader((x_test, y_test), 7)) == accuracy


def test_a_regression_model_trains_with_no_accuracy(digits):
    x_train, x_test, _, _ = digits
    # predict the mean brightness of each image from its pixels
    target_train, target_test = x_train.mean(1, keepdim=True), x_test.mean(1, keepdim=True)
    model = nn.Sequential(nn.Linear(64, 1, generator=mg.nn.init_random(12)))
    trainer = Trainer(
        model, mg.optim.SGD(model.parameters(), lr=0.05), mg.mse_loss,
        progress=False, verbose=False,
    )  # fmt: skip
    test_loader = DataLoader((x_test, target_test), 100)
    trainer.fit(DataLoader((x_train, target_train), 64), test_loader, epochs=3)
    last = trainer.history[-1]
    assert last["train_accuracy"] is None and last["test_accuracy"] is None
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(
            x_test @ model[0].weight.value.T + model[0].bias.value, target_test
        )
    assert last["test_loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert trainer.history[-1]["loss"] < trainer.history[0]["loss"]
    with pytest.raises(mg.ShapeError, match="classifiers"):
        training.accuracy(model, test_loader)


# -- NaN and Inf losses --------------------------------------------------------------
class PoisonSomeBatches:
    """cross-entropy, times NaN or Inf on the chosen batches of every epoch."""

    def __init__(self, poisoned: dict, batches_per_epoch: int):
        self.poisoned, self.per_epoch, self.calls = poisoned, batches_per_epoch, 0

    def __call__(self, output, target):
        loss = mg.cross_entropy(output, target)
        factor = self.poisoned.get(self.calls % self.per_epoch)
        self.calls += 1
        return loss * factor if factor is not None else loss


def test_nan_and_inf_batches_are_skipped_warned_and_counted(digits):
    x_train, _, y_train, _ = digits
    loader = DataLoader((x_train, y_train), 256)
    poison = {1: math.nan, 3: math.inf}
    model = mlp(4, hidden=16)
    reference = mlp(4, hidden=16)
    optimizer = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    loss_fn = PoisonSomeBatches(poison, len(loader))
    trainer = Trainer(model, optimizer, loss_fn, progress=False, verbose=False)
    with pytest.warns(RuntimeWarning, match="loss is nan; skipping") as caught:
        trainer.fit(loader, epochs=2)
    assert len([w for w in caught if "skipping" in str(w.message)]) == 2  # one per epoch
    assert [r["skipped"] for r in trainer.history] == [2, 2] and trainer.skipped_batches == 4
    assert len(mg.default_context()) == 0  # the skipped batches left nothing on the tape
    assert all(math.isfinite(r["loss"]) for r in trainer.history)

    # the same training by hand, leaving those batches out, gives the same weights
    ref_opt = mg.optim.SGD(reference.parameters(), lr=0.1, momentum=0.5)
    for _ in range(2):
        for batch, (x, y) in enumerate(loader):
            if batch in poison:
                continue
            loss = mg.cross_entropy(reference(x), y)
            ref_opt.zero_grad()
            loss.backward()
            ref_opt.step()
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        assert torch.equal(ours.value, theirs.value)


def test_an_epoch_of_only_nan_reports_nan_loss(digits):
    x_train, _, y_train, _ = digits
    loader = DataLoader((x_train[:64], y_train[:64]), 32)
    model = mlp(5, hidden=8)
    before = [p.value.clone() for p in model.parameters()]
    poison = PoisonSomeBatches({0: math.nan, 1: -math.inf}, 2)
    trainer = Trainer(
        model, mg.optim.SGD(model.parameters(), lr=0.1), poison, progress=False, verbose=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(loader, epochs=1)
    assert math.isnan(trainer.history[0]["loss"]) and trainer.history[0]["skipped"] == 2
    assert all(torch.equal(a, p.value) for a, p in zip(before, model.parameters()))


# -- callbacks -----------------------------------------------------------------------
class Recorder(Callback):
    """Checks, at every batch end, that .grad is set and the step was already taken."""

    def __init__(self, lr):
        self.lr, self.events, self.previous = lr, [], None

    def on_train_begin(self, trainer):
        self.events.append("train_begin")
        self.previous = [p.value.clone() for p in trainer.model.parameters()]

    def on_epoch_begin(self, trainer, epoch):
        self.events.append(f"epoch_begin {epoch}")

    def on_batch_end(self, trainer, batch, loss):
        self.events.append(f"batch {batch}")
        assert isinstance(loss, float)
        for p, old in zip(trainer.model.parameters(), self.previous):
            assert p.grad is not None
            # plain SGD: the step just taken is exactly -lr * grad
            torch.testing.assert_close(p.value - old, -self.lr * p.grad, rtol=1e-4, atol=1e-6)
        self.previous = [p.value.clone() for p in trainer.model.parameters()]

    def on_epoch_end(self, trainer, epoch, record):
        self.events.append(f"epoch_end {epoch}")
        assert record is trainer.history[-1]

    def on_train_end(self, trainer):
        self.events.append("train_end")


def test_callbacks_run_at_their_moments_with_gradients_and_the_step_taken(digits):
    x_train, _, y_train, _ = digits
    loader = DataLoader((x_train[:300], y_train[:300]), 100)
    model = mlp(6, hidden=16)
    recorder = Recorder(lr=0.1)
    seen = []
    losses = []
    trainer = Trainer(
        model,
        mg.optim.SGD(model.parameters(), lr=0.1),
        callbacks=[
            recorder,
            lambda tr, epoch, record: seen.append((epoch, record["loss"])),
            LambdaCallback(on_batch_end=lambda tr, batch, loss: losses.append(loss)),
        ],
        progress=False,
        verbose=False,
    )
    trainer.fit(loader, epochs=2)
    assert recorder.events == [
        "train_begin",
        "epoch_begin 0", "batch 0", "batch 1", "batch 2", "epoch_end 0",
        "epoch_begin 1", "batch 0", "batch 1", "batch 2", "epoch_end 1",
        "train_end",
    ]  # fmt: skip
    assert [e for e, _ in seen] == [0, 1]
    assert len(losses) == 6
    assert seen[0][1] == pytest.approx(sum(losses[:3]) / 3)


def test_a_callback_can_stop_training(digits):
    x_train, _, y_train, _ = digits
    model = mlp(7, hidden=8)

    def stop_after_two(trainer, epoch, record):
        if epoch == 1:
            trainer.stop_training = True

    trainer = Trainer(
        model, mg.optim.SGD(model.parameters(), lr=0.1), callbacks=stop_after_two,
        progress=False, verbose=False,
    )  # fmt: skip
    trainer.fit(DataLoader((x_train, y_train), 512), epochs=10)
    assert trainer.epoch == 2


def test_bad_arguments_say_how_to_fix_them():
    model = mlp(8, hidden=4)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="help:"):
        Trainer(model, opt, loss_fn="cross_entropy")
    with pytest.raises(TypeError, match="help:"):
        Trainer(model, opt, callbacks=[42])
    with pytest.raises(ValueError, match="epochs"):
        Trainer(model, opt).fit(
            DataLoader((torch.zeros(4, 64), torch.zeros(4).long()), 2), None, -1
        )


# -- output --------------------------------------------------------------------------
def test_one_line_per_epoch_and_a_progress_bar(digits, capsys):
    x_train, x_test, y_train, y_test = digits
    model = mlp(9, hidden=16)
    trainer = Trainer(model, mg.optim.SGD(model.parameters(), lr=0.1), progress=True)
    trainer.fit(DataLoader((x_train, y_train), 256), DataLoader((x_test, y_test), 512), epochs=2)
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2") and lines[1].startswith("epoch 2/2")
    # The whole last line, field by field; the test accuracy is torch's count by hand.
    record = trainer.history[1]
    accuracy, _ = torch_evaluation(torch_copy(model), x_test, y_test, 512)
    assert lines[1] == (
        f"epoch 2/2  loss {record['loss']:.4f}  train {100 * record['train_accuracy']:.2f}%  "
        f"test {100 * accuracy:.2f}%  lr 0.1  {record['seconds']:.2f}s"
    )
    assert "batch" in err  # tqdm's bar, on stderr
    Trainer(model, mg.optim.SGD(model.parameters(), lr=0.1), progress=False, verbose=False).fit(
        DataLoader((x_train, y_train), 512), epochs=1
    )
    assert capsys.readouterr() == ("", "")


# -- metrics ---------------------------------------------------------------------------
def test_accuracy_and_confusion_matrix_match_a_count_by_hand(digits):
    x_train, x_test, y_train, y_test = digits
    model = nn.Sequential(nn.Linear(64, 10, generator=mg.nn.init_random(10)), nn.Dropout(0.5))
    loader = DataLoader((x_test, y_test), 50)
    with torch.no_grad():  # dropout is off in evaluation, so this is the model's function
        predicted = (x_test @ model[0].weight.value.T + model[0].bias.value).argmax(1)
    matrix = training.confusion_matrix(model, loader, num_classes=10)
    expected = torch.zeros(10, 10, dtype=torch.int64)
    for true, guess in zip(y_test.tolist(), predicted.tolist()):
        expected[true, guess] += 1
    assert torch.equal(matrix, expected)
    assert training.accuracy(model, loader) == int((predicted == y_test).sum()) / len(y_test)
    assert model.training and model[1].training  # evaluation put the modes back
    assert len(mg.default_context()) == 0  # and recorded nothing
    with pytest.raises(ValueError, match="num_classes"):
        training.confusion_matrix(model, loader, num_classes=3)


def scores_model(table: torch.Tensor):
    """A linear model whose output for the one-hot input e_i is row i of ``table``."""
    model = nn.Sequential(nn.Linear(len(table), table.shape[1], bias=False))
    with torch.no_grad():
        model[0].weight.value.copy_(table.T)
    return model


@pytest.mark.parametrize(
    "labels, predictions, size",
    [
        ([0, 1, 3, 1, 0], [0, 1, 1, 2, 2], 4),  # the largest class is a label only
        ([0, 1, 1, 0], [4, 1, 0, 0], 5),  # the largest class is a prediction only
        ([2, 2, 2], [2, 2, 2], 3),  # classes 0 and 1 never appear: rows and columns of 0
    ],
)
def test_confusion_matrix_without_num_classes_is_as_large_as_the_largest_class(
    labels, predictions, size
):
    # Sample i is the one-hot e_i, and the model's scores for it peak at predictions[i].
    n = len(labels)
    table = torch.zeros(n, size)
    table[range(n), predictions] = 1.0
    model = scores_model(table)
    loader = DataLoader((torch.eye(n), torch.tensor(labels)), 2)
    expected = torch.zeros(size, size, dtype=torch.int64)  # the count by hand
    for true, guess in zip(labels, predictions):
        expected[true, guess] += 1
    matrix = training.confusion_matrix(model, loader)
    assert matrix.dtype == torch.int64 and torch.equal(matrix, expected)
    padded = torch.zeros(size + 2, size + 2, dtype=torch.int64)
    padded[:size, :size] = expected
    assert torch.equal(training.confusion_matrix(model, loader, num_classes=size + 2), padded)


# -- the figures: real training on the digits ----------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mlp_reaches_97_percent_on_the_digits(digits, seed):
    x_train, x_test, y_train, y_test = digits
    torch.manual_seed(seed)
    model = mlp(seed)
    optimizer = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = mg.optim.CosineAnnealingLR(optimizer, 20)
    trainer = fit(
        model, optimizer, mg.cross_entropy,
        DataLoader((x_train, y_train), 32, shuffle=True, generator=seed),
        DataLoader((x_test, y_test), 512),
        epochs=20, scheduler=scheduler, progress=False, verbose=False,
    )  # fmt: skip
    final = trainer.history[-1]["test_accuracy"]
    print(f"MLP seed {seed}: test accuracy {final:.4f}")
    assert final >= 0.97


def small_cnn(seed: int):
    """The demo's CNN (``python -m minigrad --model cnn``), so the figure is the demo's."""
    from minigrad.__main__ import build_model

    return build_model("cnn", mg.nn.init_random(seed))


@pytest.mark.slow
def test_cnn_with_batch_norm_and_dropout_reaches_98_percent_on_the_digit_images():
    x, y = load_digits(as_images=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_fraction=0.2, seed=0)
    torch.manual_seed(4)
    model = small_cnn(4)
    optimizer = mg.optim.Adam(model.parameters(), lr=3e-3)
    trainer = fit(
        model, optimizer, mg.cross_entropy,
        DataLoader((x_train, y_train), 32, shuffle=True, generator=4),
        DataLoader((x_test, y_test), 512),
        epochs=12, scheduler=mg.optim.CosineAnnealingLR(optimizer, 12),
        progress=False, verbose=False,
    )  # fmt: skip
    final = trainer.history[-1]["test_accuracy"]
    print(f"CNN: test accuracy {final:.4f}")
    assert final >= 0.98


# -- the demo ------------------------------------------------------------------------------
def test_the_demo_shows_the_engine_then_trains():
    result = subprocess.run(
        [sys.executable, "-m", "minigrad", "--epochs", "2", "--no-progress", "--seed", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Context" in out and "Mul" in out  # the printed tape
    # the printed gradients are torch.autograd's
    a, b, c = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (2.0, -3.0, 6.5))
    torch.tanh(a * b + c).backward()
    for name, leaf in (("a", a), ("b", b), ("c", c)):
        line = next(line for line in out.splitlines() if f"dy/d{name} =" in line)
        printed = float(line.split("=")[1].split()[0])
        assert printed == pytest.approx(leaf.grad.item(), abs=2e-6)
    assert "epoch 2/2" in out
    assert "test accuracy" in out.lower()


def test_the_demo_rejects_a_bad_option():
    result = subprocess.run(
        [sys.executable, "-m", "minigrad", "--model", "rnn"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_on_cuda_matches_the_cpu(digits):
    x_train, x_test, y_train, y_test = digits
    runs = []
    for device in ("cpu", "cuda"):
        model = mlp(11, hidden=32).to(device)
        opt = mg.optim.Adam(model.parameters(), lr=0.01)
        loader = DataLoader((x_train, y_train), 64, shuffle=True, generator=0, device=device)
        trainer = fit(
            model, opt, None, loader, DataLoader((x_test, y_test), 512, device=device),
            epochs=2, progress=False, verbose=False,
        )  # fmt: skip
        runs.append((trainer.history, model[0].weight.value.cpu()))
    (cpu_history, cpu_weight), (cuda_history, cuda_weight) = runs
    # CPU and CUDA kernels sum in different orders, so two epochs end about 1e-4 apart in
    # the weights: enough to flip a few near-tie predictions, hence the slack here.
    torch.testing.assert_close(cpu_weight, cuda_weight, rtol=1e-3, atol=1e-4)
    assert abs(cpu_history[-1]["test_accuracy"] - cuda_history[-1]["test_accuracy"]) < 0.02
