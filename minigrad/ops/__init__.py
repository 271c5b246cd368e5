"""Every differentiable op: one Gate class each, grouped by family.

Read in this order: arithmetic, reductions, elementwise, activations, shape,
linalg, conv, normalization, losses. Each file pairs its Gate classes with
the plain functions (``mg.add``, ``mg.relu`` ...) that run them.
"""

from minigrad.ops.activations import (
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    gelu,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from minigrad.ops.arithmetic import Add, Div, Mul, Neg, Pow, Sub, add, div, mul, neg, pow, sub
from minigrad.ops.conv import (
    AvgPool2d,
    Conv2d,
    MaxPool2d,
    avg_pool2d,
    conv2d,
    max_pool2d,
)
from minigrad.ops.elementwise import (
    Abs,
    Clamp,
    Exp,
    Log,
    Maximum,
    Minimum,
    Sqrt,
    To,
    Where,
    abs,
    clamp,
    exp,
    log,
    maximum,
    minimum,
    sqrt,
    to,
    to_dtype,
    where,
)
from minigrad.ops.linalg import Linear, MatMul, linear, matmul
from minigrad.ops.losses import (
    BCEWithLogits,
    CrossEntropy,
    MSELoss,
    NLLLoss,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
    nll_loss,
)
from minigrad.ops.normalization import (
    BatchNorm,
    Dropout,
    Embedding,
    LayerNorm,
    batch_norm,
    dropout,
    embedding,
    layer_norm,
)
from minigrad.ops.reductions import (
    LogSumExp,
    MaxMin,
    Mean,
    Sum,
    Var,
    logsumexp,
    max,
    mean,
    min,
    sum,
    var,
)
from minigrad.ops.shape import (
    Cat,
    Expand,
    Index,
    Permute,
    Reshape,
    Split,
    Squeeze,
    Stack,
    Transpose,
    Unsqueeze,
    cat,
    chunk,
    expand,
    flatten,
    index,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unsqueeze,
    view,
)

__all__ = [name for name in dir() if not name.startswith("_")]
