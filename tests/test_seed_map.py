"""Every name on the two seed API pages has a row in docs/seed-map.md, and the
minigrad names that row gives exist.

The seed pages live in ../shared/seeds/ beside the repository (where CI keeps
them too); MINIGRAD_SEEDS names another folder (a git worktree lives elsewhere).

nimxla's own names are aliases gathered in minigrad/nn/seed_names.py: every
one of them is listed in the map, and no other class of the core defines one.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import pytest

import minigrad as mg
import minigrad.nn.seed_names as aliases

ROOT = Path(__file__).resolve().parents[1]
SEEDS = Path(os.environ.get("MINIGRAD_SEEDS", ROOT.parent / "shared" / "seeds"))
SEED_MAP = (ROOT / "docs" / "seed-map.md").read_text()


def seed_names(page: str) -> set[str]:
    """Types, procs, funcs, methods and templates declared on a seed page."""
    text = (SEEDS / page).read_text()
    names = set(re.findall(r"^(?:proc|func|method|template) ([A-Za-z_]\w*)", text, re.M))
    names |= set(re.findall(r"(?:^|Source Edit )([A-Z]\w*)(?:\[TT\])? = ", text, re.M))
    return names - {"`"}


@pytest.mark.parametrize("page", ["nimxla-nn-api.txt", "arraymancer-autograd-api.txt"])
def test_every_seed_name_has_a_row(page):
    if not SEEDS.is_dir():
        pytest.fail(f"the seed pages are missing: expected them in {SEEDS}")
    names = seed_names(page)
    assert len(names) > 10, names  # the parser found the page's declarations
    table_cells = set(re.findall(r"^\| `([^`(\[]+)", SEED_MAP, re.M))
    missing = sorted(n for n in names if n not in table_cells)
    assert not missing, f"docs/seed-map.md has no row for {missing}"


def test_every_minigrad_name_in_the_map_exists():
    rows = re.findall(r"^\|[^|]+\| ([^|]+)\|", SEED_MAP, re.M)
    dotted = set()
    for cell in rows:
        dotted |= set(re.findall(r"`((?:mg|nn)(?:\.\w+)+)", cell))
    assert len(dotted) > 20, dotted
    for name in sorted(dotted):
        target = mg if name.startswith("mg.") else mg.nn
        for part in name.split(".")[1:]:
            assert hasattr(target, part), f"{name} in docs/seed-map.md does not exist"
            target = getattr(target, part)


MIXINS = {
    "model": (aliases.ModuleSeedNames, [mg.nn.Module, mg.nn.registry.Registry]),
    "opt": (aliases.OptimizerSeedNames, [mg.optim.Optimizer, mg.optim.SGD, mg.optim.Adam]),
    "sched": (aliases.SchedulerSeedNames, [mg.optim.Scheduler, mg.optim.StepLR]),
}


def alias_names(mixin) -> list[str]:
    return [name for name in vars(mixin) if not name.startswith("_")]


@pytest.mark.parametrize("owner", list(MIXINS))
def test_every_alias_is_in_the_map_and_defined_only_in_seed_names(owner):
    mixin, classes = MIXINS[owner]
    names = alias_names(mixin)
    assert len(names) >= (10 if owner == "model" else 1), names
    table = SEED_MAP.split("## Where the seed's names live")[1].split("\n## ")[0]
    for name in names:
        assert f"`{owner}.{name}" in table, f"{owner}.{name} is not listed in docs/seed-map.md"
        for cls in classes:  # the torch-style classes only inherit it
            assert name not in vars(cls), f"{cls.__name__} defines the seed name {name!r} itself"
    # every alias works on a real object (the nn, optim and scheduler tests check the values)
    model = mg.nn.Sequential(mg.nn.Linear(2, 3))
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    target = {"model": model, "opt": opt, "sched": mg.optim.StepLR(opt, 2)}[owner]
    for name in names:
        assert getattr(type(target), name) is vars(mixin)[name]


def test_the_core_files_speak_torch_names_only():
    """module.py, optimizer.py and scheduler.py never call a seed alias (they are on top)."""
    import minigrad.nn.module
    import minigrad.optim.optimizer
    import minigrad.optim.scheduler

    generic = {"add", "update"}  # also methods of Python's set and dict
    aliases = [n for mixin, _ in MIXINS.values() for n in alias_names(mixin) if n not in generic]
    for module in (minigrad.nn.module, minigrad.optim.optimizer, minigrad.optim.scheduler):
        source = inspect.getsource(module)
        used = sorted(n for n in aliases if re.search(rf"\.{n}\b", source))
        assert not used, f"{module.__name__} uses the seed names {used}"
