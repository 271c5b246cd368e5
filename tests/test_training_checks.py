"""The training loop refuses what cannot work, and accepts what can.

The refusals themselves (types, messages, nothing changed) are rows of
test_bad_inputs_nn.py. Here: binary accuracy against a count by torch, that a
refusal on the first batch undoes that batch, and the near misses that must
still train (a numpy epoch count, an optimiser for part of a model, a
generator loader used once).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import minigrad as mg
from minigrad import nn
from minigrad.data import DataLoader
from minigrad.training import Trainer, accuracy, confusion_matrix, evaluate, predict


def binary_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] + 0.3 * x[:, 1] > 0.1).long()  # labels 0 and 1, not balanced
    return x, y


def one_logit_model(seed=1, squeeze=False):
    layer = nn.Linear(5, 1, generator=mg.nn.init_random(seed))
    if not squeeze:
        return nn.Sequential(layer)
    model = nn.Sequential(layer, nn.Flatten(0))
    return model


@pytest.mark.parametrize("squeeze", [False, True], ids=["(N, 1)", "(N,)"])
def test_a_one_logit_classifier_is_thresholded_at_zero(squeeze):
    x, y = binary_data()
    model = one_logit_model(squeeze=squeeze)
    loader = DataLoader((x, y), 16)
    with torch.no_grad():  # torch's reading of a logit: class 1 where sigmoid(z) > 0.5
        logits = torch.nn.functional.linear(x, model[0].weight.value, model[0].bias.value)
        expected = (torch.sigmoid(logits[:, 0]) > 0.5).long()
    share_of_zeros = float((y == 0).float().mean())
    got = accuracy(model, loader)
    assert got == pytest.approx(float((expected == y).float().mean()))
    assert got != pytest.approx(share_of_zeros)  # what argmax over one column gave
    predicted, labels = predict(model, loader)
    assert torch.equal(predicted, expected) and torch.equal(labels, y)
    matrix = confusion_matrix(model, loader)
    assert matrix.shape == (2, 2) and int(matrix.trace()) == int((expected == y).sum())
    assert evaluate(model, loader)["accuracy"] == pytest.approx(got)


def test_the_trainer_counts_a_binary_classifier_s_hits():
    x, y = binary_data(48)
    model = one_logit_model(3)
    opt = mg.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the weights stay, so torch can count

    def bce(output, target):
        return mg.binary_cross_entropy_with_logits(output, target.float().reshape(-1, 1))

    trainer = Trainer(model, opt, bce, progress=False, verbose=False)
    record = trainer.fit(DataLoader((x, y), 16), epochs=1)[0]
    with torch.no_grad():
        logits = x @ model[0].weight.value.T + model[0].bias.value
    assert record["train_accuracy"] == pytest.approx(
        float(((logits[:, 0] > 0).long() == y).float().mean())
    )


def test_one_logit_with_labels_beyond_one_has_no_accuracy():
    x, _ = binary_data()
    y = torch.arange(len(x)) % 3
    with pytest.raises(mg.ShapeError, match="labels 0 and 1"):
        accuracy(one_logit_model(), DataLoader((x, y), 16))


def test_a_refused_loss_on_the_first_batch_undoes_that_batch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm(6), nn.Dropout(0.5), nn.Linear(6, 2))
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(
        (torch.randn(12, 4), torch.randint(0, 2, (12,))), 4, shuffle=True, generator=1
    )
    stats = model[1].running_mean.value.clone()
    rng, order = torch.get_rng_state(), loader.state_dict()["generator"].clone()

    def per_sample(output, target):
        return mg.cross_entropy(output, target, reduction="none")

    trainer = Trainer(model, opt, per_sample, progress=False, verbose=False)
    with pytest.raises(mg.ShapeError, match=r"single number, got shape \(4,\)"):
        trainer.fit(loader, epochs=2)
    assert torch.equal(model[1].running_mean.value, stats)  # the forward ran, and was undone
    assert torch.equal(torch.get_rng_state(), rng)  # dropout's draw too
    assert torch.equal(loader.state_dict()["generator"], order)  # and the shuffle
    assert len(mg.default_context()) == 0 and trainer.history == [] and trainer.epoch == 0


def test_near_misses_still_train():
    x, y = binary_data(32)
    y3 = torch.arange(32) % 3
    model = nn.Sequential(
        nn.Linear(5, 4, generator=mg.nn.init_random(4)), nn.ReLU(), nn.Linear(4, 3)
    )
    head_only = mg.optim.SGD(model[2].parameters(), lr=0.1)  # fine-tuning the last layer
    trainer = Trainer(model, head_only, progress=False, verbose=False)
    first = model[0].weight.value.clone()
    trainer.fit(DataLoader((x, y3), 8), epochs=np.int64(2))  # a numpy count is a whole number
    assert trainer.epoch == 2 and torch.equal(model[0].weight.value, first)
    once = ((x[i : i + 8], y3[i : i + 8]) for i in range(0, 32, 8))
    trainer.fit(once, epochs=1)  # a generator, used once, trains
    assert trainer.epoch == 3 and len(trainer.history) == 3
