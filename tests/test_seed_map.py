"""Every name on the two seed API pages has a row in docs/seed-map.md, and the
minigrad names that row gives exist.

The seed pages live in ../shared/seeds/ beside the repository (where CI keeps
them too).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import minigrad as mg

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
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
