"""Static forms of the widgets: PNG/SVG that an exported notebook can still show.

A live widget needs a running kernel; a notebook exported to HTML or viewed
on GitHub has none. Each widget therefore adds a picture of its current
state to its display data, next to the widget itself. Jupyter shows the
widget when it can and falls back to the picture when it cannot.
"""

from __future__ import annotations

import base64
import io

from matplotlib.figure import Figure


def new_figure(width: float = 6.4, height: float = 3.2, dpi: int = 80) -> Figure:
    """A matplotlib Figure that is not registered with pyplot (no global state, no leaks)."""
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def figure_svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.find("<svg") :]


class StaticForm:
    """Mixin for an ipywidgets container: adds ``to_png()`` / ``to_svg()`` to its display data."""

    static_mime = "image/png"

    def to_png(self) -> bytes:
        raise NotImplementedError

    def to_svg(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        try:
            if self.static_mime == "image/png":
                bundle["image/png"] = base64.b64encode(self.to_png()).decode()
            else:
                bundle["image/svg+xml"] = self.to_svg()
        except Exception as error:  # a picture is a bonus: never lose the widget over it
            bundle.setdefault("text/plain", f"{type(self).__name__} (no static form: {error})")
        return bundle
