"""The core reads bottom-up (each file imports only the ones before it); its surface is explicit.

The reading order is the one ``minigrad/__init__.py`` (and any subpackage
that makes the same claim) states in its docstring. The imports are read
from the source (the AST, function-level imports included), not from what
Python happened to load, so a late ``from minigrad.x import y`` inside a
function counts as much as one at the top of a file.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import minigrad as mg

PACKAGE = Path(mg.__file__).resolve().parent
CLAIM = "each file imports only the ones before it"


def module_name(path: Path) -> str:
    """``minigrad.nn.linear`` for minigrad/nn/linear.py, ``minigrad.nn`` for its __init__."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def package_of(path: Path) -> str:
    """The package a file's relative imports start from."""
    return module_name(path) if path.name == "__init__.py" else module_name(path.parent)


def imported_modules(source: str, package: str) -> set[str]:
    """The minigrad modules some source imports anywhere in it (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # a relative import: resolve it against the package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            submodules = {f"{base}.{a.name}" for a in node.names} & set(MODULES)
            found |= submodules  # `from minigrad import ops` imports minigrad.ops
            if len(submodules) < len(node.names):  # and names defined in base itself
                found.add(base)
    return found & set(MODULES)


GRAPH = {
    name: imported_modules(path.read_text(), package_of(path)) - {name}
    for name, path in MODULES.items()
}


def stated_order(package: str) -> list[str] | None:
    """The units a package's docstring lists after CLAIM, in order, or None if it makes no claim.

    A unit is a file (``tape.py`` -> ``tape``) or a subpackage (``ops/`` -> ``ops``).
    """
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text())) or ""
    if CLAIM not in doc:
        return None
    block = doc.split(CLAIM, 1)[1].split("\n\n", 2)[1]  # the indented list after the claim
    return [
        m.group(1)
        for line in block.splitlines()
        if (m := re.match(r"\s*([A-Za-z_]\w*)(?:\.py|/)\s", line + " "))
    ]


def unit_of(module: str, package: str) -> str | None:
    """The unit of ``package`` that ``module`` belongs to (None outside the package)."""
    prefix = package + "."
    if not module.startswith(prefix):
        return None
    return module[len(prefix) :].split(".")[0]


def claiming_packages() -> list[str]:
    return [p for p, path in MODULES.items() if path.name == "__init__.py" and stated_order(p)]


def test_minigrad_and_nn_claim_a_reading_order():
    assert "minigrad" in claiming_packages()
    assert stated_order("minigrad")[:4] == ["errors", "grad_mode", "tape", "variable"]


@pytest.mark.parametrize("package", claiming_packages())
def test_every_file_of_the_core_has_a_place_in_the_reading_order(package):
    order = stated_order(package)
    units = {unit_of(m, package) for m in MODULES if unit_of(m, package)} - {"__main__"}
    if package == "minigrad":  # the core's order must be complete
        assert sorted(units - set(order)) == [], f"{package}'s docstring does not place these"
    assert sorted(set(order) - units) == [], f"{package}'s docstring names files that do not exist"


@pytest.mark.parametrize("package", claiming_packages())
def test_imports_point_only_down_the_reading_order(package):
    order = stated_order(package)
    rank = {unit: i for i, unit in enumerate(order)}
    upward = []
    for module, targets in GRAPH.items():
        here = unit_of(module, package)
        if here not in rank:
            continue  # the package's own __init__, __main__, or a file it does not list
        for target in targets:
            there = unit_of(target, package)
            if target == package or (there in rank and rank[there] > rank[here]):
                upward.append(f"{module} imports {target}")
    assert upward == [], f"imports that point up {package}'s reading order: {upward}"


def test_no_module_of_minigrad_is_part_of_an_import_cycle():
    # Edges from a package's __init__ to its own files are how it collects
    # them; a cycle through one would need a file to import its package.
    cycles = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_layering_check_catches_an_upward_and_a_cyclic_import(monkeypatch):
    """Plant both faults in the graph: the two checks above must see them."""
    planted = {name: set(targets) for name, targets in GRAPH.items()}
    planted["minigrad.tape"].add("minigrad.variable")  # the import variable.py's methods once had
    monkeypatch.setattr(sys.modules[__name__], "GRAPH", planted)
    with pytest.raises(AssertionError, match="minigrad.tape imports minigrad.variable"):
        test_imports_point_only_down_the_reading_order("minigrad")
    with pytest.raises(AssertionError, match="minigrad.tape"):
        test_no_module_of_minigrad_is_part_of_an_import_cycle()


def test_function_level_imports_are_read_too():
    source = (
        "import torch\n\ndef f():\n    from minigrad.inspect import records\n    return records\n"
    )
    assert imported_modules(source, "minigrad") == {"minigrad.inspect"}
    assert imported_modules("from minigrad import ops, tensor", "minigrad") == {
        "minigrad.ops",
        "minigrad",
    }


# -- the public surface ------------------------------------------------------------

SUBPACKAGES = {"nn", "optim", "distributed", "data", "training", "checkpoint"}


def test_every_name_in_all_exists_and_only_the_libraries_are_modules():
    assert len(mg.__all__) == len(set(mg.__all__)), "a name is listed twice"
    missing = [name for name in mg.__all__ if not hasattr(mg, name)]
    assert missing == []
    modules = {name for name in mg.__all__ if isinstance(getattr(mg, name), types.ModuleType)}
    assert modules == SUBPACKAGES


@pytest.mark.parametrize("name", ["shape", "conv", "broadcast", "arithmetic", "reductions"])
def test_the_files_of_ops_are_not_names_of_minigrad(name):
    assert not isinstance(getattr(mg, name, None), types.ModuleType)
    assert name not in mg.__all__


def test_star_import_gives_exactly_all_and_the_learners_names():
    namespace: dict = {}
    exec("from minigrad import *", namespace)
    names = set(namespace) - {"__builtins__"}
    assert names == set(mg.__all__)
    for name in ("Context", "Variable", "tensor", "no_grad", "backprop", "relu", "ReLU"):
        assert name in names
    assert "GradMode" not in names and "ops" not in names


def test_the_core_imports_in_any_order():
    """Each file can be the first one imported (the binding in methods.py is always done)."""
    code = (
        "import importlib, sys\n"
        "m = importlib.import_module(sys.argv[1])\n"
        "import minigrad as mg\n"
        "x = mg.tensor([1.0, 2.0], requires_grad=True)\n"
        "(x * x).sum().backward()\n"
        "assert x.grad.tolist() == [2.0, 4.0]\n"
    )
    for module in ("minigrad.variable", "minigrad.tape", "minigrad.trace", "minigrad.nn"):
        result = subprocess.run(
            [sys.executable, "-c", code, module], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
