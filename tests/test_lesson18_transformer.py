"""Lesson 18's transformer: trained in the lesson as committed, it ends well below the unigram
baseline, and it writes text. (The lesson runs once per session: tests/test_notebooks.py
executes it and caches the run, so this costs no extra time.)"""

from __future__ import annotations

import math
import re

import torch

import minigrad as mg
from tests.test_notebooks import execute, shown

LESSON = "18_attention_transformer"
VALIDATION_LOSS_BELOW = 2.2  # nats per character; the unigram baseline is 3.38


def test_the_transformer_beats_the_unigram_baseline_and_samples_text():
    nb, _ = execute(LESSON)
    output = shown(nb)
    found = re.search(r"validation loss: ([\d.]+) nats per character \(unigram baseline ([\d.]+)",
                      output)  # fmt: skip
    assert found, "the lesson prints no validation loss"
    validation, baseline = float(found.group(1)), float(found.group(2))
    # the baseline, computed here from the shipped text
    text = mg.data.load_shakespeare()
    vocab = mg.data.CharVocabulary(text)
    train, held_out = mg.data.split_text(vocab.encode(text), 0.1)
    counts = torch.bincount(train, minlength=len(vocab)).double()
    unigram = float(-torch.log(counts / counts.sum())[held_out].mean())
    assert math.isclose(baseline, unigram, abs_tol=5e-4)
    assert validation < VALIDATION_LOSS_BELOW < unigram - 1, (validation, unigram)
    sample = output[output.index("MACBETH.\n", output.index("validation loss")) :]
    assert len(sample) > 300 and set(sample) <= set(vocab.chars) | {"\n"}


def test_the_lesson_shows_its_tape_by_module_and_the_gradient_flow():
    nb, _ = execute(LESSON)
    output = shown(nb)
    ops, inside = map(int, re.search(r"(\d+) ops; (\d+) of them inside a module", output).groups())
    assert ops > 40 and inside > ops - 5
    assert "TapeViewer: forward 1 of" in output
    assert "every gradient looks healthy" in output  # GradientFlow, after the training
