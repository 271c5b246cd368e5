"""Neural-network modules, initialisers and layers, built on minigrad Variables.

Reading order (each file imports only the ones before it):

    init.py         initialisers (shape, dtype, generator) -> tensor, fans, init_random
    module.py       Module: variables, outputs, forward, train/eval, state_dict
    summary.py      the table str(model) prints: layer, output shape, parameters
    linear.py       Linear
    conv.py         Conv2d
    batchnorm.py    BatchNorm, Conv2dBatchNorm
    layers.py       dropout, Dropout, pooling, Flatten, activation modules
    containers.py   Sequential
    compile.py      compile_train, compile_test
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
from minigrad.nn.compile import TrainResult, compile_test, compile_train

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
]
