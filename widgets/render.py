"""Turning DOT source into SVG, with or without a system Graphviz.

The ``graphviz`` Python package only writes DOT text; drawing it needs a
layout program. We look for one in this order:

1. ``dot`` from a system Graphviz (apt, brew, conda);
2. ``graphviz-pure`` from PyPI, a self-contained binary with the same flags,
   installed next to this Python (so it works in a kernel whose PATH does not
   include the virtual environment).

If neither is there, :func:`render_svg` raises :class:`GraphvizMissing`,
whose message says how to install one, and the widgets show that message in
the notebook instead of failing.
"""

from __future__ import annotations

import functools
import html
import os
import shutil
import subprocess
import sys


class GraphvizMissing(RuntimeError):
    """No layout program (``dot`` or ``graphviz-pure``) could be found."""


MISSING_HELP = (
    "Graphviz is not installed, so the graph cannot be drawn.\n"
    "help: `pip install graphviz-pure` (no system packages needed), or install "
    "Graphviz itself (`apt-get install graphviz`, `brew install graphviz`)"
)


@functools.lru_cache(maxsize=1)
def dot_binary() -> str | None:
    """The path of a program that lays out DOT: system ``dot``, else ``graphviz-pure``."""
    found = shutil.which("dot")
    if found:
        return found
    found = shutil.which("graphviz-pure")
    if found:
        return found
    beside_python = os.path.join(os.path.dirname(sys.executable), "graphviz-pure")
    if os.path.exists(beside_python):
        return beside_python
    return None


def use_available_layout() -> str | None:
    """Point the ``graphviz`` package at our layout program, so ``Digraph`` renders anywhere."""
    binary = dot_binary()
    if binary is not None and os.path.basename(binary) != "dot":
        import graphviz.backend.dot_command

        graphviz.backend.dot_command.DOT_BINARY = binary
    return binary


def render_svg(source: str, timeout: float = 60.0) -> str:
    """SVG text for DOT ``source``; raises :class:`GraphvizMissing` without a layout program."""
    binary = dot_binary()
    if binary is None:
        raise GraphvizMissing(MISSING_HELP)
    result = subprocess.run(
        [binary, "-Tsvg"], input=source.encode(), capture_output=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{os.path.basename(binary)} could not lay out the graph: "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    svg = result.stdout.decode()
    # Keep only the <svg> element: the XML prologue and DOCTYPE are not
    # allowed inside an HTML page, where the widgets place the drawing.
    return svg[svg.find("<svg") :]


def missing_html(message: str = MISSING_HELP) -> str:
    """The notice a widget shows in place of a graph it cannot draw."""
    lines = html.escape(message).replace("\n", "<br>")
    return (
        '<div class="mg-graphviz-missing" style="border:1px solid #c60;padding:8px;'
        f'background:#fff6e8;color:#630">{lines}</div>'
    )
