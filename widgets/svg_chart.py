"""Small SVG charts drawn in Python: lines, bars and heatmaps for the training widgets.

Why not a matplotlib figure: drawing one takes 50-300 ms here, so a plot
redrawn while a model trains would cost more than the training itself. A
chart below is a few string joins (about a millisecond). It scales to the
width of the output (``viewBox`` and ``width="100%"``), so nothing is cut
off, and the very same text is the widget's static form (``image/svg+xml``).
matplotlib still chooses the ticks (:mod:`matplotlib.ticker`) and the colours
(its colormaps), so the charts read like matplotlib's.

A chart is a list of panels laid side by side::

    svg = chart([line_panel("loss", [Series("loss", steps, losses)], log_y=True)])

Every drawn element carries a class (``mg-series``, ``mg-xtick``, ``mg-ytick``,
``mg-bar``, ``mg-heatmap``, ``mg-colorbar``) and each tick its value
(``data-value``), so a test can read the picture back: a point's position
between two ticks gives the value drawn there.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.ticker import LogLocator, MaxNLocator
from PIL import Image

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'
MAX_POINTS = 1500  # a polyline longer than this is thinned (every k-th point and the last)
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _text(x, y, text, size=11, anchor="middle", css="", extra="") -> str:
    cls = f' class="{css}"' if css else ""
    return (
        f'<text x="{x:.2f}" y="{y:.2f}" font-size="{size}" text-anchor="{anchor}"{cls}{extra}>'
        f"{html.escape(str(text))}</text>"
    )


def _line(x1, y1, x2, y2, stroke="#333") -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"/>'


def format_number(value: float, log: bool = False) -> str:
    """A tick label: ``10⁻³`` for a power of ten on a log axis, else a short decimal."""
    if log and value > 0:
        exponent = math.log10(value)
        if abs(exponent - round(exponent)) < 1e-9:
            return "10" + str(int(round(exponent))).translate(SUPERSCRIPT)
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{value:.4g}"


class Scale:
    """Data to pixels along one axis, linear or logarithmic; ``lo`` maps to ``start``."""

    def __init__(self, lo: float, hi: float, start: float, end: float, log: bool = False):
        if log:
            lo, hi = max(lo, 1e-300), max(hi, 1e-300)
        if not hi > lo:  # one value only: give it some room
            lo, hi = (lo / 2, lo * 2) if log else (lo - 1, hi + 1)
        self.lo, self.hi, self.start, self.end, self.log = lo, hi, start, end, log

    def _unit(self, value):
        if self.log:
            return (np.log10(value) - math.log10(self.lo)) / (
                math.log10(self.hi) - math.log10(self.lo)
            )
        return (value - self.lo) / (self.hi - self.lo)

    def __call__(self, value):
        """The pixel of a value (or a numpy array of pixels for an array of values)."""
        return self.start + (self.end - self.start) * self._unit(value)

    def _inside(self, values) -> list[float]:
        slack = 1e-9 * (self.hi - self.lo)
        return [float(v) for v in values if self.lo - slack <= v <= self.hi + slack]

    def ticks(self, count: int = 5, integer: bool = False) -> list[float]:
        """Tick values inside the range, as matplotlib's locators would place them."""
        if self.log:
            for subs in ((1.0,), (1.0, 2.0, 5.0), tuple(range(1, 10))):
                locator = LogLocator(subs=subs, numticks=count + 2)
                found = self._inside(locator.tick_values(self.lo, self.hi))
                if len(found) >= 2:
                    return found[:: max(1, math.ceil(len(found) / (count + 1)))]
        return self._inside(MaxNLocator(nbins=count, integer=integer).tick_values(self.lo, self.hi))


def padded(values, log: bool = False, margin: float = 0.05) -> tuple[float, float]:
    """The range of the finite (and, on a log axis, positive) values, widened by ``margin``."""
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a) & ((a > 0) if log else True)]
    if not a.size:
        return (1e-3, 1.0) if log else (0.0, 1.0)
    lo, hi = float(a.min()), float(a.max())
    if log:
        span = math.log10(hi) - math.log10(lo)
        return lo / 10 ** (margin * span), hi * 10 ** (margin * span)
    span = hi - lo
    return lo - margin * span, hi + margin * span


@dataclass
class Series:
    """One curve: ``label``, x and y values; ``step`` draws it as a staircase (held values)."""

    label: str
    xs: list
    ys: list
    colour: str | None = None
    dashed: bool = False
    markers: bool = False
    step: bool = False


@dataclass
class Box:
    """A panel's place in the chart: left, top, width, height (in viewBox units)."""

    x: float
    y: float
    w: float
    h: float


@dataclass
class Panel:
    """Something drawn into a Box: a callable ``draw(box) -> svg text`` and its relative width."""

    draw: object
    width: float = 1.0


def _is_power_of_ten(value: float) -> bool:
    return value > 0 and abs(math.log10(value) - round(math.log10(value))) < 1e-9


def labelled_ticks(scale: Scale, integer: bool = False) -> list[tuple[float, float, str]]:
    """``(value, pixel, label)`` per tick; a log axis says 10ⁿ when every tick is a power of 10."""
    ticks = scale.ticks(5, integer=integer)
    powers = scale.log and all(_is_power_of_ten(v) for v in ticks)
    return [(v, scale(v), format_number(v, powers)) for v in ticks]


def _axes(box, title, xscale, yscale, xlabel, ylabel, integer_x, integer_y=False) -> list[str]:
    """Frame, ticks, tick labels, title and axis labels of one plotting area."""
    x0, x1 = sorted((xscale.start, xscale.end))
    y0, y1 = sorted((yscale.start, yscale.end))  # top, bottom
    out = [
        f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
        'fill="white" stroke="#333" stroke-width="1"/>'
    ]
    for value, x, label in labelled_ticks(xscale, integer_x):
        out.append(_line(x, y1, x, y1 + 4))
        out.append(_text(x, y1 + 15, label, css="mg-xtick", extra=f' data-value="{value!r}"'))
    for value, y, label in labelled_ticks(yscale, integer_y):
        out.append(_line(x0 - 4, y, x0, y) + _line(x0, y, x1, y, "#eee"))
        out.append(_text(x0 - 6, y + 4, label, anchor="end", css="mg-ytick",
                         extra=f' data-value="{value!r}"'))  # fmt: skip
    out.append(_text((x0 + x1) / 2, box.y + 14, title, size=12, css="mg-title"))
    if xlabel:
        out.append(_text((x0 + x1) / 2, box.y + box.h - 4, xlabel, css="mg-xlabel"))
    if ylabel:
        cy = (y0 + y1) / 2
        out.append(
            f'<text x="{box.x + 12:.1f}" y="{cy:.1f}" font-size="11" text-anchor="middle" '
            f'class="mg-ylabel" transform="rotate(-90 {box.x + 12:.1f} {cy:.1f})">'
            f"{html.escape(ylabel)}</text>"
        )
    return out


def _polyline(xs: np.ndarray, ys: np.ndarray, colour, dashed, label) -> str:
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    coords = " ".join(map("{:.2f},{:.2f}".format, xs.tolist(), ys.tolist()))
    return (
        f'<polyline class="mg-series" data-label="{html.escape(label)}" points="{coords}" '
        f'fill="none" stroke="{colour}" stroke-width="1.6"{dash}/>'
    )


def _thin(xs, ys):
    if len(xs) <= MAX_POINTS:
        return list(xs), list(ys)
    k = math.ceil(len(xs) / MAX_POINTS)
    keep = list(range(0, len(xs), k))
    if keep[-1] != len(xs) - 1:
        keep.append(len(xs) - 1)
    return [xs[i] for i in keep], [ys[i] for i in keep]


def _legend(series: list[Series], right: float, y: float) -> list[str]:
    """Labels in a row above the plotting area (never over the data), ending at ``right``."""
    out, x = [], right
    for s in reversed(series):
        width = 7 * len(s.label) + 26
        x -= width
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        out.append(f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 18:.1f}" y2="{y - 4:.1f}" '
                   f'stroke="{s.colour}" stroke-width="2"{dash}/>')  # fmt: skip
        out.append(_text(x + 22, y, s.label, size=10, anchor="start", css="mg-legend"))
    return out


def line_panel(
    title: str,
    series: list[Series],
    xlabel: str = "step",
    ylabel: str = "",
    log_y: bool = False,
    integer_x: bool = True,
    width: float = 1.0,
) -> Panel:
    """Curves against x (integer ticks by default: steps and epochs are whole numbers)."""
    for k, s in enumerate(series):
        s.colour = s.colour or COLOURS[k % len(COLOURS)]
        if len(s.xs) != len(s.ys):
            raise ValueError(
                f"line_panel: curve {s.label!r} has {len(s.xs)} x values and {len(s.ys)} y values"
                "\nhelp: give one y per x"
            )

    def draw(box: Box) -> str:
        all_x = [x for s in series for x in s.xs]
        all_y = [y for s in series for y in s.ys]
        left = box.x + (62 if ylabel else 48)
        top = box.y + (40 if len(series) > 1 else 24)
        bottom = box.y + box.h - (34 if xlabel else 22)
        xlo, xhi = padded(all_x, margin=0.02)
        ylo, yhi = padded(all_y, log=log_y)
        xs = Scale(xlo, xhi, left, box.x + box.w - 8)
        ys = Scale(ylo, yhi, bottom, top, log=log_y)
        out = _axes(box, title, xs, ys, xlabel, ylabel, integer_x)
        for s in series:
            px, py = _thin(s.xs, s.ys)
            if s.step:  # the value holds until the next x
                px = [v for a, b in zip(px, px[1:] + [px[-1] + 1]) for v in (a, b)] if px else []
                py = [v for v in py for _ in (0, 1)]
            px, py = np.asarray(px, dtype=float), np.asarray(py, dtype=float)
            shown = np.isfinite(py) & ((py > 0) if log_y else True)  # a gap where not
            to_x, to_y = xs(px), ys(np.where(shown, py, ys.hi))
            for run in np.split(np.arange(len(px)), np.flatnonzero(~shown)):
                run = run[shown[run]]
                if run.size:
                    out.append(_polyline(to_x[run], to_y[run], s.colour, s.dashed, s.label))
            if s.markers or len(px) == 1:
                for x, y in zip(to_x[shown].tolist(), to_y[shown].tolist()):
                    out.append(f'<circle cx="{x:.2f}" cy="{y:.2f}" r="2.5" fill="{s.colour}" '
                               'class="mg-marker"/>')  # fmt: skip
        if len(series) > 1:
            out.extend(_legend(series, box.x + box.w - 8, box.y + 32))
        return f'<g class="mg-panel" data-title="{html.escape(title)}">{"".join(out)}</g>'

    return Panel(draw, width)


def bar_panel(
    title: str, labels: list[str], values: list[float], colours: list[str], log_y: bool = True,
    width: float = 1.0,
) -> Panel:  # fmt: skip
    """One bar per label, the labels turned under the axis; on a log axis, only positive bars."""

    def draw(box: Box) -> str:
        longest = max((len(label) for label in labels), default=1)
        bottom = box.y + box.h - min(110, 12 + 5.2 * longest)
        left, right, top = box.x + 48, box.x + box.w - 8, box.y + 24
        shown = [v for v in values if math.isfinite(v) and (v > 0 or not log_y)]
        lo, hi = padded(shown + ([] if log_y else [0.0]), log=log_y)
        ys = Scale(lo, hi, bottom, top, log=log_y)
        xs = Scale(-0.5, len(values) - 0.5, left, right)
        out = _axes(box, title, _NoTicks(xs), ys, "", "", True)
        slot = (right - left) / max(len(values), 1)
        base = ys(lo)
        for i, (label, value, colour) in enumerate(zip(labels, values, colours)):
            cx = xs(i)
            if math.isfinite(value) and (value > 0 or not log_y):
                top_y = ys(value)
                out.append(f'<rect class="mg-bar" data-label="{html.escape(label)}" '
                           f'x="{cx - 0.35 * slot:.2f}" y="{top_y:.2f}" width="{0.7 * slot:.2f}" '
                           f'height="{base - top_y:.2f}" fill="{colour}"/>')  # fmt: skip
            out.append(
                f'<text x="{cx:.1f}" y="{bottom + 10:.1f}" font-size="10" text-anchor="end" '
                f'class="mg-xtick" transform="rotate(-50 {cx:.1f} {bottom + 10:.1f})">'
                f"{html.escape(label)}</text>"
            )
        return f'<g class="mg-panel" data-title="{html.escape(title)}">{"".join(out)}</g>'

    return Panel(draw, width)


class _NoTicks:
    """An x axis whose labels the panel writes itself (bar names)."""

    def __init__(self, scale: Scale):
        self.start, self.end, self.log = scale.start, scale.end, False

    def ticks(self, *_, **__) -> list:
        return []


def colour_of(unit: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """RGBA bytes for values in [0, 1] (NaN: light grey), from a matplotlib colormap."""
    rgba = (colormaps[cmap](np.nan_to_num(unit, nan=0.0)) * 255).round().astype(np.uint8)
    rgba[np.isnan(unit)] = (235, 235, 235, 255)
    return rgba


def png_data_uri(rgba: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def heatmap_panel(
    title: str,
    matrix: np.ndarray,
    row_labels: list[str],
    xlabel: str = "step",
    log: bool = True,
    cmap: str = "viridis",
    limits: tuple[float, float] | None = None,
    x_values: list | None = None,
    width: float = 1.0,
) -> Panel:
    """``matrix`` (rows by columns) as coloured cells with a colour bar; NaN cells are grey.

    The colours are one PNG pixel per cell, stretched and not smoothed, so a
    10,000-step heatmap costs what a 10-step one does. ``x_values`` are the
    columns' x positions (default 1, 2, ...), labelled with integer ticks.
    """
    data = np.asarray(matrix, dtype=float)

    def draw(box: Box) -> str:
        rows, cols = data.shape if data.ndim == 2 else (0, 0)
        longest = max((len(label) for label in row_labels), default=1)
        left = box.x + min(140, 12 + 6.2 * longest)
        right = box.x + box.w - 78  # room for the colour bar and its numbers
        top, bottom = box.y + 24, box.y + box.h - 34
        xs_values = list(x_values) if x_values is not None else list(range(1, cols + 1))
        first, last = (xs_values[0], xs_values[-1]) if xs_values else (0, 1)
        xs = Scale(first - 0.5, last + 0.5, left, right)
        ys = Scale(-0.5, max(rows, 1) - 0.5, top, bottom)
        out = _axes(box, title, xs, _NoTicks(ys), xlabel, "", True)
        finite = data[np.isfinite(data) & ((data > 0) if log else True)]
        if limits is not None:
            lo, hi = limits
        elif finite.size:
            lo, hi = float(finite.min()), float(finite.max())
        else:
            lo, hi = (1e-3, 1.0) if log else (0.0, 1.0)
        scale = Scale(lo, hi, 0.0, 1.0, log=log)
        if rows and cols:
            valid = np.isfinite(data) & ((data > 0) if log else True)
            safe = np.where(valid, data, scale.lo)
            unit = (np.log10(safe) - math.log10(scale.lo)) / (
                math.log10(scale.hi) - math.log10(scale.lo)
            ) if log else (safe - scale.lo) / (scale.hi - scale.lo)  # fmt: skip
            unit = np.where(valid, np.clip(unit, 0.0, 1.0), np.nan)
            out.append(
                f'<image class="mg-heatmap" x="{left:.1f}" y="{top:.1f}" '
                f'width="{right - left:.1f}" height="{bottom - top:.1f}" '
                f'preserveAspectRatio="none" style="image-rendering:pixelated" '
                f'href="{png_data_uri(colour_of(unit, cmap))}"/>'
            )
        for j, label in enumerate(row_labels):
            out.append(_text(left - 5, ys(j) + 4, label, size=10, anchor="end", css="mg-ytick"))
        out.append(_colorbar(scale, right + 10, top, bottom, cmap))
        return f'<g class="mg-panel" data-title="{html.escape(title)}">{"".join(out)}</g>'

    return Panel(draw, width)


def _colorbar(scale: Scale, x: float, top: float, bottom: float, cmap: str) -> str:
    strip = colour_of(np.linspace(1.0, 0.0, 64).reshape(-1, 1), cmap)
    bar = Scale(scale.lo, scale.hi, bottom, top, log=scale.log)
    out = [
        f'<image class="mg-colorbar" x="{x:.1f}" y="{top:.1f}" width="12" '
        f'height="{bottom - top:.1f}" preserveAspectRatio="none" href="{png_data_uri(strip)}"/>',
        f'<rect x="{x:.1f}" y="{top:.1f}" width="12" height="{bottom - top:.1f}" fill="none" '
        'stroke="#333"/>',
    ]
    for value, y, label in labelled_ticks(bar):
        out.append(_line(x + 12, y, x + 16, y))
        out.append(_text(x + 18, y + 4, label, size=10, anchor="start",
                         css="mg-ctick", extra=f' data-value="{value!r}"'))  # fmt: skip
    return "".join(out)


def chart(
    panels: list[Panel],
    width: float = 1000,
    height: float = 280,
    css: str = "",
    fluid: bool = True,
    vertical: bool = False,
) -> str:
    """The panels side by side (or one above the other: ``vertical``) in one SVG.

    Each panel's ``width`` is its share of the chart along that direction.
    ``fluid`` (for a page: the live widget) fills the output's width, up to
    ``width`` pixels; otherwise (a static image file) the SVG has a fixed size.
    """
    total = sum(p.width for p in panels) or 1.0
    parts, offset = [], 0.0
    for panel in panels:
        if vertical:
            h = height * panel.width / total
            parts.append(panel.draw(Box(0, offset, width, h)))
            offset += h
        else:
            w = width * panel.width / total
            parts.append(panel.draw(Box(offset, 0, w, height)))
            offset += w
    cls = f' class="{css}"' if css else ""
    size = (
        f'width="100%" style="max-width:{width:.0f}px;height:auto"'
        if fluid
        else f'width="{width:.0f}" height="{height:.0f}"'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg"{cls} viewBox="0 0 {width:.0f} {height:.0f}" '
        f"{size} {FONT}>"
        f'<rect width="100%" height="100%" fill="white"/>{"".join(parts)}</svg>'
    )
