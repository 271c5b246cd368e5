"""The TapeViewer and GradientFlow on lesson 18's kind of model, headless: a two-block
character transformer's tape folds and is grouped one cluster per module, and the gradient
flow of its weight matrices is torch.autograd's through a torch.nn copy of the model."""

from __future__ import annotations

import re

import pytest
import torch

import minigrad as mg
from minigrad import nn

widgets = pytest.importorskip("widgets")

VOCAB, BLOCK, WIDTH, HEADS = 11, 6, 8, 2


class CharTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, WIDTH)
        self.blocks = nn.Sequential(
            *[nn.TransformerBlock(WIDTH, HEADS, dim_feedforward=16) for _ in range(2)]
        )
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB)

    def forward(self, ids):
        return self.head(self.norm(self.blocks(self.tokens(ids))))


class TorchTwin(torch.nn.Module):
    """The same model in torch.nn; its parameter names are ours."""

    def __init__(self):
        super().__init__()
        self.tokens = torch.nn.Embedding(VOCAB, WIDTH)
        self.blocks = torch.nn.Sequential(*[
            torch.nn.TransformerEncoderLayer(WIDTH, HEADS, dim_feedforward=16, dropout=0.0,
                                             activation="gelu", batch_first=True, norm_first=True)
            for _ in range(2)
        ])  # fmt: skip
        self.norm = torch.nn.LayerNorm(WIDTH)
        self.head = torch.nn.Linear(WIDTH, VOCAB)

    def forward(self, ids):
        h = self.tokens(ids)
        mask = torch.ones(ids.shape[-1], ids.shape[-1], dtype=torch.bool).triu(1)
        for block in self.blocks:
            h = block(h, src_mask=mask, is_causal=True)
        return self.head(self.norm(h))


def batch(seed: int):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randint(0, VOCAB, (3, BLOCK), generator=generator) for _ in range(2))


def loss_of(model, ids, targets):
    return mg.cross_entropy(model(ids).reshape(-1, VOCAB), targets.reshape(-1))


def recorded():
    """The model on its own tape, one loss recorded with every value kept, and its scopes."""
    torch.manual_seed(0)
    tape = mg.Context(name="transformer", keep_outputs=True)
    with tape:
        model = CharTransformer()
    ids, targets = batch(0)
    with mg.module_scopes(model) as scopes:
        loss = loss_of(model, ids, targets)
    return model, loss, scopes


def test_the_viewer_shows_one_nested_cluster_per_module_that_recorded_ops():
    model, loss, scopes = recorded()
    viewer = widgets.TapeViewer(loss, params=model, modules=scopes)
    nodes = loss.context.nodes[: loss.node.index + 1]
    assert len(viewer.records) == len(nodes) > 40 and viewer.graph.folded == 0
    recorders = {scopes.module_of(node) for node in nodes} - {None}
    assert {"tokens", "blocks.1.self_attn", "blocks.0.linear2", "norm", "head"} <= recorders
    clusters = set(re.findall(r'subgraph "?cluster_([\w.]+)', viewer.graph.source))
    parents = {".".join(name.split(".")[:end]) for name in recorders
               for end in range(1, name.count(".") + 1)}  # fmt: skip
    assert recorders | parents <= clusters
    # ops that take no parameter sit in their module's cluster too: attention in
    # blocks > blocks.N > blocks.N.self_attn, GELU in blocks > blocks.N
    lines = viewer.graph.source.splitlines()
    attention = [line for line in lines if "ScaledDotProductAttention" in line]
    gelu = [line for line in lines if "GELU" in line]
    assert len(attention) == len(gelu) == 2
    assert all(line.startswith("\t" * 4 + "n") for line in attention), attention
    assert all(line.startswith("\t" * 3 + "n") for line in gelu), gelu
    # every op is drawn and can be stepped to, forward then backward
    assert len(viewer.steps) == 2 * len(nodes)
    assert viewer.svg().count('class="node"') == viewer.graph.node_count
    viewer.position = len(viewer.steps) - 1
    assert viewer.highlighted is not None and "folded" not in viewer.status.value


def test_the_viewer_folds_a_long_transformer_tape_and_still_steps_every_op():
    model, loss, scopes = recorded()
    viewer = widgets.TapeViewer(loss, params=model, modules=scopes, max_nodes=20)
    ops = len(viewer.records)
    assert viewer.graph.folded == ops - 20
    assert f"... {ops - 20} more" in viewer.graph.source
    assert viewer.graph.source.count("shape=ellipse") == 20
    assert len(viewer.steps) == 2 * ops
    viewer.position = 3  # an early op: in the fold
    assert "folded" in viewer.status.value
    viewer.position = ops - 1  # the loss: drawn, highlighted
    assert "folded" not in viewer.status.value
    assert viewer.highlighted == f"{viewer.uid}n{loss.node.index}"
    # the clusters of the modules that recorded the last 20 ops are still drawn
    assert 'subgraph "cluster_blocks.1' in viewer.graph.source
    assert "cluster_head" in viewer.graph.source


def test_gradient_flow_on_the_transformers_matrices_is_torchs():
    torch.manual_seed(1)
    with mg.Context(name="transformer"):
        model = CharTransformer()
    twin = TorchTwin()
    twin.load_state_dict({k: v.detach().clone() for k, v in model.state_dict().items()})
    matrices = {name: p for name, p in model.named_parameters() if p.ndim == 2}
    flow = widgets.GradientFlow(matrices)
    optimizer = mg.optim.SGD(model.parameters(), lr=0.1)
    theirs = torch.optim.SGD(twin.parameters(), lr=0.1)
    for step in range(2):
        ids, targets = batch(step + 1)
        optimizer.zero_grad()
        loss_of(model, ids, targets).backward()
        optimizer.step()
        flow.record(matrices)
        theirs.zero_grad()
        torch.nn.functional.cross_entropy(
            twin(ids).reshape(-1, VOCAB), targets.reshape(-1)
        ).backward()
        grads = {name: p.grad for name, p in twin.named_parameters()}
        theirs.step()
        rows = flow.history[-1]
        assert [row["name"] for row in rows] == list(matrices)
        for row in rows:
            want = grads[row["name"]]
            assert row["norm"] == pytest.approx(float(want.norm()), rel=1e-4), row["name"]
            assert row["max_abs"] == pytest.approx(float(want.abs().max()), rel=1e-4)
    assert "blocks.1.self_attn.in_proj_weight" in flow.names
    assert flow.matrix("norm").shape == (2, len(matrices))
    assert flow.describe() == "step 2: every gradient looks healthy"
    flow.flush()  # the last step may have come within the redraw budget's interval
    assert flow.plot.value == flow.svg() and "blocks.1.linear2.weight" in flow.to_svg()
