"""SyncBatchNorm: batch normalisation over the *global* batch, whose shards live in W processes.

What goes wrong with plain BatchNorm
====================================

Gradient averaging makes W processes on shards of b samples take the step
of one process on the global batch of B = W * b, *if* each sample's loss
depends only on that sample. BatchNorm breaks that: a sample's output
depends on its batch's mean and variance. Under data parallelism each
process normalises with the statistics of its own shard::

    one process:     y_i = (x_i - mean(all B)) / sqrt(var(all B) + eps)
    W processes:     y_i = (x_i - mean(its shard)) / sqrt(var(its shard) + eps)

so the forward pass is already different (and noisier: b samples estimate
the statistics less well than B), the gradients are too, and each process's
running statistics drift apart. That is what torch's DistributedDataParallel
does with a plain BatchNorm, and what minigrad does with ``nn.BatchNorm``.
Only rank 0's running statistics go into a checkpoint.

The synchronised version
========================

:class:`SyncBatchNorm` computes the statistics of the global batch with two
all-reduces of C numbers per channel, so every process normalises exactly as
one process would on all B samples. With N = all values of a channel over
every process (batch and image)::

    forward:   mean = all_reduce(sum x) / N
               var  = all_reduce(sum (x - mean)^2) / N          (two passes: no cancellation)
               x_hat = (x - mean) / sqrt(var + eps),   y = w * x_hat + b

    backward:  g_hat = G * w
               dL/dx = 1/sqrt(var + eps) * (g_hat - all_reduce(sum g_hat) / N
                                           - x_hat * all_reduce(sum g_hat * x_hat) / N)
               dL/dw = sum G * x_hat,   dL/db = sum G              (this process's share)

The sums in dL/dx run over all processes because every x_i moved the
shared mean and variance, and so every process's loss. Each process's G
is the gradient of its own loss L_r, so this dL/dx is W times the
derivative of the global loss (1/W) sum_r L_r; the gradient averaging
afterwards divides by W again. Averaged, every parameter's gradient is the
one a single process computes on the global batch, and the running
statistics (updated with the global mean and the unbiased global variance)
are the same in every process.

Outside a process group SyncBatchNorm is BatchNorm. In evaluation mode it
uses the running statistics and sends nothing.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from minigrad.distributed.process_group import collective, get_world_size
from minigrad.errors import DistributedError, ShapeError, format_shape
from minigrad.gate import Gate
from minigrad.nn.batchnorm import BatchNorm
from minigrad.nn.module import Module


def _sum_over_processes(local: torch.Tensor, what: str) -> torch.Tensor:
    """``local`` added up over every process (itself, outside a group)."""
    if get_world_size() == 1:
        return local
    total = local.contiguous().clone()
    with collective(f"SyncBatchNorm: the all-reduce of {what}"):
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


class SyncBatchNormGate(Gate):
    """Batch norm over the global batch of all processes: see the module docstring.

    Training only (evaluation needs no communication: use ``ops.batch_norm``).
    Updates ``running_mean`` and ``running_var`` in place with the global
    statistics, as ``ops.BatchNorm`` does with the local ones.
    """

    def __init__(self, running_mean, running_var, momentum: float = 0.1, eps: float = 1e-5):
        self.running_mean, self.running_var = running_mean, running_var
        self.momentum, self.eps = momentum, eps

    def saved_tensors(self):
        saved = super().saved_tensors()
        saved.pop("running_mean", None)
        saved.pop("running_var", None)
        return saved

    def explain(self, tensors, error):
        if isinstance(error, DistributedError):  # already says what happened
            return error
        return super().explain(tensors, error)

    def forward(self, x, weight, bias):
        if x.ndim < 2 or x.shape[1] != self.running_mean.numel():
            raise ShapeError(
                f"SyncBatchNorm: expected (N, C) or (N, C, H, W) with C = "
                f"{self.running_mean.numel()} channels, got {format_shape(x.shape)}\n"
                "help: SyncBatchNorm(num_features) must equal the input's dimension 1"
            )
        self.dims = (0,) + tuple(range(2, x.ndim))
        self.shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
        local_count = x.numel() // x.shape[1]
        sums = torch.cat([x.sum(self.dims), x.new_tensor([local_count])])
        sums = _sum_over_processes(sums, "the batch sums")
        total, count = sums[:-1], int(sums[-1].item())
        if count < 2:
            raise ShapeError(
                f"SyncBatchNorm: training needs more than one value per channel over all "
                f"processes, got {count}\nhelp: use a larger batch, or eval mode"
            )
        mean = (total / count).reshape(self.shape)
        squares = ((x - mean) ** 2).sum(self.dims)
        var = (_sum_over_processes(squares, "the squared deviations") / count).reshape(self.shape)
        m = self.momentum
        self.running_mean.mul_(1 - m).add_(mean.reshape(-1), alpha=m)
        self.running_var.mul_(1 - m).add_(var.reshape(-1) * (count / (count - 1)), alpha=m)
        self.count = count
        self.inv_std = torch.rsqrt(var + self.eps)
        self.x_hat = (x - mean) * self.inv_std
        self.weight = weight
        return self.x_hat * weight.reshape(self.shape) + bias.reshape(self.shape)

    def backward(self, grad_output):
        need = self.needs_input_grad
        g_hat = grad_output * self.weight.reshape(self.shape)
        grad_x = None
        if need[0]:
            local = torch.cat([g_hat.sum(self.dims), (g_hat * self.x_hat).sum(self.dims)])
            both = _sum_over_processes(local, "the gradient sums") / self.count
            mean_g, mean_gx = (part.reshape(self.shape) for part in both.chunk(2))
            grad_x = self.inv_std * (g_hat - mean_g - self.x_hat * mean_gx)
        grad_w = (grad_output * self.x_hat).sum(self.dims) if need[1] else None
        grad_b = grad_output.sum(self.dims) if need[2] else None
        return grad_x, grad_w, grad_b


class SyncBatchNorm(BatchNorm):
    """BatchNorm whose training statistics cover the global batch of every process.

    Same arguments and variables as :class:`minigrad.nn.BatchNorm`. Every
    process must run its forward and backward the same number of times (they
    meet in an all-reduce each time). Turn the BatchNorm layers of a model
    into this with :func:`convert_sync_batchnorm`.
    """

    def forward(self, x):
        if not self.training or get_world_size() == 1:  # nothing to synchronise
            return super().forward(x)
        gate = SyncBatchNormGate(
            self.running_mean.value, self.running_var.value, self.momentum, self.eps
        )
        return gate(x, self.weight, self.bias)


def convert_sync_batchnorm(model: Module) -> Module:
    """Replace every ``nn.BatchNorm`` in ``model`` by a SyncBatchNorm holding the same Variables.

    Returns ``model`` (a bare BatchNorm comes back as a new SyncBatchNorm). The
    weights, biases and running statistics are the very same Variables, so an
    optimiser built earlier keeps working and a state dict keeps its names.
    """
    if type(model) is BatchNorm:
        return _synchronised(model)
    for module in list(model.modules()):
        for name, child in list(module._modules.items()):
            if type(child) is BatchNorm:
                # Into the same slot of the table: a Sequential runs its layers in table order.
                module._modules[name] = _synchronised(child)
    return model


def _synchronised(bn: BatchNorm) -> SyncBatchNorm:
    sync = SyncBatchNorm(
        bn.num_features, bn.momentum, bn.eps, dtype=bn.weight.dtype, device=bn.weight.device
    )
    for table in ("_parameters", "_buffers"):  # the same Variable objects, under the same names
        getattr(sync, table).update(getattr(bn, table))
    sync.train(bn.training)
    return sync
