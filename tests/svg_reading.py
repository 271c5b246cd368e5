"""Reading a widgets.svg_chart picture back: what a learner would see, as numbers.

A curve's points are pixel positions; the ticks say which value sits where
(each tick's text and position). From two ticks of an axis we get the
pixel -> value map (linear, or linear in log10 on a log axis), and turn every
drawn point back into the value it shows. A heatmap's cells are read from
its PNG's pixels and compared with the colour map.
"""

from __future__ import annotations

import base64
import io
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def panels(svg: str) -> dict[str, ET.Element]:
    """The chart's panels by title."""
    root = parse(svg)
    return {g.get("data-title"): g for g in root.iter(f"{SVG}g") if g.get("class") == "mg-panel"}


def texts(panel: ET.Element, css: str) -> list[ET.Element]:
    return [t for t in panel.iter(f"{SVG}text") if t.get("class") == css]


def tick_label_values(panel: ET.Element, css: str) -> list[float]:
    return [float(t.get("data-value")) for t in texts(panel, css)]


def axis_map(panel: ET.Element, css: str, log: bool):
    """pixel -> value along one axis, from the first and last tick of class ``css``."""
    ticks = texts(panel, css)
    assert len(ticks) >= 2, f"an axis needs two ticks to be read, found {len(ticks)}"
    coord = "x" if css == "mg-xtick" else "y"
    shift = 0.0 if coord == "x" else -4.0  # a y label sits 4 units below its tick
    (p0, v0), (p1, v1) = [(float(t.get(coord)) + shift, float(t.get("data-value")))
                          for t in (ticks[0], ticks[-1])]  # fmt: skip
    if log:
        v0, v1 = math.log10(v0), math.log10(v1)

    def value(pixel: float) -> float:
        v = v0 + (pixel - p0) * (v1 - v0) / (p1 - p0)
        return 10**v if log else v

    return value


def curves(panel: ET.Element, log_y: bool = False) -> dict[str, tuple[list[float], list[float]]]:
    """Each drawn curve of a line panel: {label: (x values, y values)}, read from the pixels."""
    to_x = axis_map(panel, "mg-xtick", log=False)
    to_y = axis_map(panel, "mg-ytick", log=log_y)
    out: dict[str, tuple[list, list]] = {}
    for line in panel.iter(f"{SVG}polyline"):
        if line.get("class") != "mg-series":
            continue
        xs, ys = out.setdefault(line.get("data-label"), ([], []))
        for pair in line.get("points").split():
            px, py = (float(v) for v in pair.split(","))
            xs.append(to_x(px))
            ys.append(to_y(py))
    return out


def title(panel: ET.Element) -> str:
    return texts(panel, "mg-title")[0].text


def bars(panel: ET.Element, log_y: bool = True) -> dict[str, float]:
    """A bar panel's bars: {label: the value its top shows}."""
    to_y = axis_map(panel, "mg-ytick", log=log_y)
    return {
        rect.get("data-label"): to_y(float(rect.get("y")))
        for rect in panel.iter(f"{SVG}rect")
        if rect.get("class") == "mg-bar"
    }


def png_pixels(element: ET.Element) -> np.ndarray:
    """The RGBA pixels of an ``<image>`` whose href is a PNG data URI."""
    href = element.get("href")
    data = base64.b64decode(re.sub("^data:image/png;base64,", "", href))
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def heatmap(panel: ET.Element) -> np.ndarray:
    images = [i for i in panel.iter(f"{SVG}image") if i.get("class") == "mg-heatmap"]
    assert len(images) == 1
    return png_pixels(images[0])


def colorbar_range(panel: ET.Element) -> tuple[float, float]:
    values = tick_label_values(panel, "mg-ctick")
    return min(values), max(values)


def row_labels(panel: ET.Element) -> list[str]:
    return [t.text for t in texts(panel, "mg-ytick")]


def viewbox(svg: str) -> tuple[float, float]:
    _, _, w, h = (float(v) for v in parse(svg).get("viewBox").split())
    return w, h


def extent(svg: str) -> tuple[float, float, float, float]:
    """The smallest box holding every text's anchor point: (min x, min y, max x, max y)."""
    xs, ys = [], []
    for t in parse(svg).iter(f"{SVG}text"):
        xs.append(float(t.get("x")))
        ys.append(float(t.get("y")))
    return min(xs), min(ys), max(xs), max(ys)
