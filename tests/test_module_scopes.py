"""mg.module_scopes: which sub-module recorded each node, and the tape drawn in one cluster
per module (nested as the modules are)."""

from __future__ import annotations

import re

import pytest
import torch

import minigrad as mg
from minigrad import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.blocks = nn.Sequential(nn.TransformerBlock(8, 2), nn.TransformerBlock(8, 2))
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        return self.head(self.blocks(self.embed(x)) * 0.5)  # the * 0.5 is the model's own


def recorded():
    torch.manual_seed(0)
    with mg.Context(name="tiny"):  # a tape of its own: the parameters record there
        model = Tiny()
    x = torch.randint(0, 10, (2, 5))
    with mg.module_scopes(model) as scopes:
        out = model(x)
    return model, out, scopes


def test_every_node_belongs_to_the_innermost_module_that_recorded_it():
    model, out, scopes = recorded()
    tape = out.context.nodes[: out.node.index + 1]
    names = [scopes.module_of(node) for node in tape]
    ops = [node.op for node in tape]
    assert names[0] == "embed" and ops[0] == "Embedding"
    assert names[-1] == "head" and ops[-1] == "Linear"
    attention = [i for i, op in enumerate(ops) if op == "ScaledDotProductAttention"]
    assert [names[i] for i in attention] == ["blocks.0.self_attn", "blocks.1.self_attn"]
    assert {names[i] for i, op in enumerate(ops) if op == "GELU"} == {"blocks.0", "blocks.1"}
    assert names[ops.index("Mul")] is None  # recorded by the model's own forward
    assert "blocks.1.self_attn.out_proj" in names
    # nothing is left behind: the forward methods are the classes' again
    assert all("forward" not in vars(module) for module in model.modules())


def test_the_wrapping_is_undone_after_an_error():
    model = Tiny()
    with pytest.raises(mg.DTypeError), mg.module_scopes(model):
        model(torch.zeros(2, 5, 3))  # floats are no token ids: embedding refuses them
    assert all("forward" not in vars(module) for module in model.modules())


def test_the_drawing_has_one_nested_cluster_per_module():
    widgets = pytest.importorskip("widgets")
    model, out, scopes = recorded()
    source = widgets.draw_tape(out, params=model, modules=scopes).source
    clusters = set(re.findall(r'subgraph "?cluster_([\w.]+)', source))
    assert {"blocks", "blocks.0", "blocks.0.self_attn", "blocks.1.linear2", "head"} <= clusters
    # blocks.0.self_attn sits inside blocks.0, which sits inside blocks; so does its attention
    lines = source.splitlines()
    depth = {line.strip(): len(line) - len(line.lstrip("\t")) for line in lines}
    assert depth["subgraph cluster_blocks {"] == 1
    assert depth['subgraph "cluster_blocks.0" {'] == 2
    assert depth['subgraph "cluster_blocks.0.self_attn" {'] == 3
    attention = [line for line in lines if "ScaledDotProductAttention" in line]
    assert len(attention) == 2 and all(line.startswith("\t" * 4 + "n") for line in attention)
    # without the scopes, only ops that take a module's parameters are clustered
    plain = widgets.draw_tape(out, params=model).source.splitlines()
    attention = [line for line in plain if "ScaledDotProductAttention" in line]
    assert all(line.startswith("\tn") for line in attention)
