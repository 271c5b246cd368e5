"""Sequential: modules applied one after another."""

from __future__ import annotations

from collections import OrderedDict

from minigrad.nn.module import Module


class Sequential(Module):
    """``Sequential(a, b, c)(x) == c(b(a(x)))``; children are named "0", "1", ...

    An ``OrderedDict`` of name -> module names them instead::

        Sequential(OrderedDict(fc1=Linear(4, 8), act=ReLU(), fc2=Linear(8, 2)))
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, module in modules[0].items():
                self.register_module(name, module)
        else:
            for module in modules:
                self.append(module)

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end, named by its position."""
        self.register_module(str(len(self._modules)), module)
        return self

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]
