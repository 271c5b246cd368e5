"""Neural-network modules, initialisers and layers, built on minigrad Variables.

Reading order (each file imports only the ones before it):

    checks.py       argument checks (HyperParameterError) shared by layers, optim and data
    init.py         initialisers (shape, dtype, generator) -> tensor, fans, init_random
    registry.py     the tables of parameters, buffers and sub-modules, filled by assignment
    state.py        copying values into Variables, all or nothing (load_state_dict's checks)
    seed_names.py   nimxla's names (variables, var_names, get_params, ...) as aliases
    summary.py      the table str(model) prints: layer, output shape, parameters
    module.py       Module: the tree, forward, train/eval, to, state_dict (torch's names)
    linear.py       Linear
    conv.py         Conv2d
    batchnorm.py    BatchNorm, Conv2dBatchNorm
    layers.py       dropout, Dropout, pooling, Flatten, activation modules
    containers.py   Sequential
    step_program.py one step recorded once and written out as a Program, cached per signature
    train_result.py TrainResult: pred, loss, outputs and grads of a compiled step
    compile.py      compile_train, compile_test: a model's step built once as a program
    embedding.py    Embedding
    layernorm.py    LayerNorm
    attention.py    MultiheadAttention, CausalSelfAttention
    transformer.py  TransformerBlock: attention and an MLP, each in a residual
    recurrent.py    GRUCell, LSTMCell
"""

from minigrad.nn.init import (
    InitFunc,
    constant_init,
    fans,
    glorot_init,
    he_init,
    init_random,
    new_variable,
    normal_init,
    uniform_init,
)
from minigrad.nn.module import LoadResult, Module
from minigrad.nn.summary import format_summary, summary_rows
from minigrad.nn.linear import Linear
from minigrad.nn.conv import Conv2d
from minigrad.nn.batchnorm import BatchNorm, Conv2dBatchNorm
from minigrad.nn.layers import (
    GELU,
    AvgPool2d,
    Dropout,
    Flatten,
    LeakyReLU,
    LogSoftmax,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    dropout,
)
from minigrad.nn.containers import Sequential
from minigrad.nn.train_result import TrainResult
from minigrad.nn.compile import compile_test, compile_train
from minigrad.nn.embedding import Embedding
from minigrad.nn.layernorm import LayerNorm
from minigrad.nn.attention import CausalSelfAttention, MultiheadAttention
from minigrad.nn.transformer import TransformerBlock
from minigrad.nn.recurrent import GRUCell, LSTMCell

__all__ = [
    "InitFunc",
    "constant_init",
    "fans",
    "glorot_init",
    "he_init",
    "init_random",
    "new_variable",
    "normal_init",
    "uniform_init",
    "LoadResult",
    "Module",
    "format_summary",
    "summary_rows",
    "Linear",
    "Conv2d",
    "BatchNorm",
    "Conv2dBatchNorm",
    "GELU",
    "AvgPool2d",
    "Dropout",
    "Flatten",
    "LeakyReLU",
    "LogSoftmax",
    "MaxPool2d",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "dropout",
    "Sequential",
    "TrainResult",
    "compile_test",
    "compile_train",
    "Embedding",
    "LayerNorm",
    "MultiheadAttention",
    "CausalSelfAttention",
    "TransformerBlock",
    "GRUCell",
    "LSTMCell",
]
