"""matplotlib helpers several lessons share: heatmaps that can be read, whole-number axes.

    heatmap(ax, matrix)      cells coloured and each value written in it, legible on any cell
    integer_ticks(ax)        ticks only at whole numbers (layers, epochs, steps)

A number written on a heatmap cell is black or white, whichever contrasts
more with that cell's colour (WCAG's contrast ratio of relative
luminances), so the counts of a confusion matrix stay readable on its
darkest cells.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator


def relative_luminance(rgb) -> float:
    """WCAG 2 relative luminance of an sRGB colour given as three numbers in [0, 1]."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: float, b: float) -> float:
    """WCAG contrast ratio of two relative luminances (1 to 21; 4.5 reads well)."""
    light, dark = max(a, b), min(a, b)
    return (light + 0.05) / (dark + 0.05)


def text_colour_on(rgb) -> str:
    """ "black" or "white": whichever is easier to read on a cell of colour ``rgb``."""
    cell = relative_luminance(rgb)
    return "black" if contrast(cell, 0.0) >= contrast(cell, 1.0) else "white"


def heatmap(ax, matrix, cmap: str = "viridis", fmt: str = "{:.2f}", skip_zeros: bool = False,
            colorbar: bool = False, fontsize: float = 9, **imshow):  # fmt: skip
    """Draw ``matrix`` as coloured cells with each value written in it; returns the image.

    ``fmt`` formats a value; ``skip_zeros`` leaves empty the cells that are 0
    (a confusion matrix's off-diagonal); ``colorbar`` adds a colour scale.
    Rows and columns get whole-number ticks.
    """
    values = np.asarray(matrix, dtype=float)
    if values.ndim == 1:
        values = values.reshape(1, -1)
    image = ax.imshow(values, cmap=cmap, **imshow)
    for (i, j), value in np.ndenumerate(values):
        if skip_zeros and value == 0:
            continue
        colour = text_colour_on(image.cmap(image.norm(value)))
        ax.text(j, i, fmt.format(value), ha="center", va="center", color=colour,
                fontsize=fontsize)  # fmt: skip
    rows, columns = values.shape
    for count, ticks in ((columns, ax.set_xticks), (rows, ax.set_yticks)):
        ticks(range(0, count, max(1, count // 10)))  # whole numbers: row and column indices
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    return image


def integer_ticks(ax, axis: str = "x") -> None:
    """Put ticks on whole numbers only, on ``axis`` "x", "y" or "both"."""
    for name in ("x", "y") if axis == "both" else (axis,):
        getattr(ax, f"{name}axis").set_major_locator(MaxNLocator(integer=True))
